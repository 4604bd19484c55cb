"""The batcher's sub-millisecond timers: callbacks run on the loop, in time order, cancel holds."""

from __future__ import annotations

import asyncio
import threading
import time

from service.scheduling.timers import PreciseTimers


async def test_callbacks_fire_in_time_order_on_the_loop_thread_and_cancel_holds():
    timers = PreciseTimers()
    fired: list[tuple[str, int]] = []
    done = asyncio.Event()
    # A margin before the first deadline, so a descheduled test thread on a loaded machine still
    # cancels "never" before its deadline: the order of the callbacks is what is under test.
    now = time.monotonic() + 0.2

    def record(name):
        return lambda: fired.append((name, threading.get_ident()))

    timers.call_at(now + 0.003, record("c"))
    timers.call_at(now + 0.001, record("a"))
    cancelled = timers.call_at(now + 0.002, record("never"))
    timers.call_at(now + 0.002, record("b"))
    timers.call_at(now + 0.004, done.set)
    cancelled.cancel()
    await asyncio.wait_for(done.wait(), 5)
    assert [name for name, _ in fired] == ["a", "b", "c"]
    assert {thread for _, thread in fired} == {threading.get_ident()}  # the loop's own thread


async def test_a_past_deadline_fires_at_once():
    timers = PreciseTimers()
    done = asyncio.Event()
    timers.call_at(time.monotonic() - 1.0, done.set)
    await asyncio.wait_for(done.wait(), 5)
    assert done.is_set()
