"""Hostile tensors against a real server process: every request gets its status promptly, a
message without Python names, and the server's memory comes back.

Memory is the server's own (/proc/<pid>/status; tests/fixtures/memory.py). Before the limits,
one 35-byte request declaring 2^27 BYTES elements cost the server 1 GB that it kept (six of
them: +6 GB), a health check waited 2 s meanwhile, and sixteen 63 MiB requests that failed
their checks left it ~1.2 GB larger.
"""

from __future__ import annotations

import asyncio
import sys
import time

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from onnx import TensorProto

from protos.inference import grpc_service_pb2 as oip
from protos.inference import grpc_service_pb2_grpc as oip_grpc
from protos.switchyard.v1 import predict_pb2 as pb
from protos.switchyard.v1 import predict_pb2_grpc
from tests.conftest import serving, write_model
from tests.fixtures.memory import peak_growth, rss_mib
from tests.fixtures.models import add_model, identity_model, slow_model

MiB = 1 << 20
BUDGET_MIB = 256
TIMEOUT = 60  # generous: the machine is shared; answers come in well under a second
SMALL_BUDGET = 2 * MiB
BIG = 63 * MiB
OPTIONS = [("grpc.max_send_message_length", 70 * MiB), ("grpc.max_receive_message_length", 70 * MiB)]
PYTHON_WORDS = ("Error:", "Traceback", "ValueError", "MemoryError", "KeyError", "internal error")


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    repo = tmp_path_factory.mktemp("hostile_tensors")
    write_model(repo, "strings", identity_model(TensorProto.STRING, "strings"), "backend: onnxruntime\n")
    write_model(repo, "add", add_model(), "backend: onnxruntime\n")
    # Long enough per call (~0.1 s here) that requests sent together are in flight together.
    write_model(repo, "slow", slow_model(repeats=200), "backend: onnxruntime\n")
    return repo


def _serve(repo, *flags):
    with serving(sys.executable, repo, *flags) as (proc, address):
        yield proc.pid, address


@pytest.fixture(scope="module")
def server(repo):
    """Default limits and budget; messages up to 70 MiB."""
    yield from _serve(repo, "--max-message-bytes", str(70 * MiB))


@pytest.fixture(scope="module")
def small_budget(repo):
    """A 2 MiB in-flight budget: one request of the slow model (1.1 MiB) at a time."""
    yield from _serve(repo, "--max-inflight-bytes", str(SMALL_BUDGET))


@pytest.fixture
async def channel(server):
    async with grpc.aio.insecure_channel(server[1], options=OPTIONS) as channel:
        yield channel


@pytest.fixture
async def budget_channel(small_budget):
    async with grpc.aio.insecure_channel(small_budget[1], options=OPTIONS) as channel:
        yield channel


def predict_request(model: str, *tensors: pb.Tensor) -> pb.PredictRequest:
    return pb.PredictRequest(model=model, inputs=list(tensors))


def infer_request(model: str, *tensors: pb.Tensor) -> oip.ModelInferRequest:
    """The same tensors in the Open Inference Protocol's form (raw contents beside the inputs)."""
    inputs = [oip.ModelInferRequest.InferInputTensor(name=t.name, datatype=t.datatype, shape=t.shape) for t in tensors]
    return oip.ModelInferRequest(model_name=model, inputs=inputs, raw_input_contents=[t.raw_contents for t in tensors])


async def refused(channel, protocol: str, model: str, *tensors: pb.Tensor) -> grpc.aio.AioRpcError:
    """The error a unary call gets (it must get one)."""
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        if protocol == "predict":
            await predict_pb2_grpc.PredictStub(channel).Predict(predict_request(model, *tensors), timeout=TIMEOUT)
        else:
            await oip_grpc.GRPCInferenceServiceStub(channel).ModelInfer(infer_request(model, *tensors), timeout=TIMEOUT)
    details = caught.value.details()
    assert not any(word in details for word in PYTHON_WORDS), details
    return caught.value


async def health_is_serving(channel) -> bool:
    reply = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=TIMEOUT)
    return reply.status == health_pb2.HealthCheckResponse.SERVING


def raw_tensor(name: str, array: np.ndarray) -> pb.Tensor:
    return pb.Tensor(name=name, datatype="FP32", shape=array.shape, raw_contents=array.tobytes())


PROTOCOLS = ["predict", "oip"]


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_35_byte_request_declaring_2_27_strings_costs_nothing(server, channel, protocol):
    tensor = pb.Tensor(name="x", datatype="BYTES", shape=[1, 1 << 27], raw_contents=b"\x01\0\0\0a")
    assert predict_request("strings", tensor).ByteSize() < 40
    with peak_growth(server[0]) as grown:
        for _ in range(6):
            error = await refused(channel, protocol, "strings", tensor)
            assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
            assert "134217728 BYTES elements, but 5 bytes" in error.details() and "'x'" in error.details()
    assert grown.mib < BUDGET_MIB


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize(
    ("shape", "raw", "words"),
    [
        ([1 << 31, 1 << 31], b"", ("4611686018427387904 elements", "max_tensor_elements")),
        ([1] * 100, b"\0" * 4, ("rank 100", "max_tensor_rank")),
        ([0, 1 << 62], b"", ("zero dimensions as 1", "max_tensor_elements")),
    ],
)
async def test_shapes_past_the_limits_are_resource_exhausted(channel, protocol, shape, raw, words):
    tensor = pb.Tensor(name="a", datatype="FP32", shape=shape, raw_contents=raw)
    error = await refused(channel, protocol, "add", tensor)
    assert error.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert all(word in error.details() for word in words) and "'a'" in error.details()


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_megabyte_names_are_echoed_clipped(channel, protocol):
    long = "m" * MiB
    ones = np.ones((1, 4), np.float32)
    # A model name that long is not a valid name (INVALID_ARGUMENT) or not one the server has.
    error = await refused(channel, protocol, long, raw_tensor("a", ones))
    assert error.code() in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND)
    assert len(error.details()) < 1024 and "more characters" in error.details()
    error = await refused(channel, protocol, "add", raw_tensor("a", ones), raw_tensor(long, ones))
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert len(error.details()) < 1024 and "more characters" in error.details()


async def test_big_invalid_requests_give_their_memory_back_and_health_answers(server, channel):
    """8 x 63 MiB, all wrong by 4 bytes: refused on their length; the server's RSS comes back
    (without the heap trim it stayed 300-400 MiB up here)."""
    raw = bytes(BIG)
    wire = predict_request("add", pb.Tensor(name="a", datatype="FP32", shape=[1, BIG // 4 + 1], raw_contents=raw))
    body = wire.SerializeToString()
    call = channel.unary_unary("/switchyard.v1.Predict/Predict")  # bytes as they are: one serialisation
    before = rss_mib(server[0])
    calls = [asyncio.ensure_future(call(body, timeout=TIMEOUT)) for _ in range(8)]
    assert await health_is_serving(channel)  # answered while the big ones are in the server
    outcomes = await asyncio.gather(*calls, return_exceptions=True)
    assert all(isinstance(o, grpc.aio.AioRpcError) for o in outcomes), outcomes
    assert {o.code() for o in outcomes} == {grpc.StatusCode.INVALID_ARGUMENT}
    # The server trims its heap on a worker thread after large requests (service/rpc/heap.py):
    # wait for that, as observed from outside, with a bound.
    deadline = time.monotonic() + 10
    while rss_mib(server[0]) > before + BUDGET_MIB and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    assert rss_mib(server[0]) < before + BUDGET_MIB


# The in-flight budget ----------------------------------------------------------------------


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_request_larger_than_the_whole_budget_is_refused_naming_it(budget_channel, protocol):
    half = np.ones((1 << 16, 4), np.float32)  # 1 MiB each; with the copies read from the message, 4 MiB
    error = await refused(budget_channel, protocol, "add", raw_tensor("a", half), raw_tensor("b", half))
    assert error.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "whole in-flight budget of 2.0 MiB" in error.details() and "max_inflight_bytes" in error.details()


async def test_streams_answer_an_over_budget_message_in_band_and_go_on(budget_channel):
    half = np.ones((1 << 16, 4), np.float32)
    small = np.ones((1, 4), np.float32)
    messages = [(half, half), (small, small)]
    predict = predict_pb2_grpc.PredictStub(budget_channel).PredictStream(
        iter(
            [
                pb.PredictStreamRequest(request=predict_request("add", raw_tensor("a", a), raw_tensor("b", b)))
                for a, b in messages
            ]
        ),
        timeout=TIMEOUT,
    )
    replies = [reply async for reply in predict]
    assert replies[0].error.code == "RESOURCE_EXHAUSTED" and "max_inflight_bytes" in replies[0].error.message
    assert not replies[1].HasField("error") and len(replies[1].response.outputs) == 2
    infer = oip_grpc.GRPCInferenceServiceStub(budget_channel).ModelStreamInfer(
        iter([infer_request("add", raw_tensor("a", a), raw_tensor("b", b)) for a, b in messages]), timeout=TIMEOUT
    )
    replies = [reply async for reply in infer]
    assert "max_inflight_bytes" in replies[0].error_message
    assert not replies[1].error_message and len(replies[1].infer_response.outputs) == 2


async def test_concurrent_requests_past_the_budget_are_refused_while_health_answers(budget_channel):
    x = np.ones((384, 384), np.float32)  # 576 KiB: each holds 1.1 MiB of the 2 MiB while it runs
    stub = predict_pb2_grpc.PredictStub(budget_channel)
    calls = [asyncio.ensure_future(stub.Predict(predict_request("slow", raw_tensor("x", x)), timeout=TIMEOUT))]
    calls += [
        asyncio.ensure_future(stub.Predict(predict_request("slow", raw_tensor("x", x)), timeout=TIMEOUT))
        for _ in range(7)
    ]
    assert await health_is_serving(budget_channel)
    outcomes = await asyncio.gather(*calls, return_exceptions=True)
    refusals = [o for o in outcomes if isinstance(o, grpc.aio.AioRpcError)]
    assert len(refusals) < len(outcomes), outcomes  # some ran
    assert refusals, "eight concurrent requests of 1.1 MiB fit a 2 MiB budget"
    for error in refusals:
        assert error.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "in-flight budget" in error.details() and "max_inflight_bytes" in error.details()
    # Everything held was given back: a request now runs.
    reply = await stub.Predict(predict_request("slow", raw_tensor("x", x)), timeout=TIMEOUT)
    assert list(reply.outputs[0].shape) == [384, 384]


async def test_server_info_reports_the_limits(budget_channel):
    info = await predict_pb2_grpc.PredictStub(budget_channel).GetServerInfo(pb.GetServerInfoRequest(), timeout=TIMEOUT)
    assert info.limits.max_inflight_bytes == SMALL_BUDGET
    assert (info.limits.max_tensor_elements, info.limits.max_tensor_rank) == (1 << 28, 16)
    assert info.limits.max_bytes_elements == 1 << 20 and info.limits.max_message_bytes == 64 * MiB
