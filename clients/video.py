"""Video streams (switchyard.v1.Predict/StreamVideo): frames in, results out, in order.

    async with AsyncVideoClient("127.0.0.1:8001") as client:
        async for result in client.stream(frames, model="text_detection", encoding="jpeg"):
            print(result.index, result.detections)

`frames` yields `Frame(data, index=None, pts=None)` or plain bytes, from a sync or async
iterable. gRPC reads it only as fast as the server accepts frames (flow control), so a
generator reading a camera never runs ahead of the server by more than a few frames.
Every frame gets exactly one FrameResult: `.ok` with detections, `.error`, or `.dropped`.
`VideoClient` is the blocking twin with the same arguments.

A stream that ends with a status the RetryPolicy names (UNAVAILABLE — a server draining,
"server draining: reconnect", or a lost connection — and CANCELLED by default; also grpc's
INTERNAL "Internal error from Core" that a drain can surface as) is reopened on the same
channel (another address of it, when it has several) and continues where it stopped:
frames sent but not answered are sent again, answered ones never are, and the caller sees
one reply per frame, in order (clients/video_resume.py).
`resume=` bounds the attempts without a reply in between (a RetryPolicy; None: never resume).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator

import grpc

from clients.aio_client import stream_failure
from clients.channel import AsyncPredictChannel, PredictChannel
from clients.connection import RetryPolicy
from clients.errors import PredictError
from clients.video_messages import (
    Classification,
    Detection,
    Frame,
    FrameResult,
    SendTimes,
    decode_response,
    stream_config,
)
from clients.video_resume import DEFAULT_RESUME, FrameLedger, resumable, resume_delay

log = logging.getLogger(__name__)

__all__ = ["AsyncVideoClient", "Classification", "Detection", "Frame", "FrameResult", "VideoClient", "stream_config"]


class AsyncVideoClient(AsyncPredictChannel):
    """`async with AsyncVideoClient(target) as client: async for result in client.stream(...)`."""

    async def stream(
        self,
        frames: AsyncIterable[Frame | bytes] | Iterable[Frame | bytes],
        *,
        model: str,
        timeout: float | None = None,
        resume: RetryPolicy | None = DEFAULT_RESUME,
        **options,
    ) -> AsyncIterator[FrameResult]:
        """Results in frame order. Options as `stream_config` (encoding, drop_policy, ...).

        Leaving the loop early cancels the stream, which frees its server-side decoder. An
        exception raised by `frames` is raised here as itself.
        """
        call_options = self._call_options(timeout, None)
        times, ledger, deadline = _prepare(frames, model, options, call_options["timeout"])
        failures = 0
        while True:
            call = self._stub.StreamVideo(ledger.aio_requests(), **_within(call_options, deadline))
            ledger.bind(call)
            try:
                async for response in call:
                    if ledger.answered(response):
                        failures = 0
                        yield decode_response(response, times)
                ledger.reraise()
                return
            except grpc.RpcError as error:
                ledger.reraise()
                failure = await stream_failure(call, error)
            except asyncio.CancelledError:
                ledger.reraise()
                raise
            finally:
                call.cancel()
            failures += 1
            await asyncio.sleep(_pause_before_resuming(model, failure, ledger, resume, failures))


class VideoClient(PredictChannel):
    """Blocking: `for result in VideoClient(target).stream(frames, model=...)`."""

    def stream(
        self,
        frames: Iterable[Frame | bytes],
        *,
        model: str,
        timeout: float | None = None,
        resume: RetryPolicy | None = DEFAULT_RESUME,
        **options,
    ) -> Iterator[FrameResult]:
        call_options = self._call_options(timeout, None)
        times, ledger, deadline = _prepare(frames, model, options, call_options["timeout"])
        failures = 0
        while True:
            call = self._stub.StreamVideo(ledger.sync_requests(), **_within(call_options, deadline))
            ledger.bind(call)
            try:
                for response in call:
                    if ledger.answered(response):
                        failures = 0
                        yield decode_response(response, times)
                ledger.reraise()
                return
            except grpc.RpcError as error:
                ledger.reraise()
                failure = PredictError.from_rpc_error(error)
            finally:
                call.cancel()
            failures += 1
            time.sleep(_pause_before_resuming(model, failure, ledger, resume, failures))


def _pause_before_resuming(
    model: str, failure: PredictError, ledger: FrameLedger, resume: RetryPolicy | None, failures: int
) -> float:
    """Raise `failure` unless the stream may be reopened; else log it and return the pause first."""
    if resume is None or not resumable(failure, resume) or failures >= resume.max_attempts:
        raise failure
    log.info(
        "video stream of %r ended %s (%s); resuming with %d unanswered frame(s)",
        model,
        failure.code.name,
        failure.details,
        ledger.unanswered,
    )
    return resume_delay(resume, failures)


def _prepare(
    frames: object, model: str, options: dict, timeout: float | None
) -> tuple[SendTimes, FrameLedger, float | None]:
    """What both flavours set up once per stream: send times, the ledger, and the deadline every
    resumed call shares."""
    times = SendTimes()
    ledger = FrameLedger(stream_config(model, **options), frames, times)
    return times, ledger, None if timeout is None else time.monotonic() + timeout


def _within(call_options: dict, deadline: float | None) -> dict:
    """One call's options: a resumed stream keeps the first call's deadline, not a new one."""
    if deadline is None:
        return call_options
    return {**call_options, "timeout": max(deadline - time.monotonic(), 0.0)}
