"""DynamicBatcher policy, driven by a ManualClock and a start() whose batches the test finishes.

No sleeps: time moves only when a test calls clock.advance(); `settle()` just lets the
event loop run the callbacks that are already due.
"""

from __future__ import annotations

import asyncio

import pytest

from protos.errors import DeadlineExceededError, ModelUnavailableError, QueueFullError
from service.scheduling.batcher import BatchPolicy, DynamicBatcher
from service.scheduling.runner import InferRequest
from tests.fixtures.clocks import ManualClock


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


class Starter:
    """Records every batch started; the test completes them."""

    def __init__(self) -> None:
        self.batches: list[tuple[list, asyncio.Future]] = []

    def __call__(self, items):
        future = asyncio.get_running_loop().create_future()
        self.batches.append((items, future))
        return future

    def ids(self, index: int) -> list[str]:
        return [item.request.id for item in self.batches[index][0]]

    def finish(self, index: int) -> None:
        items, future = self.batches[index]
        future.set_result([f"out-{item.request.id}" for item in items])


def make(policy: BatchPolicy, instances: int = 1):
    clock, starter = ManualClock(), Starter()
    return DynamicBatcher("m", policy, starter, instances=instances, clock=clock), clock, starter


def request(rid: str, priority: int = 0, deadline: float | None = None, **params) -> InferRequest:
    return InferRequest(inputs={}, id=rid, priority=priority, deadline=deadline, parameters=params)


def submit(batcher, rid: str, batch: int = 1, key="k", **kw) -> asyncio.Task:
    return asyncio.ensure_future(batcher.submit(request(rid, **kw), batch, key))


BATCHING = BatchPolicy(max_batch_size=8, max_queue_delay_s=0.002)


async def test_lone_request_on_an_idle_model_starts_at_once_without_delay():
    batcher, _, starter = make(BatchPolicy(max_batch_size=8, max_queue_delay_s=0.0))
    task = submit(batcher, "a")
    await settle()
    assert starter.ids(0) == ["a"]
    starter.finish(0)
    assert await task == "out-a"


async def test_requests_within_the_delay_combine_and_each_gets_its_own_outcome():
    batcher, clock, starter = make(BATCHING)
    tasks = [submit(batcher, rid) for rid in "abc"]
    await settle()
    assert starter.batches == []  # waiting for companions
    clock.advance(0.0019)
    await settle()
    assert starter.batches == []
    clock.advance(0.0001)
    await settle()
    assert starter.ids(0) == ["a", "b", "c"]
    starter.finish(0)
    assert await asyncio.gather(*tasks) == ["out-a", "out-b", "out-c"]


async def test_a_full_batch_starts_before_the_delay():
    batcher, _, starter = make(BatchPolicy(max_batch_size=4, max_queue_delay_s=1.0))
    tasks = [submit(batcher, rid, batch=2) for rid in "abc"]
    await settle()
    assert len(starter.batches) == 1 and starter.ids(0) == ["a", "b"]  # 2 + 2 = max_batch_size
    starter.finish(0)
    await settle()
    assert [t.done() for t in tasks] == [True, True, False]


async def test_incompatible_requests_go_in_separate_batches():
    batcher, clock, starter = make(BATCHING, instances=2)
    tasks = [submit(batcher, "a", key="64x64"), submit(batcher, "b", key="32x32"), submit(batcher, "c", key="64x64")]
    await settle()
    clock.advance(0.002)
    await settle()
    assert sorted(starter.ids(i) for i in range(2)) == [["a", "c"], ["b"]]
    starter.finish(0)
    starter.finish(1)
    assert await asyncio.gather(*tasks) == ["out-a", "out-b", "out-c"]


async def test_largest_preferred_size_starts_at_once_and_expiry_trims_to_a_preferred_size():
    batcher, clock, starter = make(BatchPolicy(max_batch_size=16, max_queue_delay_s=0.01, preferred_batch_sizes=(2, 4)))
    tasks = [submit(batcher, str(i)) for i in range(4)]
    await settle()
    assert starter.ids(0) == ["0", "1", "2", "3"]  # reached preferred 4 before the delay
    starter.finish(0)
    tasks += [submit(batcher, str(i)) for i in range(4, 7)]
    await settle()
    clock.advance(0.01)
    await settle()
    assert starter.ids(1) == ["4", "5"]  # 3 waiting: the largest preferred size they hold is 2
    starter.finish(1)
    await settle()
    assert starter.ids(2) == ["6"]  # the rest is already overdue
    starter.finish(2)
    assert len(await asyncio.gather(*tasks)) == 7


async def test_requests_arriving_while_busy_ride_together_in_the_next_batch():
    batcher, _, starter = make(BatchPolicy(max_batch_size=8, max_queue_delay_s=0.0))
    first = submit(batcher, "a")
    await settle()
    rest = [submit(batcher, rid) for rid in "bcd"]
    await settle()
    assert len(starter.batches) == 1
    starter.finish(0)
    await settle()
    assert starter.ids(1) == ["b", "c", "d"]
    starter.finish(1)
    assert await asyncio.gather(first, *rest) == ["out-a", "out-b", "out-c", "out-d"]


async def test_queue_full_is_refused_at_once():
    batcher, _, starter = make(BatchPolicy(max_batch_size=0, max_queue_size=2))
    running = submit(batcher, "running")
    await settle()
    queued = [submit(batcher, "q1"), submit(batcher, "q2")]
    await settle()
    with pytest.raises(QueueFullError, match="max_queue_size"):
        await batcher.submit(request("refused"), 1, "k")  # no clock advance, no wait
    starter.finish(0)
    await settle()
    starter.finish(1)
    await settle()
    starter.finish(2)
    assert await asyncio.gather(running, *queued) == ["out-running", "out-q1", "out-q2"]


async def test_deadline_expiring_in_the_queue_fails_without_running():
    batcher, clock, starter = make(BatchPolicy(max_batch_size=0))
    busy = submit(batcher, "busy")
    await settle()
    doomed = submit(batcher, "doomed", deadline=clock.now() + 0.05)
    patient = submit(batcher, "patient")
    await settle()
    clock.advance(0.05)
    await settle()
    with pytest.raises(DeadlineExceededError, match="not run"):
        await doomed
    assert batcher.queue_depth == 1
    starter.finish(0)
    await settle()
    assert starter.ids(1) == ["patient"]  # the expired one was never started
    starter.finish(1)
    assert await asyncio.gather(busy, patient) == ["out-busy", "out-patient"]


async def test_default_timeout_and_timeout_ms_parameter_bound_the_wait():
    batcher, clock, starter = make(BatchPolicy(max_batch_size=0, timeout_s=1.0))
    submit(batcher, "busy")
    await settle()
    by_policy = submit(batcher, "policy")
    by_param = submit(batcher, "param", timeout_ms=100)
    await settle()
    clock.advance(0.1)
    await settle()
    assert by_param.done() and isinstance(by_param.exception(), DeadlineExceededError)
    assert not by_policy.done()
    clock.advance(0.9)
    await settle()
    assert isinstance(by_policy.exception(), DeadlineExceededError)
    assert len(starter.batches) == 1


async def test_cancelled_request_leaves_the_queue_and_is_never_started():
    batcher, _, starter = make(BatchPolicy(max_batch_size=0))
    busy = submit(batcher, "busy")
    await settle()
    gone, kept = submit(batcher, "gone"), submit(batcher, "kept")
    await settle()
    assert batcher.queue_depth == 2
    gone.cancel()
    await settle()
    assert batcher.queue_depth == 1
    starter.finish(0)
    await settle()
    assert [starter.ids(i) for i in range(len(starter.batches))] == [["busy"], ["kept"]]
    starter.finish(1)
    assert await asyncio.gather(busy, kept) == ["out-busy", "out-kept"]


async def test_higher_priority_is_served_first():
    batcher, _, starter = make(BatchPolicy(max_batch_size=0))
    submit(batcher, "busy")
    await settle()
    tasks = [
        submit(batcher, "low1", priority=0),
        submit(batcher, "high", priority=5),
        submit(batcher, "low2", priority=0),
    ]
    await settle()
    for i in range(3):
        starter.finish(i)
        await settle()
    assert [starter.ids(i)[0] for i in range(1, 4)] == ["high", "low1", "low2"]
    starter.finish(3)
    await asyncio.gather(*tasks)


async def test_a_long_waiting_low_priority_request_is_not_starved():
    policy = BatchPolicy(max_batch_size=0, starvation_s=0.1)
    batcher, clock, starter = make(policy)
    submit(batcher, "busy")
    await settle()
    low = submit(batcher, "low", priority=0)
    await settle()
    clock.advance(0.1)  # low has now waited starvation_s
    highs = [submit(batcher, f"high{i}", priority=1) for i in range(3)]
    await settle()
    starter.finish(0)
    await settle()
    assert starter.ids(1) == ["low"]
    for i in range(1, 5):
        starter.finish(i)
        await settle()
    assert [starter.ids(i)[0] for i in range(2, 5)] == ["high0", "high1", "high2"]
    await asyncio.gather(low, *highs)


async def test_batches_combine_priorities_highest_first():
    batcher, clock, starter = make(BATCHING)
    tasks = [submit(batcher, "low", priority=0), submit(batcher, "high", priority=2)]
    await settle()
    clock.advance(0.002)
    await settle()
    assert starter.ids(0) == ["high", "low"]
    starter.finish(0)
    assert await asyncio.gather(*tasks) == ["out-low", "out-high"]


async def test_instances_bound_how_many_batches_run_at_once():
    batcher, _, starter = make(BatchPolicy(max_batch_size=0), instances=2)
    tasks = [submit(batcher, rid) for rid in "abc"]
    await settle()
    assert len(starter.batches) == 2 and batcher.busy == 2 and batcher.queue_depth == 1
    starter.finish(1)
    await settle()
    assert starter.ids(2) == ["c"]
    starter.finish(0)
    starter.finish(2)
    assert await asyncio.gather(*tasks) == ["out-a", "out-b", "out-c"]


async def test_drain_refuses_new_work_and_queued_requests_fail_clearly():
    batcher, _, starter = make(BatchPolicy(max_batch_size=0))
    running = submit(batcher, "running")
    await settle()
    queued = submit(batcher, "queued")
    await settle()
    await batcher.drain(timeout=0)
    with pytest.raises(ModelUnavailableError):
        await batcher.submit(request("late"), 1, "k")
    assert batcher.fail_queued(ModelUnavailableError("unloaded")) == 1
    with pytest.raises(ModelUnavailableError, match="unloaded"):
        await queued
    starter.finish(0)
    assert await running == "out-running"
    assert len(starter.batches) == 1


async def test_a_failed_batch_fails_each_of_its_requests():
    batcher, _, starter = make(BatchPolicy(max_batch_size=0))
    task = submit(batcher, "a")
    await settle()
    starter.batches[0][1].set_exception(RuntimeError("backend exploded"))
    with pytest.raises(RuntimeError, match="exploded"):
        await task
