"""DynamicBatcher: one model's queue; forms batches and hands them to the runner's instances.

Event driven, no background task: a submit, a finished batch or a timer "pumps" the
queue, which (a) fails requests whose deadline passed while queued, then (b) while an
instance is free, takes the best group of compatible requests and starts it. So an
idle model starts a lone request at once when max_queue_delay is 0, and requests that
arrive while every instance is busy ride together in the next batch.

The clock is injected (now + call_at); tests drive a manual clock and never sleep.

Ordering: the highest priority first, FIFO within a priority; a lower-priority request
that has waited longer than `starvation_s` is served before newer higher-priority ones,
so no level starves. A batch is the head request plus compatible requests (same input
names, dtypes and non-batch dims) in that same order, up to max_batch_size items. It
starts when it is full, when it reaches the largest preferred batch size, or when its
oldest request has waited max_queue_delay (then trimmed to the largest preferred size
it holds, if any).
"""

from __future__ import annotations

import asyncio
import functools
import heapq
import itertools
import time
from collections import deque
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from protos.errors import DeadlineExceededError, ModelUnavailableError, QueueFullError
from service.scheduling.timers import PRECISE_BELOW_S, TIMERS

QUEUED, RUNNING, CANCELLED, EXPIRED, FAILED = range(5)


class TimerHandle(Protocol):
    def cancel(self) -> None: ...


class Clock(Protocol):
    def now(self) -> float: ...

    def call_at(self, when: float, callback: Callable[[], None]) -> TimerHandle: ...


class MonotonicClock:
    """time.monotonic, with timers on the running event loop (sub-5 ms ones on a precise timer thread)."""

    now = staticmethod(time.monotonic)

    def call_at(self, when: float, callback: Callable[[], None]) -> TimerHandle:
        delay = when - time.monotonic()
        if delay < PRECISE_BELOW_S:  # epoll would round it up to whole milliseconds
            return TIMERS.call_at(when, callback)
        return asyncio.get_running_loop().call_later(delay, callback)


@dataclass(frozen=True)
class BatchPolicy:
    # 0: requests never combine (each runs as sent); > 0: items per combined batch.
    max_batch_size: int = 0
    max_queue_delay_s: float = 0.0
    preferred_batch_sizes: tuple[int, ...] = ()
    max_queue_size: int = 1024
    # Default time a request may wait in the queue (None: only the client's deadline).
    timeout_s: float | None = None
    starvation_s: float = 0.1


class Pending:
    """One queued request; the runner reads .request/.batch and writes .started."""

    __slots__ = ("request", "batch", "key", "future", "enqueued", "deadline", "priority", "seq", "state", "started")

    def __init__(
        self,
        request: Any,
        batch: int,
        key: Hashable,
        future: asyncio.Future,
        enqueued: float,
        deadline: float | None,
        priority: int,
        seq: int,
    ) -> None:
        self.request, self.batch, self.key, self.future = request, batch, key, future
        self.enqueued, self.deadline, self.priority, self.seq = enqueued, deadline, priority, seq
        self.state = QUEUED
        self.started = 0.0


# Starts a batch; the future resolves to one outcome per item (a result or an exception).
Start = Callable[[list[Pending]], "asyncio.Future[Sequence[Any]]"]


class DynamicBatcher:
    def __init__(
        self, name: str, policy: BatchPolicy, start: Start, *, instances: int = 1, clock: Clock | None = None
    ) -> None:
        self.name = name
        self.policy = policy
        self._start = start
        self._instances = instances
        self._clock = clock or MonotonicClock()
        self._levels: dict[int, deque[Pending]] = {}
        self._priorities: list[int] = []  # descending
        self._deadlines: list[tuple[float, int, Pending]] = []
        self._seq = itertools.count()
        self._queued = 0
        self._busy = 0
        self._timer: TimerHandle | None = None
        self._timer_at = 0.0
        self._closed = False
        self._idle_waiters: list[asyncio.Future] = []

    @property
    def queue_depth(self) -> int:
        return self._queued

    @property
    def busy(self) -> int:
        return self._busy

    @property
    def idle(self) -> bool:
        """Nothing queued and nothing running: a request now would start at once, alone."""
        return not (self._queued or self._busy or self._closed)

    async def submit(self, request: Any, batch: int, key: Hashable = None) -> Any:
        """Queue a request and wait for its own outcome (raises its error)."""
        if self._closed:
            raise ModelUnavailableError(f"model '{self.name}' is unloading")
        policy = self.policy
        if self._queued >= policy.max_queue_size:
            raise QueueFullError(
                f"model '{self.name}': the queue is full ({policy.max_queue_size} requests, max_queue_size)"
            )
        now = self._clock.now()
        deadline = request.deadline
        timeout = _timeout_of(request, policy.timeout_s)
        if timeout is not None:
            deadline = now + timeout if deadline is None else min(deadline, now + timeout)
        if deadline is not None and deadline <= now:
            raise DeadlineExceededError(f"model '{self.name}': the request's deadline passed before it was queued")
        future = asyncio.get_running_loop().create_future()
        seq = next(self._seq)
        item = Pending(request, batch, key, future, now, deadline, request.priority, seq)
        level = self._levels.get(item.priority)
        if level is None:
            level = self._levels[item.priority] = deque()
            self._priorities = sorted(self._levels, reverse=True)
        level.append(item)
        self._queued += 1
        if deadline is not None:
            heapq.heappush(self._deadlines, (deadline, seq, item))
        self._pump()
        try:
            return await future
        except asyncio.CancelledError:
            if item.state == QUEUED:  # not started: its work is never executed
                item.state = CANCELLED
                self._queued -= 1
                self._notify_idle()
            raise

    # -- the pump ---------------------------------------------------------------------------

    def _pump(self) -> None:
        now = self._clock.now()
        heap = self._deadlines
        while heap and heap[0][2].state != QUEUED:
            heapq.heappop(heap)
        if heap and heap[0][0] <= now:
            self._expire(now)
        ready_at = None
        while self._queued and self._busy < self._instances:
            group, ready_at = self._form(now)
            if group is None:
                break
            self._run(group)
        wake = ready_at
        if self._deadlines:
            first = self._deadlines[0][0]
            wake = first if wake is None else min(wake, first)
        if wake is not None and (self._timer is None or wake < self._timer_at):
            if self._timer is not None:
                self._timer.cancel()
            self._timer, self._timer_at = self._clock.call_at(wake, self._on_timer), wake
        self._notify_idle()

    def _on_timer(self) -> None:
        self._timer = None
        self._pump()

    def _run(self, group: list[Pending]) -> None:
        for item in group:
            item.state = RUNNING
        self._queued -= len(group)
        self._busy += 1
        future = self._start(group)
        future.add_done_callback(functools.partial(self._finished, group))

    def _finished(self, group: list[Pending], future: asyncio.Future) -> None:
        self._busy -= 1
        if future.cancelled():
            error: BaseException | None = ModelUnavailableError(
                f"model '{self.name}' was unloaded before the request ran"
            )
        else:
            error = future.exception()
        outcomes = None if error is not None else future.result()
        for i, item in enumerate(group):
            if item.future.done():
                continue
            outcome = error if outcomes is None else outcomes[i]
            if isinstance(outcome, BaseException):
                item.future.set_exception(outcome)
            else:
                item.future.set_result(outcome)
        self._pump()

    def _expire(self, now: float) -> None:
        heap = self._deadlines
        while heap and heap[0][0] <= now:
            _, _, item = heapq.heappop(heap)
            if item.state == QUEUED:
                item.state = EXPIRED
                self._queued -= 1
                if not item.future.done():
                    item.future.set_exception(
                        DeadlineExceededError(
                            f"model '{self.name}': the request's deadline passed after "
                            f"{(now - item.enqueued) * 1000:.1f} ms in the queue; it was not run"
                        )
                    )

    # -- choosing a batch -------------------------------------------------------------------

    def _head(self, now: float) -> Pending | None:
        top = None
        starving = None
        for priority in self._priorities:
            level = self._levels[priority]
            while level and level[0].state != QUEUED:
                level.popleft()
            if not level:
                continue
            head = level[0]
            if top is None:
                top = head
            elif now - head.enqueued >= self.policy.starvation_s and head.enqueued < top.enqueued:
                if starving is None or head.enqueued < starving.enqueued:
                    starving = head
        return starving or top

    def _form(self, now: float) -> tuple[list[Pending] | None, float | None]:
        """(group to start now, None) or (None, when the waiting group becomes ready)."""
        head = self._head(now)
        if head is None:
            return None, None
        policy = self.policy
        limit = policy.max_batch_size
        if not limit:
            return [head], None
        group, total, full = [head], head.batch, head.batch >= limit
        oldest = head.enqueued
        if not full:
            for priority in self._priorities:
                for item in self._levels[priority]:
                    if item.state != QUEUED or item is head or item.key != head.key:
                        continue
                    if total + item.batch > limit:
                        full = True
                        break
                    group.append(item)
                    total += item.batch
                    oldest = min(oldest, item.enqueued)
                    if total == limit:
                        full = True
                        break
                if full:
                    break
        if full:
            return group, None
        preferred = policy.preferred_batch_sizes
        if preferred and total >= preferred[-1]:
            return _trim(group, preferred), None
        ready_at = oldest + policy.max_queue_delay_s
        if now >= ready_at:
            return (_trim(group, preferred) if preferred else group), None
        return None, ready_at

    # -- closing ----------------------------------------------------------------------------

    def _notify_idle(self) -> None:
        if self._idle_waiters and not self._queued and not self._busy:
            for waiter in self._idle_waiters:
                if not waiter.done():
                    waiter.set_result(None)
            self._idle_waiters.clear()

    async def drain(self, timeout: float | None) -> None:
        """Refuse new requests; wait (up to timeout) for the queue and running batches to finish."""
        self._closed = True
        if self._queued or self._busy:
            waiter = asyncio.get_running_loop().create_future()
            self._idle_waiters.append(waiter)
            try:
                await asyncio.wait_for(asyncio.shield(waiter), timeout)
            except TimeoutError:
                pass

    def fail_queued(self, error: BaseException) -> int:
        """Fail every request still queued with `error`; returns how many."""
        failed = 0
        for level in self._levels.values():
            while level:
                item = level.popleft()
                if item.state == QUEUED:
                    item.state = FAILED
                    failed += 1
                    if not item.future.done():
                        item.future.set_exception(error)
        self._queued = 0
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        return failed


def _trim(group: list[Pending], preferred: tuple[int, ...]) -> list[Pending]:
    """The longest prefix of group whose items add up to a preferred size (the whole group if none)."""
    total, found = 0, 0
    sizes = set(preferred)
    for i, item in enumerate(group):
        total += item.batch
        if total in sizes:
            found = i + 1
    return group[:found] if found else group


def _timeout_of(request: Any, default: float | None) -> float | None:
    parameters = request.parameters
    if parameters:
        value = parameters.get("timeout_ms")
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
            return value / 1000.0
    return default


def policy_from_config(max_batch_size: int, dynamic_batching: Any | None) -> BatchPolicy:
    """BatchPolicy from ModelConfig's max_batch_size and dynamic_batching (None: no combining)."""
    if dynamic_batching is None or not max_batch_size:
        size = dynamic_batching.max_queue_size if dynamic_batching is not None else 1024
        timeout = (
            dynamic_batching.timeout_ms / 1000 if dynamic_batching is not None and dynamic_batching.timeout_ms else None
        )
        return BatchPolicy(max_batch_size=0, max_queue_size=size, timeout_s=timeout)
    return BatchPolicy(
        max_batch_size=max_batch_size,
        max_queue_delay_s=dynamic_batching.max_queue_delay_us / 1e6,
        preferred_batch_sizes=tuple(sorted(s for s in dynamic_batching.preferred_batch_sizes if s <= max_batch_size)),
        max_queue_size=dynamic_batching.max_queue_size,
        timeout_s=dynamic_batching.timeout_ms / 1000 if dynamic_batching.timeout_ms else None,
        starvation_s=getattr(dynamic_batching, "priority_starvation_ms", 100) / 1000,
    )
