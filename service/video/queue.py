"""The per-stream queue of decoded frames waiting for the model, bounded by a drop policy.

The bound is a frame count (`capacity`) and a byte count (`max_bytes`): the bytes of the
frames waiting plus those taken out by get() and not yet release()d (frames inside the
model), so a stream of large frames is held to the same memory as one of small frames.

- `none`: put() waits while the queue is full, so the stream stops reading and gRPC
  flow control slows the sender.
- `drop_oldest`: put() never waits; a full queue gives up its oldest waiting frames.
- `latest_only`: capacity 1; a newer frame supersedes the waiting one.

The live policies let a new frame in once every waiting frame is dropped, and get() hands
a frame out only while the frames taken fit in max_bytes (or none is taken), so memory
stays within max_bytes plus one frame; a single frame larger than max_bytes still passes
alone. put() returns the frames it pushed out, so the caller can report every drop. One
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
    def __init__(self, policy: DropPolicy, capacity: int, max_bytes: int | None = None) -> None:
        if policy not in DROP_POLICIES:
            raise ValueError(f"unknown drop policy {policy!r}")
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.policy = policy
        self.capacity = 1 if policy == "latest_only" else capacity
        self.max_bytes = max_bytes
        self._items: deque[tuple[T, int]] = deque()
        self._takeable = asyncio.Event()
        self._not_full = asyncio.Event()
        self._not_full.set()
        self._closed = False
        self.waiting_bytes = 0
        self.held_bytes = 0  # taken by get(), not yet released
        self.peak = 0  # most frames ever waiting at once (the memory bound, observable)
        self.peak_bytes = 0  # most bytes ever waiting or held at once

    def __len__(self) -> int:
        return len(self._items)

    def _full(self, nbytes: int) -> bool:
        if len(self._items) >= self.capacity:
            return True
        total = self.waiting_bytes + self.held_bytes
        return self.max_bytes is not None and total > 0 and total + nbytes > self.max_bytes

    async def put(self, item: T, nbytes: int = 0) -> list[T]:
        """Enqueue a frame of `nbytes`; returns the frames dropped to make room (always [] for `none`)."""
        if self._closed:
            raise RuntimeError("put() on a closed DropQueue")
        dropped: list[T] = []
        if self.policy == "none":
            while self._full(nbytes):
                self._not_full.clear()
                await self._not_full.wait()
        else:
            while self._items and self._full(nbytes):
                old, size = self._items.popleft()
                self.waiting_bytes -= size
                dropped.append(old)
        self._items.append((item, nbytes))
        self.waiting_bytes += nbytes
        self.peak = max(self.peak, len(self._items))
        self.peak_bytes = max(self.peak_bytes, self.waiting_bytes + self.held_bytes)
        self._takeable.set()
        return dropped

    def _can_take(self) -> bool:
        if not self._items:
            return False
        if self.max_bytes is None or self.held_bytes == 0:
            return True
        return self.held_bytes + self._items[0][1] <= self.max_bytes

    async def get(self) -> T | None:
        """The oldest waiting frame, once the frames taken leave room for it; None once the
        queue is closed and empty. Its bytes stay counted until release(nbytes)."""
        while not self._can_take():
            if self._closed and not self._items:
                return None
            self._takeable.clear()
            await self._takeable.wait()
        item, size = self._items.popleft()
        self.waiting_bytes -= size
        self.held_bytes += size
        self._not_full.set()
        return item

    def release(self, nbytes: int) -> None:
        """A frame from get() is done with (answered or cancelled): its bytes no longer count."""
        self.held_bytes -= nbytes
        self._not_full.set()
        self._takeable.set()

    def close(self) -> None:
        """No more puts; get() drains what is left, then returns None."""
        self._closed = True
        self._takeable.set()

    def clear(self) -> list[T]:
        """Drop everything waiting at once (stream cancelled); returns what was waiting."""
        items = [item for item, _ in self._items]
        self._items.clear()
        self.waiting_bytes = 0
        self._not_full.set()
        return items
