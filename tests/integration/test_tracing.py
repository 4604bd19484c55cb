"""Traces a real server process exports over OTLP to a real receiver (tests/fixtures/otlp.py)."""

from __future__ import annotations

import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import grpc
import numpy as np
import pytest

from protos import codec
from protos.inference import grpc_service_pb2 as oip
from protos.inference import grpc_service_pb2_grpc as oip_grpc
from protos.switchyard.v1 import predict_pb2 as pb
from protos.switchyard.v1 import predict_pb2_grpc
from tests.conftest import serving, write_model
from tests.fixtures import models
from tests.fixtures.otlp import STAGES, otlp_receiver, stage_spans

# Export within 50 ms of a span ending, so waits on the receiver are short.
FAST_EXPORT = {"OTEL_BSP_SCHEDULE_DELAY": "50"}
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"
SLOW_SIDE = 768


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("traced")
    write_model(root, "tiny_cnn", models.tiny_cnn(), "backend: onnxruntime\n")
    # Hundreds of ms of matrix products: slower than the threshold below on any machine here.
    write_model(root, "slow", models.slow_model(SLOW_SIDE, repeats=120), "backend: onnxruntime\n")
    return root


@contextmanager
def _traced(repo: Path, endpoint: str, *flags: str) -> Iterator[str]:
    """A server exporting to `endpoint`; yields its address and stops it (SIGTERM, which flushes the exporter)."""
    with serving(sys.executable, repo, "--otel-endpoint", endpoint, *flags, env=FAST_EXPORT) as (_, address):
        yield address


def _tiny_request(request_id: str) -> pb.PredictRequest:
    request = pb.PredictRequest(model="tiny_cnn", id=request_id)
    tensor = request.inputs.add(name="input", datatype="FP32", shape=[1, 3, 64, 64])
    tensor.raw_contents = np.zeros((1, 3, 64, 64), np.float32).tobytes()
    return request


def test_a_request_is_one_server_span_with_its_stages(repo) -> None:
    with otlp_receiver() as (receiver, endpoint):
        with _traced(repo, endpoint, "--trace-rate", "1") as address:
            with grpc.insecure_channel(address) as channel:
                predict_pb2_grpc.PredictStub(channel).Predict(_tiny_request("r-1"))
            spans = receiver.wait_for(lambda got: STAGES <= {s.name for s in got})
    server = next(s for s in spans if s.name == "switchyard.v1.Predict/Predict")
    assert server.kind == 2  # SERVER
    assert server.attributes["rpc.system"] == "grpc"
    assert server.attributes["rpc.service"] == "switchyard.v1.Predict"
    assert server.attributes["rpc.method"] == "Predict"
    assert server.attributes["rpc.grpc.status_code"] == 0
    assert server.attributes["switchyard.model"] == "tiny_cnn"
    assert server.attributes["switchyard.request_id"] == "r-1"
    assert server.resource["service.name"] == "switchyard"
    stages = stage_spans(spans, server)
    for stage in stages.values():
        assert server.start_ns <= stage.start_ns <= stage.end_ns <= server.end_ns
    infer = stages["infer"].attributes
    assert infer["switchyard.backend"] == "onnxruntime"
    assert infer["switchyard.device"] == "cpu"
    assert infer["switchyard.batch_size"] == 1
    assert stages["decode"].end_ns <= stages["queue"].start_ns


def test_a_client_traceparent_is_continued_in_both_protocols(repo) -> None:
    metadata = (("traceparent", f"00-{TRACE_ID}-{PARENT_ID}-01"),)
    with otlp_receiver() as (receiver, endpoint):
        # Rate 0: only the client's sampled flag makes these traces leave the server.
        with _traced(repo, endpoint, "--trace-rate", "0") as address:
            with grpc.insecure_channel(address) as channel:
                predict_pb2_grpc.PredictStub(channel).Predict(_tiny_request("p"), metadata=metadata)
                request = oip.ModelInferRequest(model_name="tiny_cnn", id="o")
                tensor = request.inputs.add(name="input", datatype="FP32", shape=[1, 3, 64, 64])
                request.raw_input_contents.append(codec.encode_raw(np.zeros((1, 3, 64, 64), np.float32)))
                del tensor
                oip_grpc.GRPCInferenceServiceStub(channel).ModelInfer(request, metadata=metadata)
            spans = receiver.wait_for(lambda got: sum(s.name == "encode" for s in got) >= 2)
    roots = [s for s in spans if s.kind == 2]
    assert {r.name for r in roots} == {"switchyard.v1.Predict/Predict", "inference.GRPCInferenceService/ModelInfer"}
    assert all(r.trace_id == TRACE_ID and r.parent_id == PARENT_ID for r in roots)
    assert all(s.trace_id == TRACE_ID for s in spans)


def test_rate_zero_exports_only_errors_and_slow_requests(repo) -> None:
    with otlp_receiver() as (receiver, endpoint):
        # Leaving the block stops the server, which flushes whatever was queued: anything
        # wrongly exported arrives before the check below.
        with _traced(repo, endpoint, "--trace-rate", "0", "--trace-slow-ms", "300") as address:
            with grpc.insecure_channel(address) as channel:
                stub = predict_pb2_grpc.PredictStub(channel)
                for i in range(5):
                    stub.Predict(_tiny_request(f"fast-{i}"))
                with pytest.raises(grpc.RpcError) as failed:
                    stub.Predict(pb.PredictRequest(model="no_such_model", id="missing"))
                assert failed.value.code() == grpc.StatusCode.NOT_FOUND
                slow = pb.PredictRequest(model="slow", id="slow-one")
                tensor = slow.inputs.add(name="x", datatype="FP32", shape=[SLOW_SIDE, SLOW_SIDE])
                tensor.raw_contents = np.ones((SLOW_SIDE, SLOW_SIDE), np.float32).tobytes()
                stub.Predict(slow)
            spans = receiver.wait_for(lambda got: {"missing", "slow-one"} <= _request_ids(got))
    ids = _request_ids(receiver.wait_for(lambda got: True))
    assert ids == {"missing", "slow-one"}, ids
    error = next(s for s in spans if s.attributes.get("switchyard.request_id") == "missing")
    assert error.status_code == 2 and error.attributes["rpc.grpc.status_code"] == 5
    slow_root = next(s for s in spans if s.attributes.get("switchyard.request_id") == "slow-one")
    children = {s.name for s in spans if s.parent_id == slow_root.span_id}
    assert STAGES <= children  # the whole trace, not only its root


def _request_ids(spans) -> set[str]:
    return {str(s.attributes["switchyard.request_id"]) for s in spans if "switchyard.request_id" in s.attributes}


def test_a_collector_that_never_answers_does_not_hold_the_shutdown(repo) -> None:
    import socket
    import time

    # Accepts connections (the kernel's backlog) and never speaks: every export waits for its deadline.
    with socket.create_server(("127.0.0.1", 0)) as silent:
        endpoint = f"127.0.0.1:{silent.getsockname()[1]}"
        env = {**FAST_EXPORT, "SWITCHYARD_OTEL_TIMEOUT_SECONDS": "0.5"}
        flags = ("--otel-endpoint", endpoint, "--trace-rate", "1")
        with serving(sys.executable, repo, *flags, env=env) as (proc, address):
            with grpc.insecure_channel(address) as channel:
                predict_pb2_grpc.PredictStub(channel).Predict(_tiny_request("r-silent"))
            started = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=60) == 0
        # The exporter's own default (10 s per export, then the flush at shutdown) would be far longer.
        assert time.monotonic() - started < 8
