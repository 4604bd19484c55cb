"""switchyard.v1.Predict: a thin adapter from the wire to the repository and its runners."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable

import grpc

from protos.switchyard.v1 import predict_pb2 as pb
from protos.switchyard.v1 import predict_pb2_grpc
from service.model_info import model_info, server_info
from service.predict_messages import decode_request, encode_response
from service.repository import ModelRepository
from service.status import grpc_status

# Requests of one stream that may be in the server at once; past it, gRPC flow
# control holds the client back.
STREAM_WINDOW = 64


class PredictServicer(predict_pb2_grpc.PredictServicer):
    def __init__(
        self, repository: ModelRepository, hardware: Callable[[], dict], clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._repository = repository
        self._hardware = hardware
        self._clock = clock

    def _deadline(self, context: grpc.aio.ServicerContext) -> float | None:
        remaining = context.time_remaining()
        return None if remaining is None else self._clock() + remaining

    async def _predict(self, request: pb.PredictRequest, deadline: float | None) -> pb.PredictResponse:
        version = self._repository.get(request.model, request.version)
        infer_request, raw = decode_request(request, deadline)
        outputs = await version.runner.infer(infer_request)
        return encode_response(request, version.version, outputs, raw)

    async def Predict(self, request, context):
        try:
            return await self._predict(request, self._deadline(context))
        except Exception as exc:
            code, message = grpc_status(exc)
            await context.abort(code, message)

    async def _predict_in_band(self, request: pb.PredictRequest, deadline: float | None) -> pb.PredictResponse:
        try:
            return await self._predict(request, deadline)
        except Exception as exc:
            code, message = grpc_status(exc)
            return pb.PredictResponse(
                model=request.model, version=request.version, id=request.id,
                error=pb.Error(code=code.name, message=message),
            )

    async def PredictStream(self, request_iterator, context) -> AsyncIterator[pb.PredictResponse]:
        """Requests run concurrently (up to STREAM_WINDOW); replies in request order by default."""
        pending: asyncio.Queue = asyncio.Queue(maxsize=STREAM_WINDOW)
        deadline = self._deadline(context)
        unordered = False

        async def read() -> None:
            nonlocal unordered
            first = True
            async for request in request_iterator:
                if first:
                    value = request.parameters.get("unordered")
                    unordered = bool(value and value.bool_param)
                    first = False
                await pending.put(asyncio.ensure_future(self._predict_in_band(request, deadline)))
            await pending.put(None)

        reader = asyncio.ensure_future(read())
        try:
            async for response in _drain(pending, lambda: unordered):
                yield response
            await reader
        finally:
            reader.cancel()
            while not pending.empty():
                task = pending.get_nowait()
                if task is not None:
                    task.cancel()

    async def ListModels(self, request, context):
        return pb.ListModelsResponse(models=[model_info(e) for e in self._repository.entries()])

    async def GetModel(self, request, context):
        try:
            entry = self._repository.entry(request.model)
            info = model_info(entry)
            if request.version:
                self._repository.get(request.model, request.version)  # NOT_FOUND for unknown versions
                del info.versions[:]
                info.versions.extend(v for v in model_info(entry).versions if v.version == request.version)
            return info
        except Exception as exc:
            code, message = grpc_status(exc)
            await context.abort(code, message)

    async def GetServerInfo(self, request, context):
        return server_info(self._hardware())


async def _drain(pending: asyncio.Queue, unordered: Callable[[], bool]) -> AsyncIterator[pb.PredictResponse]:
    """Yield finished responses: in queue order, or as they complete when unordered."""
    running: set[asyncio.Future] = set()
    done_reading = False
    while not done_reading or running:
        if not unordered():
            task = await pending.get()
            if task is None:
                return
            yield await task
            continue
        getter = asyncio.ensure_future(pending.get()) if not done_reading else None
        waiting = running | ({getter} if getter else set())
        finished, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        if getter is not None:
            if getter in finished:
                item = getter.result()
                if item is None:
                    done_reading = True
                else:
                    running.add(item)
            else:
                getter.cancel()
        for task in finished - {getter}:
            running.discard(task)
            yield task.result()
