"""In-process tier: an LRU bounded by the bytes it holds, entries expiring after their TTL."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

# What the dict, its node and the two bytes objects cost beyond their contents, roughly.
ENTRY_OVERHEAD_BYTES = 160


class LocalTier:
    def __init__(self, max_bytes: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_bytes = max_bytes
        self._clock = clock
        self._entries: OrderedDict[bytes, tuple[bytes, float | None]] = OrderedDict()
        self.bytes = 0
        self.evictions = 0

    @property
    def entries(self) -> int:
        return len(self._entries)

    @staticmethod
    def _size(key: bytes, value: bytes) -> int:
        return len(key) + len(value) + ENTRY_OVERHEAD_BYTES

    def get(self, key: bytes) -> bytes | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        value, expires = entry
        if expires is not None and self._clock() >= expires:
            self._remove(key)
            return None
        self._entries.move_to_end(key)
        return value

    def put(self, key: bytes, value: bytes, ttl: float | None) -> None:
        size = self._size(key, value)
        if size > self.max_bytes:  # would evict everything and still not fit
            return
        if key in self._entries:
            self._remove(key)
        while self.bytes + size > self.max_bytes:
            oldest = next(iter(self._entries))
            self._remove(oldest)
            self.evictions += 1
        self._entries[key] = (value, None if ttl is None else self._clock() + ttl)
        self.bytes += size

    def _remove(self, key: bytes) -> None:
        value, _ = self._entries.pop(key)
        self.bytes -= self._size(key, value)
