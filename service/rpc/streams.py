"""Concurrent request streams: every request runs as soon as it arrives, replies come back
in request order (or as they finish). Shared by PredictStream and ModelStreamInfer.

At most `window` requests of one stream are in the server at once; past that the reader
stops pulling and gRPC flow control holds the client back.

When the server drains (service/rpc/drain.py) the reader stops pulling: every request already
read is answered, then the stream ends with UNAVAILABLE "server draining: reconnect".
`concurrent_replies` watches the drain signal with one callback per stream;
`next_unless_stopped` is the same stop-aware read for a reader of its own (StreamVideo's session).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from typing import TypeVar

from service.rpc.drain import current_stop, draining_error

Request = TypeVar("Request")
Reply = TypeVar("Reply")

STREAM_WINDOW = 64


async def concurrent_replies(
    requests: AsyncIterable[Request],
    handle: Callable[[Request], Awaitable[Reply]],
    *,
    ordered: Callable[[Request], bool] = lambda first: True,
    window: int = STREAM_WINDOW,
) -> AsyncIterator[Reply]:
    """Yield handle(request) for every request; `ordered(first_request)` picks the reply order.

    `handle` must not raise for a bad request (streams answer those in band). An error reading
    the request stream ends the replies with that error, after the replies before it.

    Per message this costs one hand-over from the reading task to the replying one: a request
    that arrives while the replies are idle (a client waiting for each reply, the common case)
    is handled by the replying task itself; only one that arrives while another is still being
    handled gets a task of its own, so requests of one stream still run concurrently. The
    drain signal is watched by one callback per stream, not raced against every read.
    """
    pending: asyncio.Queue = asyncio.Queue(maxsize=window)
    iterator = requests.__aiter__()
    stop = current_stop()
    try:
        first = await iterator.__anext__()
    except StopAsyncIteration:
        return
    in_order = ordered(first)
    state = _State()

    def admit(request: Request) -> Awaitable[Reply] | _Direct:
        if in_order and not state.working and pending.empty():
            return _Direct(request)
        return asyncio.ensure_future(handle(request))

    async def read() -> None:
        await pending.put(admit(first))
        try:
            while not state.stopped:
                state.reading = True
                try:
                    request = await iterator.__anext__()
                except StopAsyncIteration:
                    break
                except asyncio.CancelledError:
                    if not state.stopped:  # cancelled for another reason than the drain
                        raise
                    reader.uncancel()
                    break
                finally:
                    state.reading = False
                await pending.put(admit(request))
            if state.stopped:
                raise draining_error()
        except Exception as exc:
            # The request stream broke: its error takes the next reply's place, so the replies
            # before it go out and then the RPC ends with its status (instead of waiting forever).
            failed = asyncio.get_running_loop().create_future()
            failed.set_exception(exc)
            await pending.put(failed)
            return
        await pending.put(None)

    reader = asyncio.ensure_future(read())
    watcher = None
    if stop is not None:
        if stop.is_set():
            state.stopped = True
        else:
            watcher = asyncio.ensure_future(stop.wait())
            watcher.add_done_callback(lambda _: state.stop(reader))
    try:
        replies = _in_order(pending, handle, state) if in_order else _as_completed(pending)
        async for reply in replies:
            yield reply
        await reader
    finally:
        if watcher is not None:
            watcher.cancel()
        reader.cancel()
        while not pending.empty():
            task = pending.get_nowait()
            if isinstance(task, asyncio.Future):
                task.cancel()


class _State:
    """What the reading and replying tasks of one stream tell each other."""

    __slots__ = ("working", "reading", "stopped")

    def __init__(self) -> None:
        self.working = False  # the replying task is handling a request or waiting for one's reply
        self.reading = False  # the reading task waits for the next request
        self.stopped = False  # the server drains: read no more

    def stop(self, reader: asyncio.Future) -> None:
        if self.stopped:
            return
        self.stopped = True
        if self.reading:  # abandon the read in progress; a reader putting a request finishes that first
            reader.cancel()


class _Direct:
    """A request for the replying task to handle itself (nothing else was in flight when it came)."""

    __slots__ = ("request",)

    def __init__(self, request: object) -> None:
        self.request = request


STOPPED = object()


async def next_unless_stopped(iterator: AsyncIterator, stop: asyncio.Event | None):
    """The next request, or STOPPED once `stop` is set (the read in progress is abandoned).

    Raises StopAsyncIteration at the end of the requests, like `__anext__`.
    """
    if stop is None:
        return await iterator.__anext__()
    if stop.is_set():
        return STOPPED
    reading = asyncio.ensure_future(iterator.__anext__())
    stopping = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({reading, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
    if reading.done():
        return reading.result()
    reading.cancel()
    return STOPPED


async def _in_order(pending: asyncio.Queue, handle: Callable, state: _State) -> AsyncIterator:
    while (item := await pending.get()) is not None:
        state.working = True
        try:
            reply = await (handle(item.request) if type(item) is _Direct else item)
        finally:
            state.working = False
        yield reply


async def _as_completed(pending: asyncio.Queue) -> AsyncIterator:
    running: set[asyncio.Future] = set()
    getter: asyncio.Future | None = asyncio.ensure_future(pending.get())
    try:
        while getter is not None or running:
            waiting = running | ({getter} if getter else set())
            finished, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
            if getter in finished:
                item = getter.result()
                getter = None if item is None else asyncio.ensure_future(pending.get())
                if item is not None:
                    running.add(item)
            for task in finished & running:
                running.discard(task)
                yield task.result()
    finally:
        if getter is not None:
            getter.cancel()
        for task in running:
            task.cancel()
