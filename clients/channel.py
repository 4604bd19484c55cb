"""The channel every client opens: one target (or several, spread with round_robin), the
message size limit, a Predict stub, and closing as a context manager."""

from __future__ import annotations

from collections.abc import Iterable

import grpc

from clients.request import DEFAULT_MAX_MESSAGE, channel_options, normalise_target
from protos.switchyard.v1 import predict_pb2_grpc

__all__ = ["AsyncPredictChannel", "PredictChannel"]


class PredictChannel:
    """Blocking channel owner: `with Client(target) as client: ...`."""

    def __init__(
        self, target: str | Iterable[str] = "127.0.0.1:8001", *, max_message_bytes: int = DEFAULT_MAX_MESSAGE
    ) -> None:
        address, round_robin = normalise_target(target)
        self._channel = grpc.insecure_channel(address, options=channel_options(max_message_bytes, round_robin))
        self._stub = predict_pb2_grpc.PredictStub(self._channel)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._channel.close()


class AsyncPredictChannel:
    """asyncio channel owner: `async with Client(target) as client: ...`."""

    def __init__(
        self, target: str | Iterable[str] = "127.0.0.1:8001", *, max_message_bytes: int = DEFAULT_MAX_MESSAGE
    ) -> None:
        address, round_robin = normalise_target(target)
        self._channel = grpc.aio.insecure_channel(address, options=channel_options(max_message_bytes, round_robin))
        self._stub = predict_pb2_grpc.PredictStub(self._channel)

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()

    async def close(self) -> None:
        await self._channel.close()
