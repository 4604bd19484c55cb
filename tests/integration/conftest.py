"""A real grpc.aio server on an ephemeral loopback port, one per test."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import grpc
import pytest

from clients import AsyncSwitchyardClient
from protos.switchyard.v1 import predict_pb2_grpc
from service.server import SwitchyardServer
from service.settings import ServerSettings

if TYPE_CHECKING:  # trustme stays out of the tests that do not need certificates
    from tests.fixtures.tls import ServerFiles


@dataclass
class Running:
    server: SwitchyardServer
    address: str
    client: AsyncSwitchyardClient
    channel: grpc.aio.Channel
    stub: predict_pb2_grpc.PredictStub


async def until(condition: Callable[[], object], what: str, limit: float = 120.0) -> None:
    """Wait (polling the event loop, bounded) until condition() holds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while not condition():
        assert loop.time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)


def wait_until(condition: Callable[[], object], what: str, limit: float = 120.0) -> None:
    """`until` for a thread that has no event loop: polls condition() until it holds, bounded."""
    deadline = time.monotonic() + limit
    while not condition():
        assert time.monotonic() < deadline, f"timed out after {limit:.0f} s waiting for {what}"
        time.sleep(0.01)


def make_settings(model_repo, **overrides) -> ServerSettings:
    values = dict(
        host="127.0.0.1",
        port=0,
        metrics_port=-1,
        # The REST port is off unless a test asks for it (http_port=0): 8000 is shared by everyone.
        http_port=-1,
        model_repository=model_repo,
        max_message_bytes=8 * 1024 * 1024,
        grace_period=5,
        # The shared repository holds broken models on purpose, which strict readiness would
        # report as a server that is not ready; tests of readiness itself turn it back on.
        strict_readiness=False,
    )
    return ServerSettings(**{**values, **overrides})


@pytest.fixture(scope="session")
async def running(model_repo) -> AsyncIterator[Running]:
    """One server shared by the tests that only read from it (statistics: compare deltas)."""
    async for item in start_server(make_settings(model_repo)):
        yield item


@pytest.fixture
async def fresh(model_repo) -> AsyncIterator[Running]:
    """A server of the test's own, for tests that unload models or shut it down."""
    async for item in start_server(make_settings(model_repo)):
        yield item


async def started_server(settings: ServerSettings) -> SwitchyardServer:
    """A real server on 127.0.0.1:0, serving once its models are loaded."""
    server = SwitchyardServer(settings)
    await server.start()
    await server.load_models()
    return server


@asynccontextmanager
async def tls_server(model_repo: Path, files: ServerFiles, **settings) -> AsyncIterator[SwitchyardServer]:
    """A server of the `add` model only (security tests are about who gets in, not inference), its
    certificate and key from `files`, with `settings` on top; stopped on the way out."""
    server = await started_server(
        make_settings(model_repo, models=["add"], tls_cert=files.cert, tls_key=files.key, **settings)
    )
    try:
        yield server
    finally:
        await server.stop(grace=0)


async def start_server(settings: ServerSettings) -> AsyncIterator[Running]:
    server = await started_server(settings)
    address = f"127.0.0.1:{server.port}"
    client = AsyncSwitchyardClient(address)
    channel = grpc.aio.insecure_channel(address)
    try:
        yield Running(server, address, client, channel, predict_pb2_grpc.PredictStub(channel))
    finally:
        await client.close()
        await channel.close()
        await server.stop(grace=0)
