"""Resuming a video stream: which frames were sent and not answered yet, fed to one call after another.

A server that drains ends its streams with UNAVAILABLE "server draining: reconnect" after it has
answered every frame it read; a lost connection ends them with UNAVAILABLE too. Frames the client
handed to gRPC but the server never answered are kept here (flow control bounds how many), so
the client reopens the stream — on the same channel, which picks a healthy address — and sends
them again, then goes on with the caller's next frame. Answered frames are never sent again, so
the caller sees every frame's reply once, in order.

H.264 is the exception that proves the rule: a new decoder cannot start mid-GOP, so a resumed
H.264 stream first replays the answered access units since the last keyframe (with their
parameter sets) to prime the decoder; their replies are discarded here.

The caller's iterator is pulled by one pull at a time shared by every call, so a call that ends
while its request feeder waits for the caller's next frame never cancels the caller's generator
and never loses that frame.
"""

from __future__ import annotations

import asyncio
import random
import threading
from collections import deque
from collections.abc import AsyncIterable, AsyncIterator, Iterator
from typing import Any

import grpc

from clients.connection import RetryPolicy
from clients.errors import PredictError
from clients.request import RequestFeed
from clients.video_messages import Frame, SendTimes
from protos.h264 import has_keyframe, parameter_sets_only
from protos.switchyard.v1 import video_pb2 as vpb

__all__ = ["DEFAULT_RESUME", "FrameLedger", "resume_delay"]

# Reopening a stream: up to 5 tries in a row without a reply in between, 0.1 s .. 1 s apart.
DEFAULT_RESUME = RetryPolicy()
# Access units kept to prime a resumed H.264 decoder; a longer GOP resumes without priming
# (its frames up to the next keyframe are answered with decode errors).
MAX_PRIMING = 600


def resume_delay(policy: RetryPolicy, attempt: int) -> float:
    """Exponential backoff with +-20 % jitter (so replicas are not hit in step); attempt counts from 1."""
    delay = min(policy.max_backoff, policy.initial_backoff * policy.backoff_multiplier ** (attempt - 1))
    return delay * random.uniform(0.8, 1.2)


# grpc.aio reports a stream that the server ended while a frame was being written as INTERNAL
# "Internal error from Core": the failed write overwrites the server's own status
# (grpc/grpc#36066), so a drain's UNAVAILABLE can arrive as this. Every frame is accounted for
# either way (answered, or sent again), so such an end is resumed like UNAVAILABLE.
CORE_WRITE_RACE = "Internal error from Core"


def resumable(error: PredictError, policy: RetryPolicy | None) -> bool:
    if policy is None:
        return False
    if error.code == grpc.StatusCode.INTERNAL and error.details == CORE_WRITE_RACE:
        return True
    return error.code.name in policy.codes


class FrameLedger(RequestFeed):
    """The frames of one video stream across the calls that carry it (and, as a RequestFeed, the
    exception the caller's frame iterator raised)."""

    def __init__(self, config: vpb.StreamConfig, frames: Any, times: SendTimes) -> None:
        super().__init__()
        self._config = config
        self._h264 = config.encoding == vpb.StreamConfig.ENCODING_H264
        self._times = times
        self._source = frames
        self._aiter: AsyncIterator | None = None
        self._iter: Iterator | None = None
        self._unanswered: dict[int, vpb.StreamVideoRequest] = {}  # sequence number -> request
        self._pulled = 0  # sequence number of the next frame pulled from the caller
        self._exhausted = False
        self._generation = 0
        self._lock = threading.Lock()  # the bookkeeping (the sync client's feeder is another thread)
        self._pull_lock = threading.Lock()  # one pull from the caller at a time
        self._pulling: asyncio.Future | None = None
        # H.264: answered access units since the last answered keyframe, and parameter sets
        # answered since the last picture (they belong to the next keyframe).
        self._gop: list[vpb.StreamVideoRequest] = []
        self._params: list[vpb.StreamVideoRequest] = []
        self._priming: deque[int] = deque()  # indices of the replayed pictures whose replies are dropped

    # ------------------------------------------------------------------ one call's requests

    def _start(self) -> tuple[int, int, list[vpb.StreamVideoRequest]]:
        """A new call: (generation, first sequence number to send, priming messages)."""
        with self._lock:
            self._generation += 1
            first = next(iter(self._unanswered), self._pulled)
            priming = list(self._gop) if self._h264 and self._needs_priming(first) else []
            self._priming = deque(r.frame.index for r in priming if not self._no_reply(r))
            return self._generation, first, priming

    def _needs_priming(self, first: int) -> bool:
        request = self._unanswered.get(first)
        return bool(self._gop) and not (request is not None and has_keyframe(request.frame.data))

    def _take(self, generation: int, position: int) -> vpb.StreamVideoRequest | None:
        with self._lock:
            if generation != self._generation:
                return None
            return self._unanswered.get(position)

    def _record(self, frame: Frame | bytes) -> None:
        request = self._times.request(frame)
        with self._lock:
            self._unanswered[self._pulled] = request
            self._pulled += 1

    def _stopped(self, generation: int) -> bool:
        return generation != self._generation or self.error is not None

    def sync_requests(self) -> Iterator[vpb.StreamVideoRequest]:
        """The requests of the next call (the blocking client's)."""
        generation, position, priming = self._start()
        yield vpb.StreamVideoRequest(config=self._config)
        yield from priming
        while not self._stopped(generation):
            if position < self._pulled:
                request = self._take(generation, position)
                position += 1
                if request is not None:
                    yield request
                continue
            if self._exhausted:
                return
            with self._pull_lock:
                if position >= self._pulled and not self._exhausted and not self._stopped(generation):
                    self._pull_sync()

    def _pull_sync(self) -> None:
        try:
            if self._iter is None:
                self._iter = iter(self._source)
            self._record(next(self._iter))
        except StopIteration:
            self._exhausted = True
        except Exception as exc:
            self._failed(exc)

    async def aio_requests(self) -> AsyncIterator[vpb.StreamVideoRequest]:
        """The requests of the next call (the asyncio client's)."""
        generation, position, priming = self._start()
        yield vpb.StreamVideoRequest(config=self._config)
        for primer in priming:
            yield primer
        while not self._stopped(generation):
            if position < self._pulled:
                request = self._take(generation, position)
                position += 1
                if request is not None:
                    yield request
                continue
            if self._exhausted:
                return
            if self._pulling is None:
                self._pulling = asyncio.ensure_future(self._pull_aio())
            # Shielded: grpc cancels an ended call's feeder, which must not cancel the caller's generator.
            await asyncio.shield(self._pulling)

    async def _pull_aio(self) -> None:
        try:
            if not isinstance(self._source, AsyncIterable):
                self._pull_sync()
                return
            if self._aiter is None:
                self._aiter = self._source.__aiter__()
            self._record(await self._aiter.__anext__())
        except StopAsyncIteration:
            self._exhausted = True
        except Exception as exc:
            self._failed(exc)
        finally:
            self._pulling = None

    # ------------------------------------------------------------------ replies and errors

    def answered(self, response: vpb.StreamVideoResponse) -> bool:
        """Account for one reply; False for a replayed priming picture's (the caller saw it already)."""
        with self._lock:
            if self._priming and response.index == self._priming[0]:
                self._priming.popleft()
                return False
            self._priming.clear()
            found = None
            for sequence, request in self._unanswered.items():
                if request.frame.index == response.index and not self._no_reply(request):
                    found = sequence
                    break
            if found is None:
                return True
            # Replies follow the sending order: earlier unanswered messages are parameter sets,
            # which get no reply of their own.
            while self._unanswered:
                sequence = next(iter(self._unanswered))
                self._keep_for_priming(self._unanswered.pop(sequence))
                if sequence == found:
                    break
            return True

    def _no_reply(self, request: vpb.StreamVideoRequest) -> bool:
        """An H.264 message of parameter sets alone: the server answers no reply for it. Only
        H.264: JPEG or raw bytes may hold the same start-code pattern by chance."""
        return self._h264 and parameter_sets_only(request.frame.data)

    def _keep_for_priming(self, request: vpb.StreamVideoRequest) -> None:
        if not self._h264:
            return
        data = request.frame.data
        if parameter_sets_only(data):
            self._params.append(request)
        elif has_keyframe(data):
            self._gop = [*self._params, request]
            self._params = []
        elif self._gop and len(self._gop) < MAX_PRIMING:
            self._gop += [*self._params, request]
            self._params = []
        else:
            self._gop, self._params = [], []  # no keyframe seen, or too long a GOP: nothing to prime with

    @property
    def unanswered(self) -> int:
        return len(self._unanswered)
