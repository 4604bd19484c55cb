"""A client with channels=N reaches every process of `serve --workers 2` (one connection per channel)."""

from __future__ import annotations

import asyncio
import sys

import numpy as np
import pytest

from clients import AsyncSwitchyardClient, SwitchyardClient
from tests.conftest import free_port, serving, write_model
from tests.fixtures.models import add_model

ONES = {"a": np.ones((1, 4), np.float32), "b": np.ones((1, 4), np.float32)}


@pytest.fixture(scope="module")
def two_workers(tmp_path_factory):
    repository = tmp_path_factory.mktemp("pool_repository")
    write_model(repository, "add", add_model(), "backend: onnxruntime\n")
    with serving(sys.executable, repository, "--workers", "2", "--port", str(free_port())) as (_, address):
        yield address


def test_a_sync_client_with_four_channels_reaches_both_workers(two_workers):
    # Four connections land on one of two workers each: all four on the same one happens with
    # probability 1/8 per client, so up to six clients are asked for one that sees both.
    seen: list[set[str]] = []
    for _ in range(6):
        with SwitchyardClient(two_workers, channels=4) as client:
            seen.append(set())
            for _ in range(8):  # two turns over the pool
                seen[-1].add(client.server_info(timeout=30).instance)
                assert client.predict("add", ONES, timeout=30)["sum"].tolist() == [[2, 2, 2, 2]]
        if len(seen[-1]) == 2:
            break
    assert len(seen[-1]) == 2, seen


def test_one_channel_stays_on_one_worker(two_workers):
    with SwitchyardClient(two_workers) as client:
        assert len({client.server_info(timeout=30).instance for _ in range(8)}) == 1


def test_an_async_client_with_four_channels_reaches_both_workers(two_workers):
    async def instances() -> set[str]:
        async with AsyncSwitchyardClient(two_workers, channels=4) as client:
            return {(await client.server_info(timeout=30)).instance for _ in range(8)}

    seen = [asyncio.run(instances())]
    while len(seen[-1]) < 2 and len(seen) < 6:  # as above: one client must see both workers
        seen.append(asyncio.run(instances()))
    assert len(seen[-1]) == 2, seen
