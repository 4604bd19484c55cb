"""What a real server process writes to stderr in json mode: one JSON object per line, and a
request line for a failed request that carries its request id and trace id."""

from __future__ import annotations

import json
import signal
import sys

import grpc
import pytest

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
                with pytest.raises(grpc.RpcError):
                    predict_pb2_grpc.PredictStub(channel).Predict(
                        pb.PredictRequest(model="missing_model", id="req-7"),
                        metadata=(("authorization", "Bearer s3cr3t"),),
                    )
            exported = receiver.wait_for(lambda spans: any(s.kind == 2 for s in spans))
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
            proc.stdout.close()
        text = log_path.read_text()
    # gRPC's C core may write its own lines; every line Python logging writes must be JSON.
    records = [json.loads(line) for line in text.splitlines() if not _grpc_core_line(line)]
    assert records and all({"time", "level", "logger", "message"} <= set(r) for r in records)
    failed = [r for r in records if r["logger"] == "switchyard.access"]
    assert len(failed) == 1, failed
    line = failed[0]
    assert (line["rpc"], line["status"], line["model"], line["request_id"]) == (
        "Predict",
        "NOT_FOUND",
        "missing_model",
        "req-7",
    )
    root = next(s for s in exported if s.kind == 2)
    assert line["trace_id"] == root.trace_id  # the same trace a collector received
    # The start-up table is records too, one per model, with the broken model's reason.
    summary = {r["model"]: r for r in records if r["logger"] == "switchyard.summary"}
    assert summary["tiny_cnn"]["state"] == "READY" and summary["bad_config"]["state"] == "UNAVAILABLE"
    assert "s3cr3t" not in text


def _grpc_core_line(line: str) -> bool:
    """A line of gRPC's C core (absl format, e.g. `I1201 16:38:42.180458 1643 fork_posix.cc:71] ...`)."""
    return line[:1] in "IWEF" and line[1:5].isdigit()
