"""Graceful shutdown: refuse new calls with UNAVAILABLE while the in-flight ones finish."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from protos.errors import ModelUnavailableError


class DrainGate:
    """Every servicer call that does work passes through track()."""

    def __init__(self) -> None:
        self._active = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self.draining = False

    @property
    def active(self) -> int:
        return self._active

    def check(self) -> None:
        if self.draining:
            raise ModelUnavailableError("the server is shutting down; retry on another replica")

    @asynccontextmanager
    async def track(self) -> AsyncIterator[None]:
        self.check()
        self._active += 1
        self._idle.clear()
        try:
            yield
        finally:
            self._active -= 1
            if not self._active:
                self._idle.set()

    async def drain(self, timeout: float) -> bool:
        """Refuse new calls from now on; True if the active ones finished within timeout."""
        self.draining = True
        if not self._active:
            return True
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
            return True
        except TimeoutError:
            return False
