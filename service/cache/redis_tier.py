"""Shared tier: Redis through redis.asyncio, so replicas answer each other's repeats.

Redis is an optimisation, never a dependency: a lookup that fails or takes longer than the
lookup timeout is a miss, a failed store is dropped, and each is counted. An outage is
logged once when it starts and once when Redis answers again, not per request.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

from redis.asyncio import Redis

log = logging.getLogger(__name__)

KEY_PREFIX = b"switchyard:cache:"


class RedisTier:
    def __init__(self, url: str, password: str | None = None, lookup_timeout: float = 0.005) -> None:
        # Socket timeouts bound a store and a connect too; a lookup is bounded tighter by wait_for.
        self._client = Redis.from_url(
            url,
            password=password or None,
            socket_timeout=max(lookup_timeout * 20, 0.1),
            socket_connect_timeout=max(lookup_timeout * 20, 0.1),
            health_check_interval=0,
        )
        self.lookup_timeout = lookup_timeout
        self.errors = 0
        self._down = False
        self._pending: set[asyncio.Task] = set()

    async def get(self, key: bytes) -> bytes | None:
        try:
            value = await asyncio.wait_for(self._client.get(KEY_PREFIX + key), self.lookup_timeout)
        except Exception as exc:  # any failure of the shared tier is a miss
            self._failed("lookup", exc)
            return None
        self._answered()
        return value if isinstance(value, bytes) else None

    def put(self, key: bytes, value: bytes, ttl: float | None) -> None:
        """Stored in the background: the reply does not wait for Redis."""
        px = None if ttl is None else max(int(ttl * 1000), 1)
        self._spawn(self._put(KEY_PREFIX + key, value, px))

    async def _put(self, key: bytes, value: bytes, px: int | None) -> None:
        try:
            await self._client.set(key, value, px=px)
        except Exception as exc:  # a store that fails only costs a later miss
            self._failed("store", exc)
            return
        self._answered()

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def flush_pending(self) -> None:
        """Wait for background stores (tests, shutdown)."""
        while self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)

    def _failed(self, what: str, exc: Exception) -> None:
        self.errors += 1
        if not self._down:
            self._down = True
            reason = "timed out" if isinstance(exc, TimeoutError) else type(exc).__name__
            log.warning("response cache: Redis %s failed (%s); answering from the model until it is back", what, reason)

    def _answered(self) -> None:
        if self._down:
            self._down = False
            log.info("response cache: Redis answers again")

    async def close(self) -> None:
        await self.flush_pending()
        await self._client.aclose()
