"""The in-flight byte budget, the decode threads and the heap trimmer, without a server."""

from __future__ import annotations

import asyncio
import threading

import numpy as np
import pytest

from protos import codec
from protos.errors import ErrorCode
from protos.limits import LimitExceededError
from service.rpc.budget import InflightBudget, RequestIntake
from service.rpc.heap import TRIM_AFTER_BYTES, HeapTrimmer, libc_malloc_trim

MiB = 1 << 20


def test_a_reservation_past_the_budget_is_refused_naming_it_and_takes_nothing():
    budget = InflightBudget(10 * MiB)
    first = budget.lease()
    first.reserve(6 * MiB)
    with budget.lease() as second, pytest.raises(LimitExceededError) as info:
        second.reserve(6 * MiB)
    assert info.value.code is ErrorCode.RESOURCE_EXHAUSTED
    assert "max_inflight_bytes" in info.value.message and "6.0 MiB" in info.value.message
    assert budget.held == 6 * MiB  # the refused lease holds nothing
    first.close()
    assert budget.held == 0
    first.close()  # closing twice gives nothing back twice
    assert budget.held == 0


def test_a_request_larger_than_the_whole_budget_is_told_so():
    with InflightBudget(2 * MiB).lease() as lease, pytest.raises(LimitExceededError, match="whole in-flight budget"):
        lease.reserve(3 * MiB)


def test_a_lease_gives_everything_back_when_its_request_fails():
    budget = InflightBudget(10 * MiB)
    with pytest.raises(RuntimeError), budget.lease() as lease:
        lease.reserve(4 * MiB)
        raise RuntimeError("the model failed")
    assert budget.held == 0


async def test_small_work_decodes_inline_and_big_work_on_a_decode_thread():
    intake = RequestIntake(inline_work=4)
    small = [codec.check_raw("x", "FP32", [2], np.zeros(2, np.float32).tobytes())]
    strings = np.array([b"s"] * 10, dtype=object)
    big = [codec.check_raw("s", "BYTES", [10], codec.encode_raw(strings))]
    seen: list[str] = []
    real = codec.to_array

    def spy(checked):
        seen.append(threading.current_thread().name)
        return real(checked)

    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr("service.rpc.budget.to_array", spy)
            with intake.lease() as lease:
                assert (await intake.arrays(small, lease))["x"].tolist() == [0, 0]
                assert list((await intake.arrays(big, lease))["s"]) == list(strings)
                assert lease.held == small[0].nbytes + big[0].nbytes
        assert seen[0] == threading.current_thread().name
        assert seen[1].startswith("decode")
        assert intake.budget.held == 0
    finally:
        intake.close()


async def test_a_large_request_ending_asks_for_one_trim_and_small_ones_none():
    trimmed = asyncio.Event()
    calls: list[int] = []

    def trim() -> None:  # on the trimmer's thread
        calls.append(1)
        loop.call_soon_threadsafe(trimmed.set)

    loop = asyncio.get_running_loop()
    intake = RequestIntake(trim=trim)
    try:
        with intake.lease() as lease:
            lease.note(TRIM_AFTER_BYTES - 1)
        assert intake.trimmer.trims == 0 and not calls
        with intake.lease() as lease:
            lease.note(TRIM_AFTER_BYTES)
        await asyncio.wait_for(trimmed.wait(), 5)
        assert calls == [1]
    finally:
        intake.close()


async def test_requests_during_a_trim_get_one_more_trim_after_it():
    started, release, done = threading.Event(), threading.Event(), asyncio.Event()
    loop = asyncio.get_running_loop()
    count = 0

    def trim() -> None:
        nonlocal count
        count += 1
        started.set()
        release.wait(5)
        if count == 2:
            loop.call_soon_threadsafe(done.set)

    trimmer = HeapTrimmer(trim, interval=0.0)
    trimmer.request()
    await asyncio.to_thread(started.wait, 5)
    trimmer.request()  # while the first runs: memory freed now needs a second pass
    trimmer.request()  # ... and only one
    release.set()
    await asyncio.wait_for(done.wait(), 5)
    assert count == 2


def test_malloc_trim_is_found_on_glibc():
    assert libc_malloc_trim() is not None  # Debian: glibc (docs/security.md, memory)
