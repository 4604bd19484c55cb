"""Bad input gets the right status and a message naming what was wrong; nothing else is disturbed."""

from __future__ import annotations

import asyncio

import grpc
import numpy as np
import pytest

from clients.request import build_request
from protos.switchyard.v1 import predict_pb2 as pb

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
        pb.PredictRequest(model="identity_string", inputs=[tensor("x", "BYTES", (1, 2), raw=b"\x05\0\0\0abc")]),
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
