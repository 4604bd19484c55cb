"""Fast models run on the event loop, slow ones never do, and a model that slows down moves back
off the loop: real ModelRunners over real ONNX Runtime sessions.

Thresholds are generous (milliseconds, where the server's default is 500 µs) so the tests hold
on a loaded machine: the fast models here take well under 1 ms a call, the slow ones tens of ms.
"""

from __future__ import annotations

import asyncio

import numpy as np
import onnx
import pytest

from backends.base import Device
from backends.options import OnnxRuntimeOptions
from backends.registry import create_backend
from service.scheduling.batcher import BatchPolicy
from service.scheduling.inline import WARMUP_CALLS, InlineGate
from service.scheduling.runner import InferRequest, ModelRunner
from tests.fixtures.models import slow_model, tiny_cnn

THRESHOLD_S = 0.005


def matmul_chain(width: int = 256, repeats: int = 8) -> onnx.ModelProto:
    """x [N, width] -> `repeats` MatMuls with one [width, width] matrix -> y: time grows with N."""
    return slow_model(width, repeats, rows="N")


def real_runner(tmp_path, name: str, model: onnx.ModelProto, **kwargs) -> ModelRunner:
    path = tmp_path / f"{name}.onnx"
    onnx.save(model, path)
    backend = create_backend("onnxruntime")
    signature = backend.load(path, OnnxRuntimeOptions(intra_op_threads=1), Device("cpu"))
    kwargs.setdefault("inline_below_s", THRESHOLD_S)
    return ModelRunner(name, 1, backend, signature, device="cpu", **kwargs)


def tiny_request() -> InferRequest:
    return InferRequest({"input": np.zeros((1, 3, 64, 64), np.float32)})


def rows(n: int) -> InferRequest:
    return InferRequest({"x": np.ones((n, 256), np.float32)})


async def warm(runner: ModelRunner, request: InferRequest, limit: int = 200) -> int:
    """Calls until the runner's gate opens (a fresh session's first call may not count); how many."""
    gate = runner.inline_gate
    assert gate is not None
    calls = 0
    while not gate.open:
        await runner.infer(request)
        calls += 1
        assert calls < limit, f"the gate of '{runner.name}' did not open (p95 {gate.p95 * 1e6:.0f} µs)"
    return calls


async def test_a_fast_model_runs_on_the_loop_after_its_warmup_calls(tmp_path):
    fast = real_runner(tmp_path, "tiny", tiny_cnn())
    calls = await warm(fast, tiny_request())
    assert calls >= WARMUP_CALLS
    assert fast.stats.inline_execution_count == 0  # learning: the first calls take the executor
    await fast.infer(tiny_request())
    assert fast.stats.inline_execution_count == 1
    assert fast.stats.execution_count == calls + 1


async def test_a_slow_model_is_never_run_on_the_loop(tmp_path):
    slow = real_runner(tmp_path, "slow", matmul_chain())
    for _ in range(WARMUP_CALLS + 4):
        await slow.infer(rows(2048))  # 8 x 2048x256x256 MACs: tens of ms a call
    assert slow.stats.execution_count == WARMUP_CALLS + 4
    assert slow.stats.inline_execution_count == 0
    assert slow.inline_gate is not None and not slow.inline_gate.open


async def test_a_slow_model_running_never_delays_a_fast_one(tmp_path):
    fast = real_runner(tmp_path, "tiny", tiny_cnn())
    slow = real_runner(tmp_path, "slow", matmul_chain(repeats=64))
    await warm(fast, tiny_request())
    for _ in range(WARMUP_CALLS):
        await slow.infer(rows(256))
    long_call = asyncio.ensure_future(slow.infer(rows(4096)))  # 64 x 4096x256x256 MACs: seconds here
    await asyncio.sleep(0)  # one loop turn: the task's first step hands the call to the executor
    assert slow.batcher.busy == 1
    before = fast.stats.inline_execution_count
    for _ in range(20):
        await fast.infer(tiny_request())
    # Twenty fast requests answered (on the loop) while the slow call still runs beside them.
    assert not long_call.done()
    assert fast.stats.inline_execution_count == before + 20
    assert (await long_call)["y"].shape == (4096, 256)
    assert slow.stats.inline_execution_count == 0


async def test_a_model_whose_calls_grow_moves_back_off_the_loop(tmp_path):
    runner = real_runner(tmp_path, "growing", matmul_chain(), inline_below_s=0.001)
    await warm(runner, rows(1))
    await runner.infer(rows(1))
    assert runner.stats.inline_execution_count == 1
    inline_before, executions_before = runner.stats.inline_execution_count, runner.stats.execution_count
    for _ in range(4):
        await runner.infer(rows(4096))  # the same model, 4096 rows: tens of ms a call
    # Inputs larger than any call measured fast never run on the loop, not even the first:
    # the executor measured them, and the gate closed.
    assert runner.stats.inline_execution_count == inline_before
    assert runner.stats.execution_count - executions_before == 4
    assert runner.inline_gate is not None and not runner.inline_gate.open


async def test_a_request_larger_than_any_measured_fast_takes_the_executor_while_small_ones_stay_inline(tmp_path):
    runner = real_runner(tmp_path, "sized", matmul_chain(), inline_below_s=0.005)
    await warm(runner, rows(1))
    gate = runner.inline_gate
    assert gate is not None and gate.fast_bytes == rows(1).inputs["x"].nbytes
    before = runner.stats.inline_execution_count
    await runner.infer(rows(2))  # twice the largest input seen fast: the executor, and measured there
    assert runner.stats.inline_execution_count == before
    await runner.infer(rows(1))
    assert runner.stats.inline_execution_count == before + 1


async def test_batching_models_and_a_zero_threshold_keep_the_executor(tmp_path):
    batched = real_runner(tmp_path, "batched", tiny_cnn(), max_batch_size=8, batching=BatchPolicy(max_batch_size=8))
    off = real_runner(tmp_path, "off", tiny_cnn(), inline_below_s=0.0)
    for _ in range(WARMUP_CALLS + 4):
        await batched.infer(tiny_request())
        await off.infer(tiny_request())
    assert batched.inline_gate is None and off.inline_gate is None
    assert batched.stats.inline_execution_count == off.stats.inline_execution_count == 0


@pytest.mark.parametrize(
    ("calls", "opens"),
    [
        ([0.0001] * WARMUP_CALLS, True),
        ([0.0001] * (WARMUP_CALLS - 2) + [0.5, 0.5], False),  # two slow calls of eight: p95 is slow
        ([0.0001] * (WARMUP_CALLS - 1) + [0.5], True),  # one: a fresh session's first call
    ],
)
def test_the_gate_learns_from_its_warmup_calls(calls, opens):
    gate = InlineGate(0.0002)
    for seconds in calls:
        assert not gate.open
        gate.observe(seconds, seconds)
    assert gate.open is opens


def test_one_very_slow_call_closes_the_gate_and_short_calls_reopen_it():
    gate = InlineGate(0.0002)
    for _ in range(WARMUP_CALLS):
        gate.observe(0.0001, 0.0001)
    gate.observe(0.01, 0.01)  # 50 x the threshold: off the loop at once
    assert not gate.open
    calls = 0
    while not gate.open:
        gate.observe(0.0001, 0.0001)
        calls += 1
        assert calls < 10_000
    assert gate.p95 < 0.0002


def test_a_call_that_mostly_did_not_run_is_left_out_unless_very_slow():
    gate = InlineGate(0.0002)
    for _ in range(WARMUP_CALLS):
        gate.observe(0.0001, 0.0001)
    before = gate.p95
    gate.observe(0.0015, 0.0001)  # preempted: 1.5 ms of wall time, 0.1 ms on the CPU
    assert gate.p95 == before and gate.open
    gate.observe(0.05, 0.0001)  # 250 x the threshold: counted whatever the CPU time says
    assert not gate.open
