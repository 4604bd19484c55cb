"""Python clients for switchyard.v1.Predict: sync and asyncio, numpy in and out, over TLS with a token when asked."""

from clients.aio_client import AsyncSwitchyardClient
from clients.errors import PredictError
from clients.security import TlsConfig
from clients.sync_client import SwitchyardClient
from clients.video import AsyncVideoClient, Frame, FrameResult, VideoClient
from protos import __version__ as __version__

__all__ = [
    "AsyncSwitchyardClient",
    "AsyncVideoClient",
    "Frame",
    "FrameResult",
    "PredictError",
    "SwitchyardClient",
    "TlsConfig",
    "VideoClient",
]
