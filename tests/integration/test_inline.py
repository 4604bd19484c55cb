"""A real server: a fast model's requests run on the event loop (switchyard_inline_executions_total),
a slow model's never do and never hold up the fast one, and SWITCHYARD_INLINE_COMPUTE_US=0 turns it off.

The threshold is 5 ms here (the default is 500 µs) so a loaded machine does not decide the outcome.
"""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from tests.conftest import write_model
from tests.fixtures.models import tiny_cnn
from tests.integration.conftest import make_settings, start_server, until
from tests.integration.test_metrics import scrape, value
from tests.service.scheduling.test_inline import matmul_chain

PLAIN = "backend: onnxruntime\nonnxruntime: {intra_op_threads: 1}\n"
TINY = {"input": np.zeros((1, 3, 64, 64), np.float32)}


@pytest.fixture(scope="module")
def inline_repo(tmp_path_factory):
    repo = tmp_path_factory.mktemp("inline_repo")
    write_model(repo, "fast", tiny_cnn(), PLAIN)
    write_model(repo, "slow", matmul_chain(repeats=64), PLAIN)
    return repo


def inline_count(port: int, model: str) -> float:
    labels = {"model": model, "version": "1", "backend": "onnxruntime", "device": "cpu"}
    return value(scrape(port), "switchyard_inline_executions_total", **labels)


async def test_fast_requests_run_inline_and_are_answered_while_a_slow_model_computes(inline_repo):
    async for running in start_server(make_settings(inline_repo, metrics_port=0, inline_compute_us=5000)):
        port = running.server.metrics.port
        fast = running.server.repository.get("fast").ready_runner
        slow = running.server.repository.get("slow").ready_runner
        gate = fast.inline_gate
        assert gate is not None
        calls = 0
        while not gate.open:  # its first calls teach the runner how long it takes
            await running.client.predict("fast", TINY, timeout=30)
            calls += 1
            assert calls < 200, f"fast model's p95 {gate.p95 * 1e6:.0f} µs never fell under 5 ms"
        for _ in range(8):
            await running.client.predict("slow", {"x": np.ones((256, 256), np.float32)}, timeout=60)
        long_call = asyncio.ensure_future(
            running.client.predict("slow", {"x": np.ones((4096, 256), np.float32)}, timeout=300)
        )
        await until(lambda batcher=slow.batcher: batcher.busy == 1, "the slow request to reach its executor")
        before = await asyncio.to_thread(inline_count, port, "fast")
        for _ in range(20):
            out = await running.client.predict("fast", TINY, timeout=30)
            assert out["probabilities"].shape == (1, 10)
        assert not long_call.done()  # twenty fast replies came back while the slow call still ran
        assert await asyncio.to_thread(inline_count, port, "fast") == before + 20
        assert (await long_call)["y"].shape == (4096, 256)
        assert await asyncio.to_thread(inline_count, port, "slow") == 0
        assert slow.stats.execution_count == 9


async def test_the_environment_variable_turns_inline_execution_off(inline_repo, monkeypatch):
    monkeypatch.setenv("SWITCHYARD_INLINE_COMPUTE_US", "0")
    async for running in start_server(make_settings(inline_repo, metrics_port=0)):
        assert running.server.settings.inline_compute_us == 0
        for _ in range(30):
            await running.client.predict("fast", TINY, timeout=30)
        assert running.server.repository.get("fast").ready_runner.inline_gate is None
        assert await asyncio.to_thread(inline_count, running.server.metrics.port, "fast") == 0
