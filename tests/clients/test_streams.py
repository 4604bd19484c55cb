"""Client streams: replies carry their request ids, the caller's request generator's exception
comes back as itself, leaving an async stream early cancels it, and an async client works in
whichever event loop uses it."""

from __future__ import annotations

import asyncio
import itertools

import numpy as np
import pytest

from clients import AsyncSwitchyardClient, SwitchyardClient
from clients.request import build_request
from tests.clients.fake_predict import FakePredict

ONES = {"a": np.ones((1, 4), np.float32), "b": np.ones((1, 4), np.float32)}


class Broken(Exception):
    pass


@pytest.fixture
def fake():
    server = FakePredict()
    yield server
    server.stop()


def requests(count: int | None, fail: bool = False):
    for index in range(count) if count is not None else itertools.count():
        yield build_request("add", ONES, request_id=f"r{index}")
    if fail:
        raise Broken("the camera went away")


def test_stream_replies_carry_their_request_ids(fake):
    with SwitchyardClient(f"127.0.0.1:{fake.port}") as client:
        ids = [reply.request_id for reply in client.predict_stream(requests(3), timeout=10)]
    assert ids == ["r0", "r1", "r2"]


def test_the_request_generators_exception_is_raised_as_itself(fake):
    with SwitchyardClient(f"127.0.0.1:{fake.port}") as client, pytest.raises(Broken, match="camera"):
        for _ in client.predict_stream(requests(2, fail=True), timeout=10):
            pass


async def test_the_async_request_generators_exception_is_raised_as_itself(fake):
    async def failing():
        for request in requests(2):
            yield request
        raise Broken("the camera went away")

    async with AsyncSwitchyardClient(f"127.0.0.1:{fake.port}") as client:
        with pytest.raises(Broken, match="camera"):
            async for _ in client.predict_stream(failing(), timeout=10):
                pass


async def test_leaving_an_async_stream_early_cancels_it_and_stops_pulling_requests(fake):
    pulled = 0

    async def endless():
        nonlocal pulled
        for request in requests(None):
            pulled += 1
            yield request

    async with AsyncSwitchyardClient(f"127.0.0.1:{fake.port}") as client:
        replies = client.predict_stream(endless(), timeout=60)
        async for reply in replies:
            if reply.request_id == "r2":
                break
        await replies.aclose()
        assert await asyncio.to_thread(fake.stream_ended.wait, 30)
        assert fake.stream_cancelled
        seen = pulled
        await asyncio.sleep(0)  # a live call would keep pulling here
        assert pulled == seen


def test_an_async_client_works_in_each_event_loop_that_uses_it(fake):
    client = AsyncSwitchyardClient(f"127.0.0.1:{fake.port}")  # built outside any loop

    async def use() -> list[float]:
        return (await client.predict("add", ONES, timeout=10))["sum"].ravel().tolist()

    assert asyncio.run(use()) == [2.0] * 4
    assert asyncio.run(use()) == [2.0] * 4  # a second loop, after the first one closed
    asyncio.run(client.close())
