"""A long StreamVideo against real `switchyard serve` processes: connection ageing never costs a frame,
and a stream whose server drains (or whose connection is cut) resumes on the client's channel —
every frame answered exactly once, in order, with its own frame's result.

A camera is simulated at 50 frames/s: the stream's length in frames fixes how many ageing
periods (of 1 s here, minutes in production) it lives through, however loaded the machine is.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import signal
import sys

import numpy as np
import pytest

from clients import AsyncVideoClient, Frame, VideoClient
from clients.connection import RetryPolicy
from tests.conftest import free_port, serving, start_serve_process, write_model
from tests.fixtures.models import tiny_cnn
from tests.integration.test_drain import stop, wait_not_serving

AGE_S = 1.0
FPS = 50
PERIODS = 6  # ageing periods the long stream lives through (at least; longer on a loaded machine)
CONFIG = "backend: onnxruntime\npreprocess: {size: [64, 64]}\n"
RAW = dict(encoding="raw", width=64, height=64, pixel_format="RGB", returns="tensors")
PICTURES = [np.random.default_rng(i).integers(0, 256, (64, 64, 3), dtype=np.uint8).tobytes() for i in range(4)]
# Patient: a resumed call may wait for a replica that is still starting on a loaded machine.
PATIENT = RetryPolicy(max_attempts=5, initial_backoff=0.2, max_backoff=1.0)


@pytest.fixture(scope="module")
def video_repo(tmp_path_factory):
    repo = tmp_path_factory.mktemp("video_resume_repo")
    write_model(repo, "cnn", tiny_cnn(), CONFIG)
    return repo


def camera(count: int):
    """`count` frames at FPS, the way a camera delivers them (four pictures in turn)."""
    import time

    start = time.monotonic()
    for index in range(count):
        delay = start + index / FPS - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        yield Frame(PICTURES[index % 4], index=index, pts=index * 1000 // FPS)


def assert_seamless(results, count: int) -> None:
    """One reply per frame, in order, each carrying its own picture's result."""
    assert [r.index for r in results] == list(range(count))
    assert all(r.ok for r in results), [(r.index, r.error) for r in results if not r.ok][:5]
    first = [results[k].tensors["probabilities"] for k in range(4)]
    assert all(not np.allclose(first[0], other) for other in first[1:])  # the pictures tell apart
    for r in results:
        np.testing.assert_allclose(r.tensors["probabilities"], first[r.index % 4], rtol=1e-5)


def resumes(caplog) -> int:
    return sum("resuming" in record.getMessage() for record in caplog.records if record.name == "clients.video")


def test_a_long_stream_lives_through_many_connection_ageing_periods(video_repo, caplog):
    caplog.set_level(logging.INFO, logger="clients.video")
    count = int(PERIODS * AGE_S * FPS)
    with (
        serving(sys.executable, video_repo, "--max-connection-age", str(AGE_S)) as (_, address),
        VideoClient(address, timeout=300) as client,
    ):
        results = list(client.stream(camera(count), model="cnn", **RAW))
        # The channel still works after the ageing recycled its connection under the stream.
        assert [r.index for r in client.stream([PICTURES[0]], model="cnn", **RAW)] == [0]
    assert_seamless(results, count)
    assert resumes(caplog) == 0  # ageing never ended the stream: nothing needed resuming


def test_a_stream_cut_by_connection_ageing_with_a_grace_resumes_without_losing_a_frame(video_repo, caplog):
    # An explicit ageing grace does cut a stream (every AGE_S + grace seconds): the client resumes.
    caplog.set_level(logging.INFO, logger="clients.video")
    count = int(PERIODS * AGE_S * FPS)
    env = {"SWITCHYARD_MAX_CONNECTION_AGE_GRACE": str(AGE_S)}
    with (
        serving(sys.executable, video_repo, "--max-connection-age", str(AGE_S), env=env) as (_, address),
        VideoClient(address, timeout=300, wait_for_ready=True) as client,
    ):
        results = list(client.stream(camera(count), model="cnn", resume=PATIENT, **RAW))
    assert_seamless(results, count)
    assert resumes(caplog) >= 1


class Replicas:
    """The first replica up; the second one's address reserved (on the client's list from the
    start) but not serving until `start_second()`, so a stream can only open on the first."""

    def __init__(self, repo) -> None:
        self.repo = repo
        self.first, self.first_address = start_serve_process(sys.executable, repo, "--grace-period", "120")
        self.second_port = free_port()
        self.second = None
        self.targets = [self.first_address, f"127.0.0.1:{self.second_port}"]

    def start_second(self) -> None:
        self.second, _ = start_serve_process(sys.executable, self.repo, "--port", str(self.second_port))

    def drain_first(self) -> None:
        self.first.send_signal(signal.SIGTERM)
        wait_not_serving(self.first_address)

    def stop(self) -> None:
        stop(self.first)
        if self.second is not None:
            stop(self.second)


def test_sigterm_of_the_streams_server_moves_it_to_the_other_without_losing_a_frame(video_repo, caplog):
    caplog.set_level(logging.INFO, logger="clients.video")
    replicas = Replicas(video_repo)
    sent: queue.Queue = queue.Queue()
    try:
        with VideoClient(replicas.targets, timeout=300, wait_for_ready=True) as client:

            def frames():
                while (index := sent.get()) is not None:
                    yield Frame(PICTURES[index % 4], index=index)

            results = client.stream(frames(), model="cnn", resume=PATIENT, **RAW)
            answered = []
            for index in range(20):
                sent.put(index)
                answered.append(next(results))
            replicas.start_second()
            for index in range(20, 40):  # some are read by the first replica before it stops, some not
                sent.put(index)
            replicas.drain_first()
            for index in range(40, 60):
                sent.put(index)
            sent.put(None)
            answered.extend(results)
        assert replicas.first.wait(timeout=60) == 0  # answered what it read, left long before its grace
        assert_seamless(answered, 60)
        assert resumes(caplog) >= 1
    finally:
        sent.put(None)
        replicas.stop()


async def test_an_async_stream_moves_to_the_other_replica_too(video_repo, caplog):
    caplog.set_level(logging.INFO, logger="clients.video")
    replicas = await asyncio.to_thread(Replicas, video_repo)
    sent: asyncio.Queue = asyncio.Queue()
    try:
        async with AsyncVideoClient(replicas.targets, timeout=300, wait_for_ready=True) as client:

            async def frames():
                while (index := await sent.get()) is not None:
                    yield Frame(PICTURES[index % 4], index=index)

            results = aiter(client.stream(frames(), model="cnn", resume=PATIENT, **RAW))
            answered = []
            for index in range(20):
                sent.put_nowait(index)
                answered.append(await anext(results))
            await asyncio.to_thread(replicas.start_second)
            for index in range(20, 40):
                sent.put_nowait(index)
            await asyncio.to_thread(replicas.drain_first)
            for index in range(40, 60):
                sent.put_nowait(index)
            sent.put_nowait(None)
            answered.extend([result async for result in results])
        assert await asyncio.to_thread(replicas.first.wait, 60) == 0
        assert_seamless(answered, 60)
        assert resumes(caplog) >= 1
    finally:
        await asyncio.to_thread(replicas.stop)
