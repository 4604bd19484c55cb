"""StreamVideo under overload: drop policies account for every frame, `none` holds the sender
back through flow control, and cancelling frees the stream's decoder and queue at once.

These tests run their own Predict servicer (over the shared server's repository and real
model) so they can look at the live sessions; overload comes from sending frames faster
than the model runs, never from sleeps.
"""

from __future__ import annotations

import asyncio
from collections import Counter

import grpc
import pytest

from clients import AsyncVideoClient, Frame
from protos.switchyard.v1 import predict_pb2_grpc
from service.predict.servicer import PredictServicer
from service.rpc.drain import DrainGate
from tests.conftest import require_text_detection
from tests.fixtures.vision.scenes import encode_h264, encode_jpeg
from tests.integration.test_video_support import raw_rgb, scene

MODEL = "text_detection"


@pytest.fixture(scope="module")
async def own(running):
    require_text_detection()
    servicer = PredictServicer(running.server.repository, dict, DrainGate())
    server = grpc.aio.server(options=[("grpc.max_receive_message_length", 8 * 1024 * 1024)])
    predict_pb2_grpc.add_PredictServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    client = AsyncVideoClient(f"127.0.0.1:{port}")
    yield servicer, client
    await client.close()
    await server.stop(0)


def jpegs(count: int) -> list[bytes]:
    frame = encode_jpeg(scene(0)[0])
    return [frame] * count


@pytest.mark.parametrize(("policy", "reason"), [("drop_oldest", "QUEUE_FULL"), ("latest_only", "SUPERSEDED")])
async def test_overload_drops_are_reported_and_every_frame_is_accounted_for(own, policy, reason) -> None:
    servicer, client = own
    peaks = []
    results = []
    async for r in client.stream(jpegs(40), model=MODEL, drop_policy=policy, max_pending=2, max_in_flight=1):
        results.append(r)
        peaks.extend(s.queue.peak for s in servicer.video.active)
    assert [r.index for r in results] == list(range(40))  # in order, each exactly once
    dropped = [r for r in results if r.dropped]
    assert dropped and all(r.dropped == reason and r.drop_message for r in dropped)
    assert all(r.ok for r in results if not r.dropped)
    assert results[-1].ok  # the newest frame is never the one dropped
    # Bounded latency: a processed frame never waited behind more than max_pending others.
    assert peaks and max(peaks) <= (1 if policy == "latest_only" else 2)


async def test_none_policy_slows_the_sender_and_keeps_memory_bounded(own) -> None:
    servicer, client = own
    sent = 0
    lag = []
    image = raw_rgb(scene(0)[0])  # 900 KiB per frame: gRPC's window holds about one

    async def frames():
        nonlocal sent
        for _ in range(48):
            sent += 1
            yield image

    counts = Counter()
    async for r in client.stream(
        frames(),
        model=MODEL,
        encoding="raw",
        width=640,
        height=480,
        pixel_format="RGB",
        drop_policy="none",
        max_pending=2,
        max_in_flight=1,
    ):
        counts["ok" if r.ok else "other"] += 1
        lag.append(sent - (r.index + 1))
        for session in servicer.video.active:
            assert session.queue.peak <= 2
    assert counts == {"ok": 48}  # nothing dropped
    # Flow control: the sender never ran more than a handful of frames ahead of the replies
    # (2 waiting + 1 in the model + 1 being decoded + HTTP/2 windows, ~8 measured), far from 48.
    assert max(lag) <= 16, lag


async def test_cancel_mid_stream_frees_the_decoder_and_queue(own) -> None:
    servicer, client = own
    (keyframe, _), *_ = encode_h264([scene(0)[0]], gop=1)

    async def endless():
        i = 0
        while True:  # a live source that never ends by itself (every picture a keyframe)
            yield Frame(keyframe, index=i, pts=i)
            i += 1

    stream = client.stream(endless(), model=MODEL, encoding="h264", drop_policy="drop_oldest")
    first = await anext(stream)
    assert first.ok
    (session,) = servicer.video.active
    decoder = session.decoder
    assert decoder is not None and decoder._ctx is not None
    await stream.aclose()  # the client cancels the RPC
    await asyncio.wait_for(session.closed.wait(), 30)
    assert session.decoder is None and decoder._ctx is None  # FFmpeg context released
    assert len(session.queue) == 0 and not session._tasks
    assert session not in servicer.video.active
