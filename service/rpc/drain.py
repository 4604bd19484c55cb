"""Graceful shutdown bookkeeping: which calls are in flight, and a signal streams watch.

Refusing new calls is grpc's job: `server.stop(grace)` sends GOAWAY on every connection, so
clients open new calls elsewhere (or reconnect), while the calls already running finish. What
grpc cannot do is end an open stream cleanly: a stream that is still reading would run until
the grace is over and be cancelled mid-way. So streams watch `stopping` (via `current_stop()`),
stop reading, answer what they already read and end with UNAVAILABLE "server draining: reconnect".
"""

from __future__ import annotations

import asyncio
from contextvars import ContextVar

from protos.errors import ModelUnavailableError

DRAINING_MESSAGE = "server draining: reconnect"

_stop: ContextVar[asyncio.Event | None] = ContextVar("switchyard_drain_stop", default=None)


def current_stop() -> asyncio.Event | None:
    """The drain signal of the call running in this context (None outside a tracked call)."""
    return _stop.get()


def draining_error() -> ModelUnavailableError:
    return ModelUnavailableError(DRAINING_MESSAGE)


class DrainGate:
    """Every servicer call that does work passes through track()."""

    def __init__(self) -> None:
        self._active = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self.stopping = asyncio.Event()

    @property
    def draining(self) -> bool:
        return self.stopping.is_set()

    @property
    def active(self) -> int:
        return self._active

    def track(self) -> _Tracked:
        """`with gate.track():` around a call's work: counted as active, `current_stop()` set inside.

        A plain context manager: it is entered once per call, and an async one (a generator and
        two awaits) cost several µs of a tiny model's request for nothing that needs awaiting.
        """
        # No refusal here: a call that reached a servicer was accepted before grpc's GOAWAY, and
        # answering it UNAVAILABLE would only make the client retry what this replica can still do.
        return _Tracked(self)

    def _enter(self) -> None:
        self._active += 1
        self._idle.clear()

    def _leave(self) -> None:
        self._active -= 1
        if not self._active:
            self._idle.set()

    def begin(self) -> None:
        """Tell open streams to stop reading and wind down."""
        self.stopping.set()

    async def drain(self, timeout: float) -> bool:
        """begin(), then True if the active calls finished within timeout."""
        self.begin()
        if not self._active:
            return True
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
            return True
        except TimeoutError:
            return False


class _Tracked:
    """One tracked call (DrainGate.track)."""

    __slots__ = ("_gate", "_token")

    def __init__(self, gate: DrainGate) -> None:
        self._gate = gate

    def __enter__(self) -> None:
        self._gate._enter()
        self._token = _stop.set(self._gate.stopping)

    def __exit__(self, *exc_info: object) -> None:
        _stop.reset(self._token)
        self._gate._leave()
