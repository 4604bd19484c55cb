"""The channel every client opens: one target (or several, spread with round_robin), the
message size limit, TLS and a bearer token (clients/security.py), a Predict stub, and closing
as a context manager."""

from __future__ import annotations

from collections.abc import Iterable

from clients.request import DEFAULT_MAX_MESSAGE, channel_options, normalise_target
from clients.security import TlsConfig, open_aio_channel, open_channel
from protos.switchyard.v1 import predict_pb2_grpc

__all__ = ["AsyncPredictChannel", "PredictChannel"]


class PredictChannel:
    """Blocking channel owner: `with Client(target, tls=TlsConfig(ca="ca.pem"), token=...) as client: ...`.

    tls: a TlsConfig, True (TLS trusting the system's roots) or None (plaintext).
    token: sent as `authorization: Bearer <token>` with every call.
    """

    def __init__(
        self,
        target: str | Iterable[str] = "127.0.0.1:8001",
        *,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE,
        tls: TlsConfig | bool | None = None,
        token: str | None = None,
    ) -> None:
        address, round_robin = normalise_target(target)
        options = channel_options(max_message_bytes, round_robin)
        self._channel = open_channel(address, options, tls=tls, token=token)
        self._stub = predict_pb2_grpc.PredictStub(self._channel)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._channel.close()


class AsyncPredictChannel:
    """asyncio channel owner: `async with Client(target, tls=..., token=...) as client: ...`."""

    def __init__(
        self,
        target: str | Iterable[str] = "127.0.0.1:8001",
        *,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE,
        tls: TlsConfig | bool | None = None,
        token: str | None = None,
    ) -> None:
        address, round_robin = normalise_target(target)
        options = channel_options(max_message_bytes, round_robin)
        self._channel = open_aio_channel(address, options, tls=tls, token=token)
        self._stub = predict_pb2_grpc.PredictStub(self._channel)

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()

    async def close(self) -> None:
        await self._channel.close()
