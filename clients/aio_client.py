"""asyncio client for switchyard.v1.Predict."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Mapping

import grpc
import numpy as np

from clients.channel import AsyncPredictChannel, Metadata
from clients.errors import PredictError
from clients.request import Outputs, RequestFeed, build_request, decode_outputs, stream_request, stream_result
from protos.switchyard.v1 import predict_pb2 as pb

__all__ = ["AsyncSwitchyardClient", "stream_failure"]

StreamItem = pb.PredictRequest | pb.PredictStreamRequest


async def stream_failure(call, error: grpc.RpcError) -> PredictError:
    """The error a stream call ended with; for INTERNAL, the call's own status is awaited in
    case it holds the server's answer (grpc.aio may report a stream the server ended while
    requests were still being written as INTERNAL "Internal error from Core")."""
    if error.code() == grpc.StatusCode.INTERNAL:
        try:
            code, details = await call.code(), await call.details()
        except (grpc.RpcError, asyncio.CancelledError):
            code = None
        if code is not None and code != grpc.StatusCode.OK:
            return PredictError(code, details or "")
    return PredictError.from_rpc_error(error)


class AsyncSwitchyardClient(AsyncPredictChannel):
    """`async with AsyncSwitchyardClient("host:8001") as client: await client.predict(...)`."""

    async def _call(self, method, request, timeout: float | None, metadata: Metadata | None):
        try:
            return await method(request, **self._call_options(timeout, metadata))
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
        metadata: Metadata | None = None,
    ) -> Outputs:
        request = build_request(
            model, inputs, version=version, outputs=outputs, request_id=request_id, parameters=parameters
        )
        return decode_outputs(await self._call(self._stub.Predict, request, timeout, metadata))

    async def predict_stream(
        self,
        requests: AsyncIterable[StreamItem] | Iterable[StreamItem],
        *,
        timeout: float | None = None,
        metadata: Metadata | None = None,
    ) -> AsyncIterator[Outputs | PredictError]:
        """Yield each reply's outputs (with .request_id) in order; a failed request yields its
        PredictError in place. Leaving the loop early cancels the call (no more requests are
        pulled); an exception raised by `requests` is raised here as itself."""
        feed = RequestFeed()
        call = self._stub.PredictStream(feed.aio(requests, stream_request), **self._call_options(timeout, metadata))
        feed.bind(call)
        try:
            async for response in call:
                yield stream_result(response)
            feed.reraise()
        except grpc.RpcError as error:
            feed.reraise()
            raise await stream_failure(call, error) from None
        except asyncio.CancelledError:
            feed.reraise()
            raise
        finally:
            call.cancel()

    async def list_models(self, timeout: float | None = None, metadata: Metadata | None = None) -> list[pb.ModelInfo]:
        return list((await self._call(self._stub.ListModels, pb.ListModelsRequest(), timeout, metadata)).models)

    async def get_model(
        self, model: str, version: str = "", timeout: float | None = None, metadata: Metadata | None = None
    ) -> pb.ModelInfo:
        request = pb.GetModelRequest(model=model, version=version)
        return (await self._call(self._stub.GetModel, request, timeout, metadata)).model

    async def server_info(
        self, timeout: float | None = None, metadata: Metadata | None = None
    ) -> pb.GetServerInfoResponse:
        return await self._call(self._stub.GetServerInfo, pb.GetServerInfoRequest(), timeout, metadata)
