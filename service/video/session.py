"""StreamVideo: one session per stream — reader, drop-policy queue, dispatcher, ordered replies.

    reader:      frame message -> reply slot (in sending order) -> decode -> DropQueue
    dispatcher:  DropQueue -> (at most max_in_flight at once) preprocess -> runner.infer
                 -> postprocess -> fills the frame's slot
    replies:     slots in sending order; each holds a result, an error or a drop notice

Every frame message gets exactly one slot, and every slot is filled exactly once (result,
in-band error, or drop notice), so nothing is dropped silently and replies stay in frame
order. A stream's memory is bounded in bytes as well as frames (MediaLimits): decoded
pictures waiting for or inside the model (past the bound the drop policy applies), and the
tensors of finished replies the client has not read yet (past it the reader stops, and
flow control holds the sender). Decoding, pre- and postprocessing run in worker threads
(OpenCV, libjpeg-turbo and FFmpeg release the GIL), so they overlap the model and never
stall the event loop.
When the server drains, the reader stops taking frames (service/rpc/streams.py's stop-aware
read): every frame already read is answered, held-back H.264 pictures included, then the
stream ends with UNAVAILABLE "server draining: reconnect".
Ending, cancelling or disconnecting runs the session's `finally`: tasks are cancelled,
the queue is emptied and the decoder is closed at once.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import numpy as np

from protos.errors import ErrorCode, InvalidInputError, SwitchyardError
from protos.h264 import parameter_sets_only
from protos.switchyard.v1 import video_pb2 as vpb
from service.drift.streams import StreamDrift
from service.observability.frames import FrameSpan
from service.observability.stages import stage_record
from service.observability.tracing import TRACING
from service.repository.repository import ModelRepository
from service.rpc.drain import current_stop, draining_error
from service.rpc.streams import STOPPED, next_unless_stopped
from service.scheduling.runner import InferRequest, ModelRunner
from service.video.messages import (
    StreamOptions,
    Timings,
    dropped_response,
    error_response,
    result_response,
    stream_options,
)
from service.video.queue import DropQueue
from service.video.stats import VideoStats
from service.vision.decode import FrameDecoder, make_decoder
from service.vision.limits import MediaLimits
from service.vision.pipeline import VisionPipeline, pipeline_for

# Replies that may wait to be sent (drop notices, finished results) beyond the frames in
# the queue and the model; past it the reader stops and flow control holds the sender.
REPLY_SLACK = 32
_NO_REPLY = None  # a message without a picture (H.264 SPS/PPS only) gets no reply
# H.264 holds at most 16 pictures back for reordering; a frame older than that is lost.
MAX_REORDER = 16


@dataclass
class _Frame:
    index: int
    pts: int
    received: float
    slot: asyncio.Future
    decode_ms: float = 0.0
    image: np.ndarray | None = None
    queued: float = 0.0
    nbytes: int = 0  # of its decoded picture, counted against the stream's byte bound


class VideoSession:
    """One open stream. Built from the opening StreamConfig; `replies()` drives it."""

    def __init__(
        self,
        options: StreamOptions,
        runner: ModelRunner,
        pipeline: VisionPipeline,
        decoder: FrameDecoder,
        clock: Callable[[], float] = time.perf_counter,
        limits: MediaLimits | None = None,
    ) -> None:
        self.options = options
        self.runner = runner
        self.pipeline = pipeline
        self.decoder: FrameDecoder | None = decoder
        self.max_bytes = (limits or MediaLimits()).max_stream_pending_bytes
        self.queue: DropQueue[_Frame] = DropQueue(options.drop_policy, options.max_pending, self.max_bytes)
        self.closed = asyncio.Event()
        self._clock = clock
        self._slots: asyncio.Queue = asyncio.Queue()
        # Bounds slots handed out but not yet replied to: the stream's memory bound.
        self._outstanding = asyncio.Semaphore(options.max_pending + options.max_in_flight + REPLY_SLACK)
        self._in_flight = asyncio.Semaphore(options.max_in_flight)
        self._by_tag: dict[int, _Frame] = {}
        self._tags = itertools.count()
        self._tasks: set[asyncio.Task] = set()
        # Tensor bytes of replies that are ready but not yet handed to gRPC.
        self.unsent_bytes = 0
        self._reply_room = asyncio.Event()
        self._reply_room.set()
        # This stream's own frame statistics (sampled, off the event loop); None when not monitored.
        self.frame_drift = StreamDrift.open(runner)

    async def replies(self, requests: AsyncIterator[vpb.StreamVideoRequest]) -> AsyncIterator[vpb.StreamVideoResponse]:
        reader = asyncio.ensure_future(self._read(requests))
        dispatcher = asyncio.ensure_future(self._dispatch())
        try:
            while True:
                slot = await self._slots.get()
                if isinstance(slot, BaseException):
                    raise slot  # a broken stream: ends the RPC with its status
                if slot is None:
                    break
                response = await slot
                self._outstanding.release()
                self._sent(response)
                if response is not _NO_REPLY:
                    yield response
        finally:
            reader.cancel()
            dispatcher.cancel()
            for task in list(self._tasks):
                task.cancel()
            self.queue.clear()
            self._by_tag.clear()
            decoder, self.decoder = self.decoder, None
            if decoder is not None:
                decoder.close()
            if self.frame_drift is not None:
                self.frame_drift.close()
            self.closed.set()

    @property
    def waiting_for_client(self) -> bool:
        """The reader has stopped until the client reads replies (their tensors are over the bound)."""
        return not self._reply_room.is_set()

    # ------------------------------------------------------------------ reader

    async def _read(self, requests: AsyncIterator[vpb.StreamVideoRequest]) -> None:
        iterator = requests.__aiter__()
        stop = current_stop()
        try:
            while True:
                try:
                    message = await next_unless_stopped(iterator, stop)
                except StopAsyncIteration:
                    await self._finish()
                    break
                if message is STOPPED:
                    # The server drains: no new frames; every frame read is answered (in order),
                    # then the stream ends UNAVAILABLE "server draining: reconnect", so the client
                    # resends the rest elsewhere.
                    await self._finish(draining_error())
                    break
                if message.WhichOneof("kind") != "frame":
                    raise InvalidInputError("a video stream sends one StreamConfig first, then only frames")
                await self._admit(message.frame)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            # Frames the decoder still holds will never come out: answer them before the
            # stream ends with this error.
            for tag in list(self._by_tag):
                self._fail_tag(tag, InvalidInputError("the stream ended before this frame's picture was decoded"))
            self.queue.close()
            self._slots.put_nowait(exc)
            return
        self.queue.close()

    async def _admit(self, frame: vpb.VideoFrame) -> None:
        decoder = self._open_decoder()
        while self.unsent_bytes > self.max_bytes:  # the client is not reading its replies
            self._reply_room.clear()
            await self._reply_room.wait()
        await self._outstanding.acquire()
        item = _Frame(frame.index, frame.pts, self._clock(), asyncio.get_running_loop().create_future())
        self._slots.put_nowait(item.slot)
        if self.options.encoding == "h264" and parameter_sets_only(frame.data):
            try:
                await asyncio.to_thread(decoder.decode, frame.data)  # held for the next picture
            except SwitchyardError as exc:  # e.g. an SPS over the pixel limit: answered, never decoded
                item.slot.set_result(error_response(item.index, item.pts, exc))
                return
            item.slot.set_result(_NO_REPLY)
            return
        tag = next(self._tags)
        self._by_tag[tag] = item
        try:
            decoded = await asyncio.to_thread(decoder.decode, frame.data, tag)
        except Exception as exc:  # a bad frame is that frame's error (INTERNAL if unexpected)
            self._fail_tag(tag, exc)
            return
        finally:
            self._expire(tag)
        item.decode_ms = (self._clock() - item.received) * 1e3
        await self._enqueue(decoded)

    async def _finish(self, ending: BaseException | None = None) -> None:
        """End of input: drain pictures the decoder held back; account for the rest.

        `ending`: the status the stream ends with once every frame is answered (None: OK).
        """
        decoder = self._open_decoder()
        try:
            decoded = await asyncio.to_thread(decoder.flush)
        except SwitchyardError as exc:
            decoded = []
            for tag in list(self._by_tag):
                self._fail_tag(tag, exc)
        await self._enqueue(decoded)
        for tag, item in list(self._by_tag.items()):  # lost inside the decoder (damaged references)
            self._fail_tag(tag, InvalidInputError(f"frame {item.index} produced no picture by the end of the stream"))
        self._slots.put_nowait(ending)

    def _open_decoder(self) -> FrameDecoder:
        # replies() closes the decoder only after cancelling the reader, so a reader never sees None.
        if self.decoder is None:
            raise SwitchyardError("the video stream is closed", ErrorCode.CANCELLED)
        return self.decoder

    async def _enqueue(self, decoded) -> None:
        for picture in decoded:
            item = self._by_tag.pop(picture.tag, None)
            if item is None:
                continue
            item.image, item.queued, item.nbytes = picture.image, self._clock(), picture.image.nbytes
            for old in await self.queue.put(item, item.nbytes):
                old.slot.set_result(
                    dropped_response(old.index, old.pts, self.options.drop_policy, self.options.max_pending)
                )
                old.image = None

    def _expire(self, newest: int) -> None:
        """Frames older than any reordering could hold back lost their picture (damaged data)."""
        for tag in list(itertools.takewhile(lambda t: t < newest - MAX_REORDER, self._by_tag)):
            self._fail_tag(
                tag,
                InvalidInputError(
                    f"frame {self._by_tag[tag].index} produced no picture (damaged, or its references were lost)"
                ),
            )

    def _fail_tag(self, tag: int, exc: BaseException) -> None:
        item = self._by_tag.pop(tag, None)
        if item is not None and not item.slot.done():
            item.slot.set_result(error_response(item.index, item.pts, exc))

    # ------------------------------------------------------------------ dispatcher

    async def _dispatch(self) -> None:
        while True:
            await self._in_flight.acquire()
            item = await self.queue.get()
            if item is None:
                return
            task = asyncio.ensure_future(self._process(item))
            self._tasks.add(task)
            task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        self._in_flight.release()

    async def _process(self, item: _Frame) -> None:
        now, now_ns = self._clock(), time.time_ns()
        timings = Timings(decode_ms=item.decode_ms, queue_ms=(now - item.queued) * 1e3)
        model = self.options.model
        received_ns = now_ns - int((now - item.received) * 1e9)  # the session's clock -> wall clock, as spans want
        frame = FrameSpan(model, item.index, item.pts, received_ns) if TRACING.tracer is not None else None
        stage_record("image.decode", received_ns, received_ns + int(item.decode_ms * 1e6), model)
        image, item.image = item.image, None
        response = None
        try:
            if image is None:  # only dropped frames give up their picture, and they never get here
                raise SwitchyardError(f"frame {item.index} reached the model without a picture", ErrorCode.INTERNAL)
            if self.frame_drift is not None:
                self.frame_drift.offer(image)
            started_ns = time.time_ns()
            inputs, transform, timings.preprocess_ms = await asyncio.to_thread(self.pipeline.prepare, image)
            stage_record("preprocess", started_ns, time.time_ns(), model)
            started = self._clock()
            outputs = await self.runner.infer(InferRequest(inputs=inputs, id=str(item.index)))
            timings.infer_ms = (self._clock() - started) * 1e3
            results: list = []
            if self.options.want_results:
                started_ns = time.time_ns()
                results, timings.postprocess_ms = await asyncio.to_thread(self.pipeline.results, outputs, transform)
                stage_record("postprocess", started_ns, time.time_ns(), model)
            timings.total_ms = (self._clock() - item.received) * 1e3
            response = result_response(
                item.index,
                item.pts,
                image.shape[:2],
                results,
                outputs if self.options.want_tensors else None,
                timings,
            )
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            response = error_response(item.index, item.pts, exc)
        finally:
            self.queue.release(item.nbytes)
            if frame is not None:
                frame.end(*_outcome(response))
        if not item.slot.done():
            if self.options.want_tensors:
                self.unsent_bytes += _tensor_bytes(response)
            item.slot.set_result(response)

    def _sent(self, response: vpb.StreamVideoResponse | None) -> None:
        if response is not None and self.options.want_tensors:
            self.unsent_bytes -= _tensor_bytes(response)
            if self.unsent_bytes <= self.max_bytes:
                self._reply_room.set()


def _outcome(response: vpb.StreamVideoResponse | None) -> tuple[str, str]:
    """(outcome, error message) of a frame's reply for its span; no reply: the stream was cancelled."""
    if response is None:
        return "cancelled", "the stream ended before this frame was answered"
    if response.HasField("error"):
        return "error", response.error.message
    return "result", ""


def _tensor_bytes(response: vpb.StreamVideoResponse) -> int:
    return sum(len(t.raw_contents) for t in response.result.tensors) if response.HasField("result") else 0


class VideoStreams:
    """Opens sessions for the Predict servicer and keeps the live ones (for drain and tests)."""

    def __init__(
        self, repository: ModelRepository, stats: VideoStats | None = None, limits: MediaLimits | None = None
    ) -> None:
        self._repository = repository
        self.limits = limits or MediaLimits()
        self.active: set[VideoSession] = set()
        self.stats = stats or VideoStats()

    async def open(self, config: vpb.StreamConfig) -> VideoSession:
        options = stream_options(config)
        version = self._repository.get(options.model, options.version)
        pipeline = pipeline_for(
            version,
            self._repository.entry(options.model).path,
            options.preprocess_overrides,
            options.postprocess_overrides,
            self.limits.max_image_pixels,
        )
        if options.want_results and pipeline.postprocessor is None:
            raise InvalidInputError(
                f"model '{options.model}' declares no `postprocess`; ask for TENSORS instead of RESULTS"
            )
        runner = version.ready_runner
        decoder = make_decoder(
            options.encoding, options.width, options.height, options.pixel_format, self.limits.max_image_pixels
        )
        return VideoSession(options, runner, pipeline, decoder, limits=self.limits)

    async def stream(self, requests) -> AsyncIterator[vpb.StreamVideoResponse]:
        """The whole RPC: the first message opens the session, the rest are its frames."""
        iterator = requests.__aiter__()
        try:
            first = await iterator.__anext__()
        except StopAsyncIteration:
            return
        if first.WhichOneof("kind") != "config":
            raise InvalidInputError("the first StreamVideo message must carry a StreamConfig")
        session = await self.open(first.config)
        model = session.options.model
        self.active.add(session)
        self.stats.opened(model)
        try:
            async for response in session.replies(iterator):
                self.stats.answered(model, response.WhichOneof("outcome"))
                yield response
        finally:
            self.active.discard(session)
            self.stats.closed(model)
