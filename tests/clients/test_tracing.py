"""The clients carry the caller's trace context: a call made inside a span becomes part of that
trace on a real server process that exports to a real OTLP receiver (tests/fixtures/otlp.py)."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator

import numpy as np
import pytest
from opentelemetry.sdk.trace import TracerProvider

from clients import AsyncSwitchyardClient, SwitchyardClient
from clients.tracing import with_trace_context
from tests.conftest import ROOT, serving, write_model
from tests.fixtures import models
from tests.fixtures.otlp import Receiver, otlp_receiver

# A tracer of the test's own: nothing global is set, the current span travels in the context.
TRACER = TracerProvider().get_tracer("caller")
SERVER_SPAN = 2  # SPAN_KIND_SERVER in OTLP


@pytest.fixture(scope="module")
def traced_server(tmp_path_factory) -> Iterator[tuple[Receiver, str]]:
    repo = tmp_path_factory.mktemp("client-traces")
    write_model(repo, "add", models.add_model(), "backend: onnxruntime\n")
    # Rate 0: the server exports a request's spans only when the caller's context says sampled.
    with (
        otlp_receiver() as (receiver, endpoint),
        serving(
            sys.executable,
            repo,
            "--otel-endpoint",
            endpoint,
            "--trace-rate",
            "0",
            "--trace-slow-ms",
            "0",
            env={"OTEL_BSP_SCHEDULE_DELAY": "50"},
        ) as (_, address),
    ):
        yield receiver, address


def _inputs() -> dict[str, np.ndarray]:
    return {"a": np.ones((1, 4), np.float32), "b": np.ones((1, 4), np.float32)}


def _server_span_of(receiver: Receiver, trace_id: str, method: str):
    name = f"switchyard.v1.Predict/{method}"
    spans = receiver.wait_for(lambda got: any(s.trace_id == trace_id and s.name == name for s in got))
    return next(s for s in spans if s.trace_id == trace_id and s.name == name)


def test_a_sync_call_inside_a_span_joins_the_callers_trace(traced_server) -> None:
    receiver, address = traced_server
    with SwitchyardClient(address) as client, TRACER.start_as_current_span("caller") as caller:
        client.predict("add", _inputs(), metadata={"x-team": "vision"})
        client.get_model("add")
    context = caller.get_span_context()
    trace_id = f"{context.trace_id:032x}"
    server = _server_span_of(receiver, trace_id, "Predict")
    assert server.kind == SERVER_SPAN
    assert server.parent_id == f"{context.span_id:016x}"
    assert server.attributes["switchyard.model"] == "add"
    assert _server_span_of(receiver, trace_id, "GetModel").parent_id == server.parent_id


def test_an_asyncio_call_inside_a_span_joins_the_callers_trace(traced_server) -> None:
    receiver, address = traced_server

    async def call() -> tuple[int, int]:
        async with AsyncSwitchyardClient(address) as client:
            with TRACER.start_as_current_span("caller") as caller:
                await client.predict("add", _inputs())
            context = caller.get_span_context()
            return context.trace_id, context.span_id

    trace_id, span_id = asyncio.run(call())
    server = _server_span_of(receiver, f"{trace_id:032x}", "Predict")
    assert server.parent_id == f"{span_id:016x}"


def test_outside_a_span_a_call_carries_no_trace_context() -> None:
    assert with_trace_context((("x-team", "vision"),)) == (("x-team", "vision"),)


def test_inside_a_span_the_context_is_added_and_the_callers_own_header_wins() -> None:
    mine = ("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
    with TRACER.start_as_current_span("caller") as caller:
        added = dict(with_trace_context(()))
        kept = with_trace_context((mine,))
    context = caller.get_span_context()
    assert added["traceparent"] == f"00-{context.trace_id:032x}-{context.span_id:016x}-{context.trace_flags:02x}"
    assert kept == (mine,)


def test_the_clients_need_no_opentelemetry() -> None:
    """A base install lacks OpenTelemetry: the context is skipped, the call is unchanged."""
    import subprocess

    code = (
        "import sys\n"
        "sys.modules['opentelemetry'] = None  # import fails as it does where it is not installed\n"
        "from clients.tracing import with_trace_context\n"
        "print(with_trace_context((('k', 'v'),)))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert (proc.returncode, proc.stdout.strip()) == (0, "(('k', 'v'),)"), proc.stderr
