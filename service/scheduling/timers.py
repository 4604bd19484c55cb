"""Sub-millisecond timers for the event loop.

asyncio sleeps in epoll, whose timeout has millisecond granularity (rounded up), so a
0.5 ms `call_later` fires after 1 ms or more. The batcher's max_queue_delay promise
("batching adds at most this much latency") needs better: a timer thread waits on a
condition variable (microsecond resolution) and hands due callbacks to the loop with
call_soon_threadsafe. Used for short waits only; longer ones stay on the loop's timers.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import threading
import time
from collections.abc import Callable

# Waits shorter than this go to the timer thread; longer ones lose nothing on epoll.
PRECISE_BELOW_S = 0.005


class PreciseTimer:
    def __init__(self, callback: Callable[[], None]) -> None:
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class PreciseTimers:
    """One daemon thread per process; started on first use."""

    def __init__(self, now: Callable[[], float] = time.monotonic) -> None:
        self._now = now
        self._heap: list[tuple[float, int, PreciseTimer, asyncio.AbstractEventLoop]] = []
        self._seq = itertools.count()
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None

    def call_at(self, when: float, callback: Callable[[], None]) -> PreciseTimer:
        timer = PreciseTimer(callback)
        loop = asyncio.get_running_loop()
        with self._wake:
            heapq.heappush(self._heap, (when, next(self._seq), timer, loop))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="precise-timers", daemon=True)
                self._thread.start()
            self._wake.notify()
        return timer

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._heap:
                    self._wake.wait()
                when, _, timer, loop = self._heap[0]
                delay = when - self._now()
                if delay > 0:
                    self._wake.wait(delay)
                    continue
                heapq.heappop(self._heap)
            if not timer.cancelled and not loop.is_closed():
                try:
                    loop.call_soon_threadsafe(_fire, timer)
                except RuntimeError:  # the loop closed in between
                    pass


def _fire(timer: PreciseTimer) -> None:
    if not timer.cancelled:
        timer.callback()


TIMERS = PreciseTimers()
