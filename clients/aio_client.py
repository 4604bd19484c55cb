"""asyncio client for switchyard.v1.Predict."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Iterable, Mapping

import grpc
import numpy as np

from clients.channel import AsyncPredictChannel
from clients.errors import PredictError
from clients.request import build_request, decode_outputs, stream_request, stream_result
from protos.switchyard.v1 import predict_pb2 as pb

__all__ = ["AsyncSwitchyardClient"]

StreamItem = pb.PredictRequest | pb.PredictStreamRequest


class AsyncSwitchyardClient(AsyncPredictChannel):
    """`async with AsyncSwitchyardClient("host:8001") as client: await client.predict(...)`."""

    async def _call(self, method, request, timeout):
        try:
            return await method(request, timeout=timeout)
        except grpc.RpcError as error:
            raise PredictError.from_rpc_error(error) from None

    async def predict(
        self,
        model: str,
        inputs: Mapping[str, np.ndarray],
        *,
        version: str = "",
        outputs: Iterable[str] = (),
        request_id: str = "",
        parameters: Mapping | None = None,
        timeout: float | None = None,
    ) -> dict[str, np.ndarray]:
        request = build_request(
            model, inputs, version=version, outputs=outputs, request_id=request_id, parameters=parameters
        )
        return decode_outputs(await self._call(self._stub.Predict, request, timeout))

    async def predict_stream(
        self, requests: AsyncIterable[StreamItem] | Iterable[StreamItem], *, timeout: float | None = None
    ) -> AsyncIterator[dict[str, np.ndarray] | PredictError]:
        """Yield each reply's outputs in order; a failed request yields its PredictError in place."""
        items = _stream_requests(requests) if isinstance(requests, AsyncIterable) else map(stream_request, requests)
        call = self._stub.PredictStream(items, timeout=timeout)
        try:
            async for response in call:
                yield stream_result(response)
        except grpc.RpcError as error:
            raise PredictError.from_rpc_error(error) from None

    async def list_models(self, timeout: float | None = None) -> list[pb.ModelInfo]:
        return list((await self._call(self._stub.ListModels, pb.ListModelsRequest(), timeout)).models)

    async def get_model(self, model: str, version: str = "", timeout: float | None = None) -> pb.ModelInfo:
        reply = await self._call(self._stub.GetModel, pb.GetModelRequest(model=model, version=version), timeout)
        return reply.model

    async def server_info(self, timeout: float | None = None) -> pb.GetServerInfoResponse:
        return await self._call(self._stub.GetServerInfo, pb.GetServerInfoRequest(), timeout)


async def _stream_requests(requests: AsyncIterable[StreamItem]) -> AsyncIterator[pb.PredictStreamRequest]:
    async for request in requests:
        yield stream_request(request)
