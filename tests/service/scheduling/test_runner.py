"""ModelRunner + DynamicBatcher over a fake backend: batches are real concatenations, each
request gets exactly its own slice back, and the statistics count items and executions."""

from __future__ import annotations

import asyncio
import threading

import numpy as np
import pytest

from backends.base import ModelSignature, TensorSpec
from protos.errors import BackendError, InvalidInputError
from service.scheduling.batcher import BatchPolicy
from service.scheduling.runner import InferRequest, ModelRunner
from tests.fixtures.clocks import ManualClock


class GatedBackend:
    """y = 2x + 1 per row; the first call waits until the test opens the gate."""

    name = "fake"

    def __init__(self, keep_batch_dim: bool = True) -> None:
        self.gate, self.entered = threading.Event(), threading.Event()
        self.batches: list[int] = []
        self.keep = keep_batch_dim

    def infer(self, inputs):
        self.entered.set()
        self.gate.wait(30)
        x = inputs["x"]
        self.batches.append(x.shape[0])
        y = x * 2 + 1
        return {
            "y": y if self.keep else y.sum(keepdims=False),
            "rows": np.arange(x.shape[0])[:, None] if self.keep else np.int64(0),
        }

    def unload(self) -> None:
        pass


SIGNATURE = ModelSignature(
    inputs=(TensorSpec("x", "FP32", (-1, -1)),),
    outputs=(TensorSpec("y", "FP32", (-1, -1)), TensorSpec("rows", "INT64", (-1, 1))),
)


def runner(backend, max_batch_size=16, delay=0.0) -> ModelRunner:
    return ModelRunner(
        "fake",
        1,
        backend,
        SIGNATURE,
        max_batch_size=max_batch_size,
        batching=BatchPolicy(max_batch_size=max_batch_size, max_queue_delay_s=delay),
        clock=ManualClock(),
    )


async def test_concurrent_requests_of_mixed_shapes_each_get_their_own_rows():
    backend = GatedBackend()
    run = runner(backend)
    first = asyncio.ensure_future(run.infer(InferRequest({"x": np.zeros((1, 4), np.float32)})))
    await asyncio.to_thread(backend.entered.wait, 30)  # the first batch holds the only instance
    rng = np.random.default_rng(0)
    inputs = [rng.normal(size=(1 + i % 3, 4 if i % 2 else 8)).astype(np.float32) for i in range(12)]
    tasks = [asyncio.ensure_future(run.infer(InferRequest({"x": x}, outputs=("y",)))) for x in inputs]
    await asyncio.sleep(0)
    backend.gate.set()
    results = await asyncio.gather(*tasks)
    for x, out in zip(inputs, results, strict=True):
        assert list(out) == ["y"]
        np.testing.assert_array_equal(out["y"], x * 2 + 1)
    assert (await first)["y"].shape == (1, 4)
    # Width 4 and width 8 never share a batch; together they hold all 12 requests' rows.
    assert backend.batches[0] == 1 and sorted(backend.batches[1:]) == sorted(
        [sum(1 + i % 3 for i in range(12) if i % 2), sum(1 + i % 3 for i in range(12) if not i % 2)]
    )
    stats = run.stats
    assert stats.success_count == 13 and stats.failure_count == 0
    assert stats.inference_count == 1 + sum(x.shape[0] for x in inputs)
    assert stats.execution_count == 3 and stats.batch_size.count == 3
    assert stats.by_code == {"OK": 13}
    await run.close()


async def test_request_over_max_batch_size_is_rejected_naming_the_limit():
    run = runner(GatedBackend(), max_batch_size=4)
    with pytest.raises(InvalidInputError, match="max_batch_size 4"):
        await run.infer(InferRequest({"x": np.zeros((5, 4), np.float32)}))
    assert run.stats.by_code == {"INVALID_ARGUMENT": 1}
    await run.close()


async def test_an_output_without_the_batch_dimension_fails_the_batch_clearly():
    backend = GatedBackend(keep_batch_dim=False)
    run = runner(backend)
    first = asyncio.ensure_future(run.infer(InferRequest({"x": np.zeros((1, 4), np.float32)})))
    await asyncio.to_thread(backend.entered.wait, 30)
    pair = [asyncio.ensure_future(run.infer(InferRequest({"x": np.ones((1, 4), np.float32)}))) for _ in range(2)]
    await asyncio.sleep(0)
    backend.gate.set()
    await first  # alone: nothing to split
    for task in pair:
        with pytest.raises(BackendError, match="batch dimension"):
            await task
    await run.close()
