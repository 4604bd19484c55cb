"""Video streams (switchyard.v1.Predict/StreamVideo): frames in, results out, in order.

    async with AsyncVideoClient("127.0.0.1:8001") as client:
        async for result in client.stream(frames, model="text_detection", encoding="jpeg"):
            print(result.index, result.detections)

`frames` yields `Frame(data, index=None, pts=None)` or plain bytes, from a sync or async
iterable. gRPC reads it only as fast as the server accepts frames (flow control), so a
generator reading a camera never runs ahead of the server by more than a few frames.
Every frame gets exactly one FrameResult: `.ok` with detections, `.error`, or `.dropped`.
`VideoClient` is the blocking twin with the same arguments.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator

import grpc

from clients.aio_client import stream_failure
from clients.channel import AsyncPredictChannel, PredictChannel
from clients.errors import PredictError
from clients.video_messages import (
    Classification,
    Detection,
    Frame,
    FrameResult,
    SendTimes,
    decode_response,
    frame_requests,
    stream_config,
)
from protos.switchyard.v1 import video_pb2 as vpb

__all__ = ["AsyncVideoClient", "Classification", "Detection", "Frame", "FrameResult", "VideoClient", "stream_config"]


class AsyncVideoClient(AsyncPredictChannel):
    """`async with AsyncVideoClient(target) as client: async for result in client.stream(...)`."""

    async def stream(
        self,
        frames: AsyncIterable[Frame | bytes] | Iterable[Frame | bytes],
        *,
        model: str,
        timeout: float | None = None,
        **options,
    ) -> AsyncIterator[FrameResult]:
        """Results in frame order. Options as `stream_config` (encoding, drop_policy, ...).

        Leaving the loop early cancels the stream, which frees its server-side decoder.
        """
        config = stream_config(model, **options)
        times = SendTimes()

        async def requests() -> AsyncIterator[vpb.StreamVideoRequest]:
            yield vpb.StreamVideoRequest(config=config)
            if isinstance(frames, AsyncIterable):
                async for frame in frames:
                    yield times.request(frame)
            else:
                for request in frame_requests(frames, times):
                    yield request

        call = self._stub.StreamVideo(requests(), **self._call_options(timeout, None))
        try:
            async for response in call:
                yield decode_response(response, times)
        except grpc.RpcError as error:
            raise await stream_failure(call, error) from None
        finally:
            call.cancel()


class VideoClient(PredictChannel):
    """Blocking: `for result in VideoClient(target).stream(frames, model=...)`."""

    def stream(
        self, frames: Iterable[Frame | bytes], *, model: str, timeout: float | None = None, **options
    ) -> Iterator[FrameResult]:
        config = stream_config(model, **options)
        times = SendTimes()

        def requests() -> Iterator[vpb.StreamVideoRequest]:
            yield vpb.StreamVideoRequest(config=config)
            yield from frame_requests(frames, times)

        call = self._stub.StreamVideo(requests(), **self._call_options(timeout, None))
        try:
            for response in call:
                yield decode_response(response, times)
        except grpc.RpcError as error:
            raise PredictError.from_rpc_error(error) from None
        finally:
            call.cancel()
