"""Python clients for switchyard.v1.Predict: sync and asyncio, numpy in and out."""

from clients.aio_client import AsyncSwitchyardClient
from clients.errors import PredictError
from clients.sync_client import SwitchyardClient

__all__ = ["AsyncSwitchyardClient", "PredictError", "SwitchyardClient"]
