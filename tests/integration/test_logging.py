"""What a real server process writes in json mode: every line of stdout and stderr one JSON
object (gRPC's C core included), and a request line for a failed request that carries its
request id and trace id."""

from __future__ import annotations

import json
import signal
import sys

import grpc
import numpy as np
import pytest

from clients.request import build_request
from protos.switchyard.v1 import predict_pb2 as pb
from protos.switchyard.v1 import predict_pb2_grpc
from tests.conftest import start_serve_process, write_model
from tests.fixtures import models
from tests.fixtures.otlp import otlp_receiver


def test_json_lines_carry_the_failing_request_and_its_trace(tmp_path) -> None:
    write_model(tmp_path, "tiny_cnn", models.tiny_cnn(), "backend: onnxruntime\n")
    write_model(tmp_path, "bad_config", models.add_model(), "backend: onnxruntime\nbatching: yes\n")
    log_path = tmp_path / "server.log"
    with otlp_receiver() as (receiver, endpoint), log_path.open("w+") as log:
        proc, address = start_serve_process(
            sys.executable,
            tmp_path,
            "--log-format",
            "json",
            "--otel-endpoint",
            endpoint,
            "--trace-rate",
            "0",
            stderr=log,
            env={"OTEL_BSP_SCHEDULE_DELAY": "50"},
        )
        try:
            with grpc.insecure_channel(address) as channel:
                stub = predict_pb2_grpc.PredictStub(channel)
                ok = build_request("tiny_cnn", {"input": np.zeros((1, 3, 64, 64), np.float32)}, request_id="req-6")
                assert stub.Predict(ok).outputs
                with pytest.raises(grpc.RpcError):
                    stub.Predict(
                        pb.PredictRequest(model="missing_model", id="req-7"),
                        metadata=(("authorization", "Bearer s3cr3t"),),
                    )
            exported = receiver.wait_for(
                lambda spans: any(s.attributes.get("switchyard.request_id") == "req-7" for s in spans)
            )
        finally:
            proc.send_signal(signal.SIGTERM)
            stdout = proc.stdout.read()  # what followed the port line, up to the exit
            proc.wait(timeout=30)
            proc.stdout.close()
        text = log_path.read_text()
    assert proc.returncode == 0
    # Every line, whoever wrote it: Python logging, a runtime, or gRPC's C core (which left to
    # itself writes absl lines such as `I1201 16:38:42.180458 1643 fork_posix.cc:71] ...`).
    records = [json.loads(line) for line in (text + stdout).splitlines()]
    assert records and all(isinstance(r, dict) and {"time", "level", "logger", "message"} <= set(r) for r in records)
    assert any(r["message"].startswith("shutting down") for r in records)
    # (the successful call is logged too if a loaded machine made it slower than --trace-slow-ms)
    failed = [r for r in records if r["logger"] == "switchyard.access" and r["status"] != "OK"]
    assert len(failed) == 1, failed
    line = failed[0]
    assert (line["rpc"], line["status"], line["model"], line["request_id"]) == (
        "Predict",
        "NOT_FOUND",
        "missing_model",
        "req-7",
    )
    root = next(s for s in exported if s.kind == 2 and s.attributes.get("switchyard.request_id") == "req-7")
    assert line["trace_id"] == root.trace_id  # the same trace a collector received
    # The start-up table is records too, one per model, with the broken model's reason.
    summary = {r["model"]: r for r in records if r["logger"] == "switchyard.summary"}
    assert summary["tiny_cnn"]["state"] == "READY" and summary["bad_config"]["state"] == "UNAVAILABLE"
    assert "s3cr3t" not in text
