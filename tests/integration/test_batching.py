"""Dynamic batching on a real server: every client gets exactly its own outputs, and the
queue's limits (full, deadlines, cancellation, priority, unload) hold over the wire.

To make "queued" deterministic without sleeps, a test holds the model's only instance
with a gate around the real backend: requests then provably wait in our queue.
"""

from __future__ import annotations

import asyncio
import functools
import threading
import time
from contextlib import asynccontextmanager

import grpc
import numpy as np
import onnxruntime as ort
import pytest

from clients import PredictError
from clients.request import build_request
from protos.inference import grpc_service_pb2 as oip
from protos.inference import grpc_service_pb2_grpc as oip_grpc
from tests.conftest import write_model
from tests.fixtures import models
from tests.integration.conftest import make_settings, start_server

BATCHED = "max_batch_size: 16\ndynamic_batching: {max_queue_delay_us: 2000}\nbackend: onnxruntime\n"


@pytest.fixture(scope="module")
def batching_repo(tmp_path_factory):
    repo = tmp_path_factory.mktemp("batching_repo")
    write_model(repo, "cnn", models.tiny_cnn(), BATCHED)
    write_model(repo, "add", models.add_model(), BATCHED)
    write_model(repo, "add_plain", models.add_model(), "backend: onnxruntime\n")
    write_model(
        repo,
        "small_queue",
        models.add_model(),
        "max_batch_size: 4\ndynamic_batching: {max_queue_size: 2}\nbackend: onnxruntime\n",
    )
    return repo


@pytest.fixture(scope="module")
async def server(batching_repo):
    async for item in start_server(make_settings(batching_repo)):
        yield item


@pytest.fixture(scope="module")
def reference(batching_repo):
    """The same ONNX models in-process, one request at a time: the expected values."""
    sessions = {m: ort.InferenceSession(str(batching_repo / m / "1" / "model.onnx")) for m in ("cnn", "add")}

    def run(model: str, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        session = sessions["add" if model.startswith("add") else model]
        return dict(zip([o.name for o in session.get_outputs()], session.run(None, inputs), strict=True))

    return run


class Gate:
    """Wraps a real backend: infer() blocks until opened and logs what it ran."""

    def __init__(self, inner) -> None:
        self.inner, self.opened, self.entered = inner, threading.Event(), threading.Event()
        self.ran: list[dict[str, np.ndarray]] = []

    def infer(self, inputs):
        self.entered.set()
        self.opened.wait(30)
        self.ran.append({k: np.array(v) for k, v in inputs.items()})
        return self.inner.infer(inputs)

    def unload(self) -> None:
        self.inner.unload()


@asynccontextmanager
async def held(server, model: str):
    """Occupy the model's only instance with one request; yields (gate, runner, first call)."""
    runner = server.server.repository.get(model).runner
    gate = Gate(runner.backend)
    # A blocking backend must run on the executor: an earlier test may have measured the model
    # fast enough to run on the event loop, where the holder would block the loop itself.
    runner.backend, inline_gate, runner.inline_gate = gate, runner.inline_gate, None
    first = asyncio.ensure_future(server.client.predict(model, add_inputs(-1.0), timeout=30))
    try:
        await asyncio.to_thread(gate.entered.wait, 30)
        yield gate, runner, first
    finally:
        gate.opened.set()
        runner.backend, runner.inline_gate = gate.inner, inline_gate
        await asyncio.gather(first, return_exceptions=True)


async def until(condition, limit_s: float = 30.0) -> None:
    """Wait for an in-process condition by yielding to the loop (no sleeping; bounded)."""
    give_up = time.monotonic() + limit_s
    while not condition():
        if time.monotonic() > give_up:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0)


def add_inputs(value: float, rows: int = 1) -> dict[str, np.ndarray]:
    a = np.full((rows, 4), value, np.float32) + np.arange(rows, dtype=np.float32)[:, None]
    return {"a": a, "b": np.full((rows, 4), 0.5, np.float32)}


async def test_concurrent_clients_mixed_models_and_shapes_each_get_their_own_values(server, reference):
    rng = np.random.default_rng(11)
    calls = []
    for i in range(96):
        model = ("cnn", "add", "add_plain")[i % 3]
        rows = 1 + i % 4
        if model == "cnn":
            inputs = {"input": rng.normal(size=(rows, 3, 64, 64)).astype(np.float32)}
        else:
            inputs = {
                "a": rng.normal(size=(rows, 4)).astype(np.float32),
                "b": rng.normal(size=(rows, 4)).astype(np.float32),
            }
        calls.append((model, inputs))
    before = {m: server.server.repository.get(m).runner.stats.inference_count for m in ("cnn", "add", "add_plain")}
    results = await asyncio.gather(*(server.client.predict(m, x, timeout=30) for m, x in calls))
    for (model, inputs), got in zip(calls, results, strict=True):
        expected = reference(model, inputs)
        assert set(got) == set(expected)
        for name, value in expected.items():
            np.testing.assert_allclose(got[name], value, rtol=1e-5, atol=1e-6)
    for model in before:
        # A model without a batch dimension counts one item per request.
        items = sum(x[next(iter(x))].shape[0] if model != "add_plain" else 1 for m, x in calls if m == model)
        assert server.server.repository.get(model).runner.stats.inference_count - before[model] == items


async def test_requests_queued_behind_a_busy_instance_run_as_one_batch(server, reference):
    async with held(server, "add") as (gate, runner, _):
        executions = runner.stats.execution_count
        inputs = [add_inputs(float(i), rows=1 + i % 2) for i in range(6)]
        calls = [asyncio.ensure_future(server.client.predict("add", x, timeout=30)) for x in inputs]
        await until(lambda: runner.queue_depth == 6)
        gate.opened.set()
        results = await asyncio.gather(*calls)
    for x, got in zip(inputs, results, strict=True):
        np.testing.assert_array_equal(got["sum"], x["a"] + x["b"])
        np.testing.assert_array_equal(got["diff"], x["a"] - x["b"])
    assert [r["a"].shape[0] for r in gate.ran] == [1, 9]  # the holder, then all six together
    assert runner.stats.execution_count - executions == 2


async def test_frames_from_many_streams_batch_together(server):
    async with held(server, "add") as (gate, runner, _):

        def frames(stream: int):
            return [build_request("add", add_inputs(100.0 * stream + i), request_id=f"{stream}-{i}") for i in range(5)]

        async def run_stream(stream: int):
            return [r async for r in server.client.predict_stream(frames(stream), timeout=30)]

        streams = [asyncio.ensure_future(run_stream(s)) for s in range(4)]
        await until(lambda: runner.queue_depth == 20)
        gate.opened.set()
        results = await asyncio.gather(*streams)
    for stream, replies in enumerate(results):
        for i, reply in enumerate(replies):
            np.testing.assert_array_equal(reply["sum"], add_inputs(100.0 * stream + i)["a"] + 0.5)
    assert max(r["a"].shape[0] for r in gate.ran) == 16  # max_batch_size: the 20 frames took two batches
    assert sum(r["a"].shape[0] for r in gate.ran) == 21


async def test_request_larger_than_max_batch_size_is_invalid_argument_naming_the_limit(server):
    with pytest.raises(PredictError) as err:
        await server.client.predict("add", add_inputs(0.0, rows=17), timeout=10)
    assert err.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "max_batch_size 16" in err.value.details


async def test_queue_full_is_resource_exhausted_at_once(server):
    async with held(server, "small_queue") as (gate, runner, _):
        queued = [
            asyncio.ensure_future(server.client.predict("small_queue", add_inputs(i), timeout=30)) for i in range(2)
        ]
        await until(lambda: runner.queue_depth == 2)
        with pytest.raises(PredictError) as err:
            await server.client.predict("small_queue", add_inputs(9.0), timeout=30)
        assert err.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "max_queue_size" in err.value.details
        gate.opened.set()
        assert len(await asyncio.gather(*queued)) == 2


async def test_deadline_expiring_in_the_queue_is_dropped_before_execution(server):
    async with held(server, "add_plain") as (gate, runner, _):
        with pytest.raises(PredictError) as by_param:
            await server.client.predict("add_plain", add_inputs(7.0), parameters={"timeout_ms": 20}, timeout=30)
        assert by_param.value.code == grpc.StatusCode.DEADLINE_EXCEEDED
        assert "not run" in by_param.value.details
        failures = runner.stats.failure_count
        with pytest.raises(PredictError) as by_grpc:
            await server.client.predict("add_plain", add_inputs(8.0), timeout=0.05)
        assert by_grpc.value.code == grpc.StatusCode.DEADLINE_EXCEEDED
        await until(lambda: runner.stats.failure_count == failures + 1 and runner.queue_depth == 0)
        gate.opened.set()
    ran = [float(r["a"][0, 0]) for r in gate.ran]
    assert ran == [-1.0]  # only the holder executed


async def test_cancelled_call_is_removed_from_the_queue_and_not_executed(server):
    async with held(server, "add_plain") as (gate, runner, _):
        call = server.stub.Predict(build_request("add_plain", add_inputs(5.0)), timeout=30)
        kept = asyncio.ensure_future(server.client.predict("add_plain", add_inputs(6.0), timeout=30))
        await until(lambda: runner.queue_depth == 2)
        call.cancel()
        await until(lambda: runner.queue_depth == 1)
        gate.opened.set()
        await kept
    assert [float(r["a"][0, 0]) for r in gate.ran] == [-1.0, 6.0]
    assert runner.stats.by_code.get("CANCELLED", 0) >= 1


async def test_higher_priority_runs_first(server):
    async with held(server, "add_plain") as (gate, runner, _):
        order = [(1.0, 0), (2.0, 0), (3.0, 7), (4.0, 1)]
        calls = []
        for value, priority in order:
            calls.append(
                asyncio.ensure_future(
                    server.client.predict("add_plain", add_inputs(value), parameters={"priority": priority}, timeout=30)
                )
            )
            await until(functools.partial(lambda n: runner.queue_depth == n, len(calls)))
        gate.opened.set()
        await asyncio.gather(*calls)
    assert [float(r["a"][0, 0]) for r in gate.ran] == [-1.0, 3.0, 4.0, 1.0, 2.0]


async def test_oip_requests_batch_with_their_own_slices(server):
    stub = oip_grpc.GRPCInferenceServiceStub(server.channel)

    def infer_request(value: float) -> oip.ModelInferRequest:
        request = oip.ModelInferRequest(model_name="add")
        for name, array in add_inputs(value).items():
            request.inputs.add(name=name, datatype="FP32", shape=array.shape)
            request.raw_input_contents.append(array.tobytes())
        return request

    async with held(server, "add") as (gate, runner, _):
        calls = [asyncio.ensure_future(stub.ModelInfer(infer_request(float(i)), timeout=30)) for i in range(5)]
        await until(lambda: runner.queue_depth == 5)
        gate.opened.set()
        replies = await asyncio.gather(*calls)
    for i, reply in enumerate(replies):
        names = [o.name for o in reply.outputs]
        got = np.frombuffer(reply.raw_output_contents[names.index("sum")], np.float32)
        np.testing.assert_array_equal(got, np.full(4, i + 0.5, np.float32))
    assert [r["a"].shape[0] for r in gate.ran] == [1, 5]


async def test_unload_mid_queue_every_request_finishes_or_fails_clearly(batching_repo):
    async for server in start_server(make_settings(batching_repo)):
        async with held(server, "add") as (gate, runner, first):
            calls = [
                asyncio.ensure_future(server.client.predict("add", add_inputs(float(i)), timeout=30)) for i in range(4)
            ]
            await until(lambda: runner.queue_depth == 4)
            unload = asyncio.ensure_future(server.server.repository.unload("add", timeout=0))
            outcomes = await asyncio.gather(*calls, return_exceptions=True)
            gate.opened.set()
            await unload
            assert (await first)["sum"].shape == (1, 4)  # the running one finished
        for outcome in outcomes:
            assert isinstance(outcome, PredictError) and outcome.code == grpc.StatusCode.UNAVAILABLE
            assert "unloaded before the request ran" in outcome.details
        assert [r["a"].shape[0] for r in gate.ran] == [1]


async def test_shutdown_mid_queue_loses_nothing(batching_repo):
    async for server in start_server(make_settings(batching_repo)):
        async with held(server, "add") as (gate, runner, first):
            calls = [
                asyncio.ensure_future(server.client.predict("add", add_inputs(float(i)), timeout=30)) for i in range(4)
            ]
            await until(lambda: runner.queue_depth == 4)
            stop = asyncio.ensure_future(server.server.stop(grace=0))
            outcomes = await asyncio.gather(*calls, return_exceptions=True)
            gate.opened.set()
            await stop
        for outcome in outcomes:  # each finished with a status: none hangs, none is run twice
            assert isinstance(outcome, PredictError)
            assert outcome.code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED)
        assert [r["a"].shape[0] for r in gate.ran] == [1]
