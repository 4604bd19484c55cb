"""The per-stream queue of decoded frames waiting for the model, bounded by a drop policy.

- `none`: put() waits while the queue is full, so the stream stops reading and gRPC
  flow control slows the sender; memory stays bounded by the capacity.
- `drop_oldest`: put() never waits; a full queue gives up its oldest frame.
- `latest_only`: capacity 1; a newer frame supersedes the waiting one.

put() returns the frames it pushed out, so the caller can report every drop. One
producer (the stream's reader) and one consumer (its dispatcher).
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Generic, Literal, TypeVar

T = TypeVar("T")
DropPolicy = Literal["none", "drop_oldest", "latest_only"]
DROP_POLICIES: tuple[str, ...] = ("none", "drop_oldest", "latest_only")


class DropQueue(Generic[T]):
    def __init__(self, policy: DropPolicy, capacity: int) -> None:
        if policy not in DROP_POLICIES:
            raise ValueError(f"unknown drop policy {policy!r}")
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.policy = policy
        self.capacity = 1 if policy == "latest_only" else capacity
        self._items: deque[T] = deque()
        self._not_empty = asyncio.Event()
        self._not_full = asyncio.Event()
        self._not_full.set()
        self._closed = False
        self.peak = 0  # most frames ever waiting at once (the memory bound, observable)

    def __len__(self) -> int:
        return len(self._items)

    async def put(self, item: T) -> list[T]:
        """Enqueue; returns the frames dropped to make room (always [] for `none`)."""
        if self._closed:
            raise RuntimeError("put() on a closed DropQueue")
        dropped: list[T] = []
        if self.policy == "none":
            while len(self._items) >= self.capacity:
                self._not_full.clear()
                await self._not_full.wait()
        else:
            while len(self._items) >= self.capacity:
                dropped.append(self._items.popleft())
        self._items.append(item)
        self.peak = max(self.peak, len(self._items))
        self._not_empty.set()
        return dropped

    async def get(self) -> T | None:
        """The oldest waiting frame; None once the queue is closed and empty."""
        while not self._items:
            if self._closed:
                return None
            self._not_empty.clear()
            await self._not_empty.wait()
        item = self._items.popleft()
        self._not_full.set()
        return item

    def close(self) -> None:
        """No more puts; get() drains what is left, then returns None."""
        self._closed = True
        self._not_empty.set()

    def clear(self) -> list[T]:
        """Drop everything at once (stream cancelled); returns what was waiting."""
        items = list(self._items)
        self._items.clear()
        self._not_full.set()
        return items
