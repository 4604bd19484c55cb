"""The video client resumes a stream that ends UNAVAILABLE: unanswered frames are sent again on a
new call, answered ones never are, and the caller sees every frame's reply once, in order."""

from __future__ import annotations

import asyncio

import grpc
import pytest

from clients import AsyncVideoClient, Frame, PredictError, VideoClient
from clients.connection import RetryPolicy
from tests.clients.fake_video import FakeVideo

QUICK = RetryPolicy(max_attempts=3, initial_backoff=0.01, max_backoff=0.02)
SPS, PPS = b"\x00\x00\x00\x01\x67\x42", b"\x00\x00\x00\x01\x68\xce"


def idr(n: int) -> bytes:
    return b"\x00\x00\x00\x01\x65" + bytes([n])


def p_frame(n: int) -> bytes:
    return b"\x00\x00\x00\x01\x41" + bytes([n])


@pytest.fixture
def fake(request):
    server = FakeVideo(**getattr(request, "param", {}))
    yield server
    server.stop()


def sent_indices(fake: FakeVideo) -> list[list[int]]:
    return [[f.index for f in call] for call in fake.calls]


def assert_each_answered_once(fake: FakeVideo) -> None:
    """A frame reaches the server again only in the call right after the one that left it unread."""
    answered: set[int] = set()
    for call in sent_indices(fake):
        assert not answered & set(call), (answered & set(call), sent_indices(fake))
        answered |= set(call)


@pytest.mark.parametrize("fake", [{"cuts": [3, 5, 1]}], indirect=True)
def test_a_blocking_stream_resumes_after_each_reconnect_end(fake):
    with VideoClient(fake.address, timeout=60) as client:
        results = list(client.stream((bytes([i]) for i in range(20)), model="m", encoding="raw", resume=QUICK))
    assert [r.index for r in results] == list(range(20))
    assert all(r.ok for r in results)
    assert len(fake.calls) == 4
    assert [len(call) for call in fake.calls[:3]] == [3, 5, 1]
    assert sorted(i for call in sent_indices(fake) for i in call) == list(range(20))
    assert_each_answered_once(fake)


@pytest.mark.parametrize("fake", [{"cuts": [4, 4]}], indirect=True)
async def test_an_async_stream_resumes_with_an_async_generator_that_is_never_cancelled(fake):
    closed = []

    async def frames():
        try:
            for i in range(12):
                await asyncio.sleep(0)  # a camera read: an await the feeder may be cancelled in
                yield Frame(bytes([i]), index=100 + i, pts=i)
        finally:
            closed.append(True)

    async with AsyncVideoClient(fake.address, timeout=60) as client:
        results = [r async for r in client.stream(frames(), model="m", resume=QUICK)]
    assert [(r.index, r.pts) for r in results] == [(100 + i, i) for i in range(12)]
    assert len(fake.calls) == 3
    assert_each_answered_once(fake)
    assert closed == [True]  # ran to its end exactly once


@pytest.mark.parametrize("fake", [{"cuts": [4]}], indirect=True)
def test_h264_resumes_from_the_last_keyframe_and_hides_the_replayed_replies(fake):
    stream = [SPS, PPS, idr(0), p_frame(1), p_frame(2), p_frame(3), p_frame(4), SPS, PPS, idr(5), p_frame(6)]
    frames = [Frame(data, index=i) for i, data in enumerate(stream)]
    with VideoClient(fake.address, timeout=60) as client:
        results = list(client.stream(frames, model="m", encoding="h264", resume=QUICK))
    pictures = [i for i, data in enumerate(stream) if data[4] & 0x1F in (1, 5)]
    assert [r.index for r in results] == pictures  # each picture once, in order; no replies for SPS/PPS
    first, second = fake.calls
    assert [f.index for f in first] == [0, 1, 2, 3]
    # The new decoder starts at the keyframe: its parameter sets and the keyframe are replayed
    # (their replies dropped by the client), then the first unanswered frame follows.
    assert [f.index for f in second[:4]] == [0, 1, 2, 3]
    assert [f.index for f in second[4:]] == list(range(4, len(stream)))


@pytest.mark.parametrize("fake", [{"cuts": [0, 0, 0, 0]}], indirect=True)
def test_resuming_gives_up_after_the_policys_attempts_without_a_reply(fake):
    with VideoClient(fake.address, timeout=60) as client, pytest.raises(PredictError) as failed:
        list(client.stream([b"x"] * 3, model="m", resume=QUICK))
    assert failed.value.code == grpc.StatusCode.UNAVAILABLE and "reconnect" in failed.value.details
    assert len(fake.calls) == QUICK.max_attempts


@pytest.mark.parametrize("fake", [{"cuts": [2]}], indirect=True)
async def test_resume_none_ends_the_stream_with_the_servers_status(fake):
    async with AsyncVideoClient(fake.address, timeout=60) as client:
        results = []
        with pytest.raises(PredictError) as failed:
            async for result in client.stream([b"x"] * 5, model="m", resume=None):
                results.append(result.index)
    assert results == [0, 1]
    assert failed.value.code == grpc.StatusCode.UNAVAILABLE
    assert len(fake.calls) == 1


@pytest.mark.parametrize("fake", [{"cuts": [1], "code": grpc.StatusCode.INVALID_ARGUMENT}], indirect=True)
def test_a_status_other_than_unavailable_is_never_resumed(fake):
    with VideoClient(fake.address, timeout=60) as client, pytest.raises(PredictError) as failed:
        list(client.stream([b"x"] * 5, model="m", resume=QUICK))
    assert failed.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert len(fake.calls) == 1


class CameraFailed(Exception):
    pass


@pytest.mark.parametrize("fake", [{"cuts": [2]}], indirect=True)
async def test_the_frame_generators_exception_is_raised_as_itself_across_a_resume(fake):
    async def frames():
        for i in range(4):
            yield bytes([i])
        raise CameraFailed("unplugged")

    async with AsyncVideoClient(fake.address, timeout=60) as client:
        seen = []
        with pytest.raises(CameraFailed, match="unplugged"):
            async for result in client.stream(frames(), model="m", resume=QUICK):
                seen.append(result.index)
    assert seen == list(range(len(seen))) and len(seen) <= 4


@pytest.mark.parametrize("fake", [{"cuts": [3, 5]}], indirect=True)
def test_raw_frames_that_look_like_h264_parameter_sets_are_still_answered_once(fake):
    # 00 00 01 07 is an H.264 SPS start code; in raw or JPEG bytes it is just data.
    frames = (b"\x00\x00\x01\x07" + bytes([i]) for i in range(12))
    with VideoClient(fake.address, timeout=60) as client:
        results = list(client.stream(frames, model="m", encoding="raw", resume=QUICK))
    assert [r.index for r in results] == list(range(12))
    assert_each_answered_once(fake)
