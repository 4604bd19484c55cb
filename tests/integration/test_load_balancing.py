"""Client-side load balancing across replicas (what a headless Service's DNS gives a client)."""

from __future__ import annotations

import numpy as np

from clients import AsyncSwitchyardClient
from service.server import SwitchyardServer
from tests.integration.conftest import make_settings

ONES = {"a": np.ones((1, 4), np.float32), "b": np.ones((1, 4), np.float32)}


def served(server: SwitchyardServer) -> int:
    return server.repository.get("add").runner.stats.success_count


async def test_round_robin_spreads_requests_and_survives_a_stopped_replica(model_repo):
    replicas = [SwitchyardServer(make_settings(model_repo, models=["add"])) for _ in range(3)]
    ports = [await r.start() for r in replicas]
    for replica in replicas:
        await replica.load_models()
    client = AsyncSwitchyardClient([f"127.0.0.1:{p}" for p in ports])
    try:
        for i in range(30):
            out = await client.predict("add", {"a": np.full((1, 4), i, np.float32), "b": ONES["b"]}, timeout=10)
            assert out["sum"][0, 0] == i + 1
        counts = [served(r) for r in replicas]
        assert sum(counts) == 30
        assert all(c >= 5 for c in counts), counts  # every replica took its share

        await replicas[0].stop(grace=1)
        before = [served(r) for r in replicas[1:]]
        for _ in range(20):
            await client.predict("add", ONES, timeout=10)
        after = [served(r) for r in replicas[1:]]
        assert sum(after) - sum(before) == 20
        assert all(a > b for a, b in zip(after, before, strict=True)), (before, after)
    finally:
        await client.close()
        for replica in replicas:
            await replica.stop(grace=0)
