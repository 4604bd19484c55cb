"""Bad input gets the right status and a message naming what was wrong; nothing else is disturbed."""

from __future__ import annotations

import asyncio

import grpc
import numpy as np
import pytest

from clients.request import build_request
from protos.inference import grpc_service_pb2 as oip
from protos.inference import grpc_service_pb2_grpc
from protos.switchyard.v1 import predict_pb2 as pb
from protos.switchyard.v1 import video_pb2 as vpb
from tests.conftest import write_model
from tests.fixtures import models
from tests.integration.conftest import make_settings, start_server

ONES = np.ones((1, 4), np.float32)


def tensor(name="a", datatype="FP32", shape=(1, 4), raw=None, **typed):
    t = pb.Tensor(name=name, datatype=datatype, shape=list(shape))
    if raw is not None:
        t.raw_contents = raw
    if typed:
        t.contents.CopyFrom(pb.TensorContents(**typed))
    return t


GOOD_B = tensor("b", raw=ONES.tobytes())

CASES = {
    "unknown model": (pb.PredictRequest(model="nope", inputs=[GOOD_B]), grpc.StatusCode.NOT_FOUND, ["nope"]),
    "unknown version": (
        pb.PredictRequest(model="add", version="9", inputs=[GOOD_B]),
        grpc.StatusCode.NOT_FOUND,
        ["version 9"],
    ),
    "model not ready": (
        pb.PredictRequest(model="corrupt", inputs=[GOOD_B]),
        grpc.StatusCode.UNAVAILABLE,
        ["corrupt", "INVALID_PROTOBUF"],
    ),
    "broken config": (
        pb.PredictRequest(model="bad_config", inputs=[GOOD_B]),
        grpc.StatusCode.UNAVAILABLE,
        ["field 'batching'"],
    ),
    "missing input": (
        pb.PredictRequest(model="add", inputs=[GOOD_B]),
        grpc.StatusCode.INVALID_ARGUMENT,
        ["'a'", "missing"],
    ),
    "unknown input": (
        pb.PredictRequest(model="add", inputs=[tensor(raw=ONES.tobytes()), GOOD_B, tensor("c", raw=ONES.tobytes())]),
        grpc.StatusCode.INVALID_ARGUMENT,
        ["'c'"],
    ),
    "wrong datatype": (
        pb.PredictRequest(model="add", inputs=[tensor(datatype="FP64", raw=np.ones((1, 4)).tobytes()), GOOD_B]),
        grpc.StatusCode.INVALID_ARGUMENT,
        ["'a'", "FP32", "FP64"],
    ),
    "wrong rank": (
        pb.PredictRequest(model="add", inputs=[tensor(shape=(4,), raw=ONES.tobytes()), GOOD_B]),
        grpc.StatusCode.INVALID_ARGUMENT,
        ["'a'", "[-1, 4]", "[4]"],
    ),
    "wrong dim": (
        pb.PredictRequest(model="add", inputs=[tensor(shape=(2, 2), raw=ONES.tobytes()), GOOD_B]),
        grpc.StatusCode.INVALID_ARGUMENT,
        ["'a'", "[2, 2]"],
    ),
    "raw length": (
        pb.PredictRequest(model="add", inputs=[tensor(raw=b"\0" * 15), GOOD_B]),
        grpc.StatusCode.INVALID_ARGUMENT,
        ["'a'", "15 bytes", "expected 16"],
    ),
    "raw and typed": (
        pb.PredictRequest(model="add", inputs=[tensor(raw=ONES.tobytes(), fp32_contents=[1, 1, 1, 1]), GOOD_B]),
        grpc.StatusCode.INVALID_ARGUMENT,
        ["'a'", "both"],
    ),
    "typed count": (
        pb.PredictRequest(model="add", inputs=[tensor(fp32_contents=[1, 2]), GOOD_B]),
        grpc.StatusCode.INVALID_ARGUMENT,
        ["'a'", "2 elements", "expected 4"],
    ),
    "typed wrong field": (
        pb.PredictRequest(model="add", inputs=[tensor(int64_contents=[1, 2, 3, 4]), GOOD_B]),
        grpc.StatusCode.INVALID_ARGUMENT,
        ["'a'", "fp32_contents", "int64_contents"],
    ),
    "negative dim": (
        pb.PredictRequest(model="add", inputs=[tensor(shape=(-1, 4), raw=ONES.tobytes()), GOOD_B]),
        grpc.StatusCode.INVALID_ARGUMENT,
        ["'a'", "negative"],
    ),
    "unknown datatype": (
        pb.PredictRequest(model="add", inputs=[tensor(datatype="FLOAT", raw=ONES.tobytes()), GOOD_B]),
        grpc.StatusCode.INVALID_ARGUMENT,
        ["'a'", "FLOAT"],
    ),
    "bad BYTES prefix": (
        pb.PredictRequest(model="identity_string", inputs=[tensor("x", "BYTES", (1, 1), raw=b"\x05\0\0\0abc")]),
        grpc.StatusCode.INVALID_ARGUMENT,
        ["'x'", "declares 5 bytes"],
    ),
    "non-UTF-8 string": (
        pb.PredictRequest(model="identity_string", inputs=[tensor("x", "BYTES", (1, 1), raw=b"\x02\0\0\0\xff\xfe")]),
        grpc.StatusCode.INVALID_ARGUMENT,
        ["'x'", "UTF-8"],
    ),
    "unknown output": (
        pb.PredictRequest(model="add", outputs=["product"], inputs=[tensor(raw=ONES.tobytes()), GOOD_B]),
        grpc.StatusCode.INVALID_ARGUMENT,
        ["'product'"],
    ),
    "duplicate input": (
        pb.PredictRequest(model="add", inputs=[GOOD_B, GOOD_B]),
        grpc.StatusCode.INVALID_ARGUMENT,
        ["'b'", "twice"],
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
async def test_bad_request_status_and_message(running, case):
    request, code, fragments = CASES[case]
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await running.stub.Predict(request)
    assert info.value.code() == code, info.value.details()
    for fragment in fragments:
        assert fragment in info.value.details()


async def test_over_message_limit_is_resource_exhausted(running):
    big = np.zeros((1, 9 * 1024 * 1024 // 4 + 16), np.float32)  # the fixture allows 8 MiB
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await running.stub.Predict(build_request("identity_int64", {"x": big}))
    assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


async def test_good_requests_unaffected_by_concurrent_bad_ones(running):
    async def good(i):
        a = np.full((1, 4), i, np.float32)
        out = await running.client.predict("add", {"a": a, "b": a})
        return out["sum"][0, 0]

    async def bad(i):
        request, _, _ = CASES[sorted(CASES)[i % len(CASES)]]
        with pytest.raises(grpc.aio.AioRpcError):
            await running.stub.Predict(request)

    results = await asyncio.gather(*(good(i) for i in range(40)), *(bad(i) for i in range(40)))
    assert list(results[:40]) == [2.0 * i for i in range(40)]


async def test_rejected_requests_count_as_failures_of_their_model(running):
    before = (await running.client.get_model("add")).statistics.failure_count
    for case in ("raw length", "typed count", "wrong datatype", "missing input"):
        request, _, _ = CASES[case]
        with pytest.raises(grpc.aio.AioRpcError):
            await running.stub.Predict(request)
    assert (await running.client.get_model("add")).statistics.failure_count == before + 4


# Malformed bodies and names (docs/security.md "Malformed input") ---------------------------

GARBAGE = b"\x0b\xff\xff"  # a group start, then a truncated varint: no message decodes from it
EVIL_NAMES = ["../outside/evil", "/etc/passwd", "tiny_cnn/../tiny_cnn", "nul\0byte", ".hidden", "x" * 500]
ADD_B = oip.ModelInferRequest.InferInputTensor(name="b", datatype="FP32", shape=[1, 4])


def oip_stub(running) -> grpc_service_pb2_grpc.GRPCInferenceServiceStub:
    return grpc_service_pb2_grpc.GRPCInferenceServiceStub(running.channel)


async def status_of(call) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await call
    return info.value.code(), info.value.details()


@pytest.mark.parametrize(
    "path, message",
    [
        ("/switchyard.v1.Predict/Predict", "switchyard.v1.PredictRequest"),
        ("/switchyard.v1.Predict/GetModel", "switchyard.v1.GetModelRequest"),
        ("/inference.GRPCInferenceService/ModelInfer", "inference.ModelInferRequest"),
        ("/inference.GRPCInferenceService/ModelReady", "inference.ModelReadyRequest"),
    ],
)
async def test_an_undecodable_body_is_invalid_argument_naming_the_message(running, path, message):
    code, details = await status_of(running.channel.unary_unary(path)(GARBAGE, timeout=10))
    assert (code, details) == (grpc.StatusCode.INVALID_ARGUMENT, f"request body is not a valid {message}")


async def test_an_undecodable_message_in_predict_stream_is_answered_in_band_and_the_stream_goes_on(running):
    good = pb.PredictStreamRequest(request=build_request("add", {"a": ONES, "b": ONES})).SerializeToString()
    call = running.channel.stream_stream("/switchyard.v1.Predict/PredictStream")(
        iter([good, GARBAGE, good]), timeout=10
    )
    replies = [pb.PredictStreamResponse.FromString(r) async for r in call]
    assert [r.error.code for r in replies] == ["", "INVALID_ARGUMENT", ""]
    assert "not a valid switchyard.v1.PredictStreamRequest (message 2 of the stream)" in replies[1].error.message
    assert [r.response.outputs[0].name for r in (replies[0], replies[2])] == ["sum", "sum"]


async def test_an_undecodable_message_in_model_stream_infer_is_answered_in_band(running):
    good = oip.ModelInferRequest(
        model_name="add",
        inputs=[oip.ModelInferRequest.InferInputTensor(name="a", datatype="FP32", shape=[1, 4]), ADD_B],
        raw_input_contents=[ONES.tobytes(), ONES.tobytes()],
    ).SerializeToString()
    call = running.channel.stream_stream("/inference.GRPCInferenceService/ModelStreamInfer")(
        iter([good, GARBAGE, good]), timeout=10
    )
    replies = [oip.ModelStreamInferResponse.FromString(r) async for r in call]
    assert [r.error_message for r in replies] == [
        "",
        "request body is not a valid inference.ModelInferRequest (message 2 of the stream)",
        "",
    ]


def _video_status(address: str, messages: list[bytes]) -> tuple[grpc.StatusCode, str]:
    # grpc's synchronous client: grpc.aio's may report INTERNAL when the server ends a stream
    # the client is still writing to (grpc/grpc#36066).
    with grpc.insecure_channel(address) as channel:
        try:
            list(channel.stream_stream("/switchyard.v1.Predict/StreamVideo")(iter(messages), timeout=10))
        except grpc.RpcError as error:
            return error.code(), error.details()
    return grpc.StatusCode.OK, ""


async def test_an_undecodable_video_message_ends_the_stream_at_once(running):
    frame = vpb.StreamVideoRequest(frame=vpb.VideoFrame(index=0, data=b"\xff\xd8")).SerializeToString()
    code, details = await asyncio.to_thread(_video_status, running.address, [GARBAGE, frame, frame])
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert details == "request body is not a valid switchyard.v1.StreamVideoRequest (message 1 of the stream)"


def _name_calls(running, name: str) -> dict:
    stub = oip_stub(running)
    a = tensor(raw=ONES.tobytes())
    return {
        "Predict": running.stub.Predict(pb.PredictRequest(model=name, inputs=[a, GOOD_B])),
        "GetModel": running.stub.GetModel(pb.GetModelRequest(model=name)),
        "ModelInfer": stub.ModelInfer(oip.ModelInferRequest(model_name=name)),
        "ModelMetadata": stub.ModelMetadata(oip.ModelMetadataRequest(name=name)),
        "ModelConfig": stub.ModelConfig(oip.ModelConfigRequest(name=name)),
        "ModelStatistics": stub.ModelStatistics(oip.ModelStatisticsRequest(name=name)),
        "ModelReady": stub.ModelReady(oip.ModelReadyRequest(name=name)),
    }


@pytest.mark.parametrize("name", EVIL_NAMES)
async def test_a_name_that_is_not_a_model_name_is_invalid_argument_in_every_rpc(running, name):
    for rpc, call in _name_calls(running, name).items():
        code, details = await status_of(call)
        assert code == grpc.StatusCode.INVALID_ARGUMENT, (rpc, details)
        assert "a model name is 1 to 128 characters" in details, (rpc, details)
        assert "x" * 65 not in details  # the name is echoed clipped
    config = vpb.StreamVideoRequest(config=vpb.StreamConfig(model=name, encoding="ENCODING_JPEG"))
    code, details = await asyncio.to_thread(_video_status, running.address, [config.SerializeToString()])
    assert code == grpc.StatusCode.INVALID_ARGUMENT and "a model name is" in details, details


@pytest.mark.parametrize("version", ["1a", "-1", "1.0", "\u0661"])
async def test_a_version_that_is_not_digits_is_invalid_argument(running, version):
    stub = oip_stub(running)
    for call in (
        running.stub.Predict(pb.PredictRequest(model="add", version=version)),
        stub.ModelReady(oip.ModelReadyRequest(name="add", version=version)),
        stub.ModelStatistics(oip.ModelStatisticsRequest(name="add", version=version)),
    ):
        code, details = await status_of(call)
        assert code == grpc.StatusCode.INVALID_ARGUMENT and "up to 18 digits" in details, details


@pytest.fixture
async def admin(tmp_path):
    """A server with the admin RPCs on over a repository holding a symlink that leads out of it."""
    repository = tmp_path / "repository"
    write_model(repository, "add", models.add_model(), "backend: onnxruntime\n")
    (write_model(repository, "corrupt", None, "") / "1" / "model.onnx").write_bytes(b"not a model")
    outside = write_model(tmp_path / "outside", "evil", models.add_model(), "backend: onnxruntime\n")
    (repository / "evil").symlink_to(outside, target_is_directory=True)
    async for running in start_server(make_settings(repository, allow_repository_admin=True)):
        yield running, repository


async def test_admin_rpcs_load_nothing_from_outside_the_repository(admin, tmp_path):
    running, repository = admin
    stub = oip_stub(running)
    for name in EVIL_NAMES:
        for call in (
            stub.RepositoryModelLoad(oip.RepositoryModelLoadRequest(model_name=name)),
            stub.RepositoryModelUnload(oip.RepositoryModelUnloadRequest(model_name=name)),
        ):
            code, details = await status_of(call)
            assert code == grpc.StatusCode.INVALID_ARGUMENT and "a model name is" in details, (name, details)
    code, details = await status_of(stub.RepositoryModelLoad(oip.RepositoryModelLoadRequest(model_name="evil")))
    assert (code, details) == (grpc.StatusCode.NOT_FOUND, "no model 'evil' in the repository")
    index = await stub.RepositoryIndex(oip.RepositoryIndexRequest())
    assert "evil" not in {m.name for m in index.models}
    # What a failed load says is relative to the repository: never its absolute path.
    code, details = await status_of(stub.RepositoryModelLoad(oip.RepositoryModelLoadRequest(model_name="corrupt")))
    assert code == grpc.StatusCode.UNAVAILABLE and "corrupt" in details
    for text in [details, *(m.reason for m in index.models)]:
        assert str(tmp_path) not in text and str(repository.resolve()) not in text, text
