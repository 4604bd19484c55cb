"""Give the C heap's free memory back to the system after large requests.

A large request's buffers (grpc's receive slices, the parsed message, the tensors) are freed
when it ends, but glibc keeps most of that memory in its arenas: after sixteen 63 MiB
requests the server stayed 380-660 MiB above where it started, and `malloc_trim(0)` brought it
back to within a few MiB (docs/security.md, memory, has the measurements). The trimmer runs
malloc_trim on a worker thread (ctypes releases the GIL), at most once per `interval`;
requests that end while a trim is pending or running share the next one. Where the C library
has no malloc_trim (musl, macOS) it does nothing.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import logging
import time
from collections.abc import Callable
from concurrent.futures import Executor

log = logging.getLogger(__name__)

# Requests that held or sent at least this much get a trim after them.
TRIM_AFTER_BYTES = 16 * 1024 * 1024
TRIM_INTERVAL_S = 1.0


def libc_malloc_trim() -> Callable[[], object] | None:
    """glibc's malloc_trim(0), or None where the C library has none."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
        trim = libc.malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes, trim.restype = [ctypes.c_size_t], ctypes.c_int
    return lambda: trim(0)


class HeapTrimmer:
    """malloc_trim on `executor`, at most once per `interval`; a request during a trim gets one more after it."""

    def __init__(
        self,
        trim: Callable[[], object] | None,
        executor: Executor | None = None,
        interval: float = TRIM_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._trim = trim
        self._executor = executor
        self._interval = interval
        self._clock = clock
        self._last = -interval
        self._scheduled = self._running = self._again = False
        self.trims = 0  # finished so far

    def request(self) -> None:
        """Ask for a trim soon; called on the event loop when a large request ends."""
        if self._trim is None or self._scheduled:
            return
        if self._running:
            self._again = True  # this request's memory may have been freed after the trim began
            return
        self._scheduled = True
        delay = max(0.0, self._last + self._interval - self._clock())
        asyncio.get_running_loop().call_later(delay, self._start)

    def _start(self) -> None:
        self._scheduled, self._running = False, True
        self._last = self._clock()
        future = asyncio.get_running_loop().run_in_executor(self._executor, self._run)
        future.add_done_callback(self._done)

    def _run(self) -> None:
        if self._trim is not None:
            self._trim()

    def _done(self, future: asyncio.Future) -> None:
        self._running = False
        self.trims += 1
        if not future.cancelled() and future.exception() is not None:
            log.warning("malloc_trim failed", exc_info=future.exception())
        if self._again:
            self._again = False
            self.request()
