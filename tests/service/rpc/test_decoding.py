"""add_service on a real grpc.aio server: a body that does not decode is INVALID_ARGUMENT naming
its message type before any servicer code runs; in a stream it is answered in band (where the
method says so) or ends the stream naming its position; a broken request stream never hangs."""

from __future__ import annotations

import asyncio

import grpc
import pytest

from protos.errors import InvalidInputError
from protos.switchyard.v1 import predict_pb2 as pb
from protos.switchyard.v1 import video_pb2 as vpb
from service.rpc.decoding import Undecodable, add_service, decoded, deserializer
from service.rpc.errors import stream_errors, unary_errors
from service.rpc.streams import concurrent_replies

PREDICT = pb.DESCRIPTOR.services_by_name["Predict"]
GARBAGE = b"\x0b\xff\xff"  # a group start, then a truncated varint


class Echo:
    """Predict's methods, each saying what it was given."""

    def __init__(self) -> None:
        self.calls = 0

    @unary_errors
    async def Predict(self, request, context):
        self.calls += 1
        return pb.PredictResponse(model=request.model)

    async def _in_band(self, item) -> pb.PredictStreamResponse:
        try:
            return pb.PredictStreamResponse(response=pb.PredictResponse(model=decoded(item).request.model))
        except InvalidInputError as exc:
            return pb.PredictStreamResponse(error=pb.Error(code="INVALID_ARGUMENT", message=exc.message))

    @stream_errors
    async def PredictStream(self, requests, context):
        async for reply in concurrent_replies(requests, self._in_band):
            yield reply

    @stream_errors
    async def StreamVideo(self, requests, context):
        async for item in requests:
            yield vpb.StreamVideoResponse(index=item.frame.index)

    async def ListModels(self, request, context):
        return pb.ListModelsResponse()

    async def GetModel(self, request, context):
        return pb.GetModelResponse()

    async def GetServerInfo(self, request, context):
        return pb.GetServerInfoResponse()


def path(method: str) -> str:
    return f"/{PREDICT.full_name}/{method}"


@pytest.fixture
async def served():
    echo = Echo()
    server = grpc.aio.server()
    add_service(server, PREDICT, echo, in_band=frozenset({"PredictStream"}))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        yield echo, channel, f"127.0.0.1:{port}"
    await server.stop(None)


async def test_an_undecodable_unary_body_is_invalid_argument_before_the_servicer_runs(served):
    echo, channel, _ = served
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await channel.unary_unary(path("Predict"))(GARBAGE)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert info.value.details() == "request body is not a valid switchyard.v1.PredictRequest"
    assert echo.calls == 0
    reply = await channel.unary_unary(path("Predict"))(pb.PredictRequest(model="m").SerializeToString())
    assert pb.PredictResponse.FromString(reply).model == "m" and echo.calls == 1


async def test_undecodable_bodies_of_undecorated_methods_too(served):
    _, channel, _ = served
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await channel.unary_unary(path("ListModels"))(GARBAGE)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert info.value.details() == "request body is not a valid switchyard.v1.ListModelsRequest"


async def test_an_in_band_stream_answers_the_bad_message_and_goes_on(served):
    _, channel, _ = served
    good = [pb.PredictStreamRequest(request=pb.PredictRequest(model=m)).SerializeToString() for m in "ab"]
    replies = [
        pb.PredictStreamResponse.FromString(r)
        async for r in channel.stream_stream(path("PredictStream"))(iter([good[0], GARBAGE, good[1]]), timeout=10)
    ]
    assert [r.response.model for r in replies] == ["a", "", "b"]
    assert replies[1].error == pb.Error(
        code="INVALID_ARGUMENT",
        message="request body is not a valid switchyard.v1.PredictStreamRequest (message 2 of the stream)",
    )


def _sync_stream(address: str, messages: list[bytes]) -> tuple[list[bytes], grpc.StatusCode, str]:
    # The synchronous client reports the server's status when the server ends a stream while the
    # client still writes; grpc.aio's client may report INTERNAL instead (grpc/grpc#36066).
    replies: list[bytes] = []
    with grpc.insecure_channel(address) as channel:
        try:
            replies.extend(channel.stream_stream(path("StreamVideo"))(iter(messages), timeout=10))
        except grpc.RpcError as error:
            return replies, error.code(), error.details()
    return replies, grpc.StatusCode.OK, ""


async def test_any_other_stream_ends_naming_the_bad_message(served):
    _, _, address = served
    frame = vpb.StreamVideoRequest(frame=vpb.VideoFrame(index=7)).SerializeToString()
    replies, code, details = await asyncio.to_thread(_sync_stream, address, [frame, GARBAGE, frame])
    assert [vpb.StreamVideoResponse.FromString(r).index for r in replies] == [7]
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert details == "request body is not a valid switchyard.v1.StreamVideoRequest (message 2 of the stream)"


def test_the_deserializer_returns_the_message_or_a_stand_in():
    decode = deserializer(pb.PredictRequest)
    assert decode(pb.PredictRequest(model="m").SerializeToString()) == pb.PredictRequest(model="m")
    stand_in = decode(GARBAGE)
    assert stand_in == Undecodable("switchyard.v1.PredictRequest")
    with pytest.raises(InvalidInputError, match="^request body is not a valid switchyard.v1.PredictRequest$"):
        decoded(stand_in)


async def test_registration_refuses_sync_methods_and_unknown_in_band_names():
    class Sync(Echo):
        def GetServerInfo(self, request, context):
            return pb.GetServerInfoResponse()

    with pytest.raises(TypeError, match="GetServerInfo: the servicer's method must be async"):
        add_service(grpc.aio.server(), PREDICT, Sync())
    with pytest.raises(ValueError, match="no methods"):
        add_service(grpc.aio.server(), PREDICT, Echo(), in_band=frozenset({"Nope"}))


async def test_a_request_stream_that_breaks_ends_the_replies_instead_of_hanging():
    async def requests():
        yield 1
        yield 2
        raise InvalidInputError("the request stream broke")

    async def double(n: int) -> int:
        return 2 * n

    replies = []
    async with asyncio.timeout(10):  # a guard only: without the fix this waits forever
        with pytest.raises(InvalidInputError, match="broke"):
            async for reply in concurrent_replies(requests(), double):
                replies.append(reply)
    assert replies == [2, 4]
