"""The response cache: the local tier in front of the shared one (either may be absent).

A lookup asks local first, then Redis; a Redis hit fills local, so a replica's repeats stay
in process. A store goes to both.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from service.cache.local import LocalTier
from service.cache.redis_tier import RedisTier
from service.cache.stats import CacheStats


class ResponseCache:
    def __init__(
        self,
        local: LocalTier | None = None,
        shared: RedisTier | None = None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.local = local
        self.shared = shared
        self.stats = CacheStats()
        self._clock = clock

    async def get(self, model: str, key: bytes, ttl: float | None) -> bytes | None:
        """ttl: how long a Redis hit may live in the local tier."""
        if self.local is not None:
            started = self._clock()
            value = self.local.get(key)
            self.stats.record_lookup(model, "local", self._clock() - started)
            if value is not None:
                self.stats.record_hit(model, "local")
                return value
        if self.shared is not None:
            started = self._clock()
            value = await self.shared.get(key)
            self.stats.record_lookup(model, "redis", self._clock() - started)
            if value is not None:
                self.stats.record_hit(model, "redis")
                if self.local is not None:
                    self.local.put(key, value, ttl)
                return value
        self.stats.record_miss(model)
        return None

    def put(self, key: bytes, value: bytes, ttl: float | None) -> None:
        if self.local is not None:
            self.local.put(key, value, ttl)
        if self.shared is not None:
            self.shared.put(key, value, ttl)

    async def close(self) -> None:
        if self.shared is not None:
            await self.shared.close()


def response_cache(
    max_bytes: int, redis_url: str | None, password: str | None, lookup_timeout_ms: float
) -> ResponseCache | None:
    """The server's cache from its settings; None when both tiers are off."""
    local = LocalTier(max_bytes) if max_bytes > 0 else None
    shared = RedisTier(redis_url, password, lookup_timeout_ms / 1000) if redis_url else None
    if local is None and shared is None:
        return None
    return ResponseCache(local, shared)
