"""A REST request is one server span (a client's traceparent continued) with the same stage spans
as a gRPC call, exported by a real server process to a real OTLP receiver."""

from __future__ import annotations

import sys
from pathlib import Path

import httpx
import numpy as np
import pytest

from tests.conftest import free_port, serving, write_model
from tests.fixtures import models
from tests.fixtures.otlp import STAGES, otlp_receiver, stage_spans
from tests.integration.test_tracing import FAST_EXPORT, PARENT_ID, TRACE_ID


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("rest_traced")
    write_model(root, "tiny_cnn", models.tiny_cnn(), "backend: onnxruntime\n")
    return root


def test_a_rest_request_is_one_server_span_with_its_stages(repo) -> None:
    port = free_port()
    body = {
        "id": "rest-1",
        "inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 3, 64, 64], "data": np.zeros(12288).tolist()}],
    }
    with otlp_receiver() as (receiver, endpoint):
        flags = ("--otel-endpoint", endpoint, "--trace-rate", "1", "--http-port", str(port))
        with serving(sys.executable, repo, *flags, env=FAST_EXPORT):
            reply = httpx.post(
                f"http://127.0.0.1:{port}/v2/models/tiny_cnn/infer",
                json=body,
                headers={"traceparent": f"00-{TRACE_ID}-{PARENT_ID}-01", "x-request-id": "rest-1"},
                timeout=60,
            )
            assert reply.status_code == 200, reply.text
            spans = receiver.wait_for(lambda got: STAGES <= {s.name for s in got})
    server = next(s for s in spans if s.name == "POST /v2/models/{model}/infer")
    assert server.kind == 2  # SERVER
    assert server.trace_id == TRACE_ID and server.parent_id == PARENT_ID
    assert server.attributes["http.response.status_code"] == 200
    assert server.attributes["http.route"] == "/v2/models/{model}/infer"
    assert server.attributes["switchyard.model"] == "tiny_cnn"
    assert server.attributes["switchyard.request_id"] == "rest-1"
    stage_spans(spans, server)
