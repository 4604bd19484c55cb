"""Unary and streaming Predict against a real server with real ONNX Runtime / OpenVINO models."""

from __future__ import annotations

import asyncio

import grpc
import numpy as np
import pytest

from clients import PredictError
from clients.request import build_request, stream_request
from protos.switchyard.v1 import predict_pb2 as pb


async def test_unary_raw_round_trip_gives_correct_values(running):
    a = np.arange(8, dtype=np.float32).reshape(2, 4)
    b = np.full((2, 4), 0.5, dtype=np.float32)
    out = await running.client.predict("add", {"a": a, "b": b}, request_id="req-1")
    np.testing.assert_array_equal(out["sum"], a + b)
    np.testing.assert_array_equal(out["diff"], a - b)


async def test_request_id_and_version_are_echoed(running):
    request = build_request(
        "add", {"a": np.ones((1, 4), np.float32), "b": np.ones((1, 4), np.float32)}, request_id="abc-42"
    )
    response = await running.stub.Predict(request)
    assert (response.id, response.model, response.version) == ("abc-42", "add", "1")


async def test_requested_outputs_subset(running):
    out = await running.client.predict(
        "add", {"a": np.ones((1, 4), np.float32), "b": np.ones((1, 4), np.float32)}, outputs=["diff"]
    )
    assert list(out) == ["diff"]
    np.testing.assert_array_equal(out["diff"], np.zeros((1, 4), np.float32))


async def test_typed_contents_in_typed_contents_out(running):
    request = pb.PredictRequest(
        model="add",
        inputs=[
            pb.Tensor(name="a", datatype="FP32", shape=[1, 4], contents=pb.TensorContents(fp32_contents=[1, 2, 3, 4])),
            pb.Tensor(name="b", datatype="FP32", shape=[1, 4], contents=pb.TensorContents(fp32_contents=[4, 3, 2, 1])),
        ],
    )
    response = await running.stub.Predict(request)
    outputs = {t.name: t for t in response.outputs}
    assert not outputs["sum"].raw_contents
    assert list(outputs["sum"].contents.fp32_contents) == [5, 5, 5, 5]
    assert list(outputs["diff"].contents.fp32_contents) == [-3, -1, 1, 3]


@pytest.mark.parametrize(
    "model,array",
    [
        ("identity_int64", np.array([[-(2**40), 7]], dtype=np.int64)),
        ("identity_fp16", np.array([[1.5, -2.25, 65504]], dtype=np.float16)),
        ("identity_bool", np.array([[True, False, True]])),
        ("identity_uint8", np.array([[0, 255, 17]], dtype=np.uint8)),
        ("identity_int8", np.array([[-128, 127]], dtype=np.int8)),
        ("identity_fp64", np.array([[1e300, -1e-300]], dtype=np.float64)),
        ("identity_string", np.array([[b"hello", b"", "grüße".encode()]], dtype=object)),
    ],
)
async def test_datatypes_round_trip_raw(running, model, array):
    out = await running.client.predict(model, {"x": array})
    assert out["y"].shape == array.shape
    if array.dtype == object:
        assert [bytes(v) for v in out["y"].ravel()] == list(array.ravel())
    else:
        assert out["y"].dtype == array.dtype
        np.testing.assert_array_equal(out["y"], array)


async def test_version_selection(running):
    ones = {"a": np.ones((1, 4), np.float32), "b": np.ones((1, 4), np.float32)}
    response = await running.stub.Predict(build_request("versioned", ones))
    assert response.version == "2"
    response = await running.stub.Predict(build_request("versioned", ones, version="1"))
    assert response.version == "1"


async def test_stream_in_order_with_in_band_errors(running):
    def requests():
        for i in range(20):
            a = np.full((1, 4), i, np.float32)
            if i % 7 == 3:  # a bad message in the middle: wrong input name
                yield stream_request(build_request("add", {"a": a, "nope": a}, request_id=f"r{i}"))
            else:
                yield stream_request(build_request("add", {"a": a, "b": a}, request_id=f"r{i}"))

    replies = [r async for r in running.stub.PredictStream(requests())]
    assert [r.response.id for r in replies] == [f"r{i}" for i in range(20)]
    for i, reply in enumerate(replies):
        if i % 7 == 3:
            assert reply.error.code == "INVALID_ARGUMENT"
            assert "'nope'" in reply.error.message
            assert (reply.response.model, reply.response.outputs) == ("add", [])
        else:
            assert not reply.HasField("error")
            value = np.frombuffer(reply.response.outputs[0].raw_contents, np.float32)
            np.testing.assert_array_equal(value, np.full(4, 2 * i, np.float32))


async def test_stream_unordered_returns_every_reply(running):
    def requests():
        first = build_request(
            "slow", {"x": np.ones((384, 384), np.float32)}, request_id="slow", parameters={"unordered": True}
        )
        yield stream_request(first)
        for i in range(5):
            yield stream_request(
                build_request(
                    "add", {"a": np.ones((1, 4), np.float32), "b": np.ones((1, 4), np.float32)}, request_id=f"fast{i}"
                )
            )

    ids = [r.response.id async for r in running.stub.PredictStream(requests())]
    assert sorted(ids) == sorted(["slow"] + [f"fast{i}" for i in range(5)])
    assert ids[-1] == "slow"  # the fast ones overtook it


async def test_stream_client_helper_yields_errors_in_place(running):
    requests = [
        build_request("add", {"a": np.ones((1, 4), np.float32), "b": np.ones((1, 4), np.float32)}, request_id="ok"),
        build_request("missing_model", {"a": np.ones((1, 4), np.float32)}, request_id="bad"),
    ]
    results = [r async for r in running.client.predict_stream(requests)]
    assert isinstance(results[0], dict)
    assert isinstance(results[1], PredictError)
    assert results[1].code == grpc.StatusCode.NOT_FOUND and results[1].request_id == "bad"


async def test_sync_client_against_live_server(running):
    from clients import SwitchyardClient

    def call():
        with SwitchyardClient(running.address) as client:
            return client.predict(
                "add", {"a": np.ones((1, 4), np.float32), "b": np.ones((1, 4), np.float32)}, timeout=10
            )

    out = await asyncio.to_thread(call)
    np.testing.assert_array_equal(out["sum"], np.full((1, 4), 2, np.float32))
