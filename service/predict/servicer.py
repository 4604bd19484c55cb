"""switchyard.v1.Predict: a thin adapter from the wire to the repository and its runners."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable

from protos.errors import SwitchyardError
from protos.switchyard.v1 import predict_pb2 as pb
from protos.switchyard.v1 import predict_pb2_grpc
from protos.switchyard.v1 import video_pb2 as vpb
from service.cache.answers import Answers
from service.predict.image import is_image_request, predict_image
from service.predict.messages import decode_request_within, encode_response
from service.predict.model_info import model_info, server_info
from service.repository.repository import ModelRepository
from service.rpc.budget import RequestIntake
from service.rpc.deadline import deadline_of
from service.rpc.decoding import Undecodable, decoded
from service.rpc.drain import DrainGate
from service.rpc.errors import in_band_error, stream_errors, unary_errors
from service.rpc.streams import concurrent_replies
from service.video.session import VideoStreams


class PredictServicer(predict_pb2_grpc.PredictServicer):
    def __init__(
        self,
        repository: ModelRepository,
        hardware: Callable[[], dict],
        gate: DrainGate,
        clock: Callable[[], float] = time.monotonic,
        video: VideoStreams | None = None,
        intake: RequestIntake | None = None,
        answers: Answers | None = None,
    ) -> None:
        self._repository = repository
        self._answers = answers or Answers(repository)
        self._intake = intake or RequestIntake()
        self._gate = gate
        self._hardware = hardware
        self._clock = clock
        self.video = video or VideoStreams(repository)

    async def _predict(
        self, request: pb.PredictRequest, deadline: float | None, into: pb.PredictResponse | None = None
    ) -> pb.PredictResponse:
        """`into`: the message to fill (a stream reply's `response`), so outputs are not copied into it."""
        version = self._repository.get(request.model, request.version)
        if is_image_request(version, request):
            return await predict_image(
                self._repository,
                version,
                request,
                deadline,
                into,
                self.video.limits.max_image_pixels,
                answers=self._answers,
            )
        with self._intake.lease() as lease:  # the tensors' bytes count against the budget until the reply
            try:
                infer_request, raw = await decode_request_within(request, deadline, self._intake, lease)
            except SwitchyardError as exc:
                version.ready_runner.record_rejected(exc)
                raise
            outputs = await self._answers.infer(version, infer_request)
            return encode_response(request, version.version, outputs, raw, version.signature, into)

    @unary_errors
    async def Predict(self, request, context):
        with self._gate.track():
            return await self._predict(request, deadline_of(context, self._clock))

    async def _predict_in_band(
        self, item: pb.PredictStreamRequest | Undecodable, deadline: float | None
    ) -> pb.PredictStreamResponse:
        reply = pb.PredictStreamResponse()
        try:
            await self._predict(decoded(item).request, deadline, into=reply.response)
            return reply
        except Exception as exc:
            # An undecodable message's reply names no model or id.
            request = item.request if isinstance(item, pb.PredictStreamRequest) else pb.PredictRequest()
            code, message = in_band_error(exc, f"PredictStream (model '{request.model}', id '{request.id}')")
            return pb.PredictStreamResponse(
                response=pb.PredictResponse(model=request.model, version=request.version, id=request.id),
                error=pb.Error(code=code, message=message),
            )

    @stream_errors
    async def PredictStream(self, request_iterator, context) -> AsyncIterator[pb.PredictStreamResponse]:
        """Requests run concurrently (service/rpc/streams.py); replies in request order by default.

        A bad request is answered in band and the stream goes on, also one whose bytes do not
        decode (its error names its position in the stream); only a broken stream (the server
        draining, the request stream failing) ends the RPC with a status.
        """
        deadline = deadline_of(context, self._clock)
        with self._gate.track():
            async for response in concurrent_replies(
                request_iterator, lambda item: self._predict_in_band(item, deadline), ordered=_ordered
            ):
                yield response

    @stream_errors
    async def StreamVideo(self, request_iterator, context) -> AsyncIterator[vpb.StreamVideoResponse]:
        """Video frames in, one reply per frame out (service/video/session.py).

        Frame errors are in band; a broken stream (bad config, unknown model) ends the RPC.
        """
        with self._gate.track():
            async for response in self.video.stream(request_iterator):
                yield response

    async def ListModels(self, request, context):
        return pb.ListModelsResponse(models=[model_info(e) for e in self._repository.entries()])

    @unary_errors
    async def GetModel(self, request, context):
        entry = self._repository.entry(request.model)
        info = model_info(entry)
        if request.version:
            self._repository.get(request.model, request.version)  # NOT_FOUND for unknown versions
            del info.versions[:]
            info.versions.extend(v for v in model_info(entry).versions if v.version == request.version)
        return pb.GetModelResponse(model=info)

    async def GetServerInfo(self, request, context):
        return server_info(self._hardware(), self._intake)


def _ordered(first: pb.PredictStreamRequest | Undecodable) -> bool:
    """Replies in request order unless the first request sets parameter unordered=true."""
    if isinstance(first, Undecodable):
        return True
    flag = first.request.parameters.get("unordered")
    return not (flag and flag.bool_param)
