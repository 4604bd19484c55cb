"""The fuzz suite's knobs and its server.

SWITCHYARD_FUZZ_SEED: an integer (default below, so CI is reproducible) or "random" for a
fresh one; every failure message prints the seed that reproduces it.
SWITCHYARD_FUZZ_MESSAGES: mutated messages in all, shared evenly by the RPCs (default 2000).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor

import grpc
import pytest

from tests.fuzz.corpus import build_repository
from tests.fuzz.raw import AT_ONCE, StreamClient
from tests.integration.conftest import Running, make_settings, start_server

DEFAULT_SEED = 20261201
DEFAULT_MESSAGES = 2000


def _seed() -> int:
    text = os.environ.get("SWITCHYARD_FUZZ_SEED", "").strip()
    if text == "random":
        return secrets.randbelow(2**32)
    return int(text) if text else DEFAULT_SEED


SEED = _seed()


@pytest.fixture(scope="session")
def fuzz_seed() -> int:
    return SEED


@pytest.fixture(scope="session")
def fuzz_messages() -> int:
    return int(os.environ.get("SWITCHYARD_FUZZ_MESSAGES", DEFAULT_MESSAGES))


@pytest.fixture(scope="module")
async def fuzz_server(tmp_path_factory) -> AsyncIterator[Running]:
    """A real server with the admin RPCs on, so fuzzed loads and unloads reach the repository."""
    repository = build_repository(tmp_path_factory.mktemp("fuzz_repository"))
    async for running in start_server(make_settings(repository, allow_repository_admin=True)):
        yield running


@pytest.fixture(scope="module")
def stream_client(fuzz_server) -> Iterator[StreamClient]:
    with grpc.insecure_channel(fuzz_server.address) as channel, ThreadPoolExecutor(AT_ONCE) as threads:
        yield StreamClient(channel, threads)
