"""A real Switchyard server on 127.0.0.1:0 over the OIP test repository, one per test module.

The server runs on the module's event loop; outside clients run as subprocesses awaited
on that loop (tests/service/oip/outside.py), so the server keeps serving while they talk to it.
"""

from __future__ import annotations

from pathlib import Path

import pytest_asyncio

from service.server import SwitchyardServer
from tests.integration.conftest import make_settings, started_server
from tests.service.oip import model_repo


@pytest_asyncio.fixture(scope="session")
def oip_repository(tmp_path_factory) -> Path:
    return model_repo.build(tmp_path_factory.mktemp("oip_repository"))


async def start_server(repository: Path, **overrides) -> SwitchyardServer:
    return await started_server(
        make_settings(repository, grace_period=1.0, max_message_bytes=64 * 1024 * 1024, **overrides)
    )


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def oip_server(oip_repository):
    server = await start_server(oip_repository)
    yield server
    await server.stop(grace=1.0)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
def oip_url(oip_server) -> str:
    return f"127.0.0.1:{oip_server.port}"
