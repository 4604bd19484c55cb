"""concurrent_replies: replies in order, pipelined requests run concurrently, a request that
arrives while nothing is in flight costs no task of its own, and the drain ends the stream
after answering what was read."""

from __future__ import annotations

import asyncio

import pytest

from protos.errors import ModelUnavailableError
from service.rpc.drain import DRAINING_MESSAGE, DrainGate
from service.rpc.streams import concurrent_replies


class Feed:
    """A request stream the test writes to, one message at a time."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue = asyncio.Queue()

    def send(self, item) -> None:
        self.queue.put_nowait(item)

    def close(self) -> None:
        self.queue.put_nowait(StopAsyncIteration)

    def __aiter__(self):
        return self

    async def __anext__(self):
        item = await self.queue.get()
        if item is StopAsyncIteration:
            raise StopAsyncIteration
        return item


async def test_a_client_waiting_for_each_reply_costs_no_task_per_message():
    feed, tasks = Feed(), []

    async def handle(n: int) -> int:
        tasks.append(asyncio.current_task())
        return n * 10

    replies = concurrent_replies(feed, handle)
    feed.send(1)
    assert await anext(replies) == 10
    for n in range(2, 6):
        feed.send(n)
        assert await anext(replies) == n * 10
    feed.close()
    with pytest.raises(StopAsyncIteration):
        await anext(replies)
    # Every request was handled by the replying task itself.
    assert len(set(tasks)) == 1


async def test_pipelined_requests_run_concurrently_and_reply_in_order():
    feed = Feed()
    first_may_finish = asyncio.Event()
    second_started = asyncio.Event()

    async def handle(n: int) -> int:
        if n == 1:
            await first_may_finish.wait()
        if n == 2:
            second_started.set()
        return n

    feed.send(1)
    feed.send(2)
    feed.send(3)
    feed.close()
    replies = concurrent_replies(feed, handle)
    waiting = asyncio.ensure_future(anext(replies))
    await second_started.wait()  # request 2 runs while request 1 is still being handled
    assert not waiting.done()
    first_may_finish.set()
    assert [await waiting] + [r async for r in replies] == [1, 2, 3]


async def test_unordered_replies_come_as_they_finish():
    feed = Feed()
    release = asyncio.Event()

    async def handle(n: int) -> int:
        if n == 1:
            await release.wait()
        return n

    feed.send(1)
    feed.send(2)
    replies = concurrent_replies(feed, handle, ordered=lambda first: False)
    assert await anext(replies) == 2
    release.set()
    assert await anext(replies) == 1
    feed.close()
    assert [r async for r in replies] == []


async def test_the_drain_answers_what_was_read_then_ends_the_stream():
    gate, feed = DrainGate(), Feed()

    async def handle(n: int) -> int:
        return n

    with gate.track():
        replies = concurrent_replies(feed, handle)
        feed.send(1)
        assert await anext(replies) == 1
        feed.send(2)
        assert await anext(replies) == 2
        gate.begin()  # the reader is waiting for request 3, which never comes
        with pytest.raises(ModelUnavailableError, match=DRAINING_MESSAGE):
            await anext(replies)


async def test_a_broken_request_stream_ends_after_the_replies_before_it():
    class Broken(Feed):
        async def __anext__(self):
            item = await super().__anext__()
            if item == "boom":
                raise ConnectionError("stream broke")
            return item

    feed = Broken()

    async def handle(n: int) -> int:
        return n

    feed.send(1)
    feed.send("boom")
    replies = concurrent_replies(feed, handle)
    assert await anext(replies) == 1
    with pytest.raises(ConnectionError):
        await anext(replies)
