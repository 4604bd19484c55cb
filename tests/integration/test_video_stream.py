"""StreamVideo on the real PP-OCRv4 detector: JPEG, PNG, raw and H.264 frames, many streams,
in-band errors, stream-level errors, overrides and raw tensors."""

from __future__ import annotations

import asyncio

import grpc
import numpy as np
import pytest

from clients import AsyncVideoClient, Frame, FrameResult
from clients.errors import PredictError
from tests.conftest import require_text_detection
from tests.fixtures.vision.scenes import encode_h264, encode_jpeg
from tests.integration.test_video_support import finds_all_words, iou, raw_rgb, scene

MODEL = "text_detection"
N = 10


@pytest.fixture(scope="module")
async def video(running):
    require_text_detection()
    client = AsyncVideoClient(running.address)
    yield client
    await client.close()


async def collect(client: AsyncVideoClient, frames, **options) -> list[FrameResult]:
    return [r async for r in client.stream(frames, model=MODEL, **options)]


def png(image: np.ndarray) -> bytes:
    import cv2

    ok, data = cv2.imencode(".png", image[:, :, ::-1])
    assert ok
    return data.tobytes()


def encoded(encoding: str, count: int = N):
    images = [scene(i)[0] for i in range(count)]
    if encoding == "jpeg":
        return [encode_jpeg(im) for im in images], {}
    if encoding == "png":
        return [png(im) for im in images], {}
    if encoding == "raw":
        return [raw_rgb(im) for im in images], dict(width=640, height=480, pixel_format="RGB")
    return [Frame(data, index=pts, pts=pts) for data, pts in encode_h264(images, gop=5)], {}


@pytest.mark.parametrize("encoding", ["jpeg", "png", "raw", "h264"])
async def test_detections_follow_the_moving_text(video, encoding) -> None:
    frames, extra = encoded(encoding)
    results = await collect(video, frames, encoding=encoding, **extra)
    assert [r.index for r in results] == list(range(N))  # one reply per frame, in frame order
    assert all(r.ok for r in results), [(r.index, r.error, r.dropped) for r in results if not r.ok]
    found = [finds_all_words([d.box for d in r.detections], scene(r.index)[1]) for r in results]
    assert sum(found) >= N - 1, found  # nearly every frame
    first = results[0]
    assert (first.width, first.height) == (640, 480)
    assert all(d.label == "text" and len(d.polygon) == 4 for d in first.detections)
    assert set(first.timings) >= {"queue_ms", "decode_ms", "preprocess_ms", "infer_ms", "postprocess_ms"}
    assert first.timings["infer_ms"] > 0 and first.latency_ms is not None


async def test_h264_with_b_frames_matches_jpeg_frame_for_frame(video) -> None:
    images = [scene(i)[0] for i in range(8)]
    packets = encode_h264(images, gop=8, bframes=2)
    # Packets go in decode order; index = the packet's position, pts = its presentation time.
    via_h264 = await collect(video, [Frame(d, index=i, pts=p) for i, (d, p) in enumerate(packets)], encoding="h264")
    via_jpeg = await collect(video, [encode_jpeg(im) for im in images], encoding="jpeg")
    assert [r.index for r in via_h264] == list(range(len(packets)))  # replies follow the sending order
    assert sorted(r.pts for r in via_h264) == list(range(8))
    assert all(r.ok for r in via_h264 + via_jpeg)
    by_pts = {r.pts: r for r in via_h264}
    for jpeg in via_jpeg:
        twin = by_pts[jpeg.pts]
        assert len(twin.detections) == len(jpeg.detections)
        for det in jpeg.detections:
            assert max(iou(det.box, o.box) for o in twin.detections) > 0.8


async def test_concurrent_streams_each_get_their_own_results_in_order(video) -> None:
    speeds = [(0, 0), (8, 0), (0, 8), (-6, 4)]

    async def one(speed):
        frames = [encode_jpeg(scene(i, speed)[0]) for i in range(6)]
        return await collect(video, frames, encoding="jpeg", max_in_flight=1)

    outcomes = await asyncio.gather(*(one(s) for s in speeds))
    for speed, results in zip(speeds, outcomes, strict=True):
        assert [r.index for r in results] == list(range(6))
        hits = [finds_all_words([d.box for d in r.detections], scene(r.index, speed)[1]) for r in results]
        assert sum(hits) >= 5, (speed, hits)


async def test_corrupt_jpeg_gets_an_in_band_error_and_the_stream_goes_on(video) -> None:
    frames, _ = encoded("jpeg", 5)
    frames[2] = frames[2][: len(frames[2]) // 2]  # truncated
    frames[3] = b"not a jpeg at all"
    results = await collect(video, frames, encoding="jpeg")
    assert [r.index for r in results] == [0, 1, 2, 3, 4]
    assert [r.ok for r in results] == [True, True, False, False, True]
    assert results[2].error.code is grpc.StatusCode.INVALID_ARGUMENT and "corrupt jpeg" in results[2].error.details
    assert results[4].detections


async def test_truncated_h264_packet_gets_an_in_band_error(video) -> None:
    frames, _ = encoded("h264", 6)
    damaged = frames[3]
    frames[3] = Frame(damaged.data[: len(damaged.data) // 3], index=damaged.index, pts=damaged.pts)
    results = await collect(video, frames, encoding="h264")
    assert [r.index for r in results] == list(range(6))  # every frame accounted for once
    assert not results[3].ok and results[3].error.code is grpc.StatusCode.INVALID_ARGUMENT
    assert results[0].ok and results[1].ok and results[2].ok


async def test_h264_must_start_on_a_keyframe(video) -> None:
    frames, _ = encoded("h264", 3)
    results = await collect(video, frames[1:], encoding="h264")
    assert all(r.error is not None and "keyframe" in r.error.details for r in results)


async def test_overrides_and_raw_tensors(video) -> None:
    frames, _ = encoded("jpeg", 2)
    strict = await collect(video, frames, encoding="jpeg", postprocess={"box_thresh": 0.999})
    assert all(r.ok and not r.detections for r in strict)
    both = await collect(video, frames, encoding="jpeg", returns="results_and_tensors")
    prob = next(iter(both[0].tensors.values()))
    assert prob.shape == (1, 1, 256, 320) and prob.dtype == np.float32  # 640x480 at max_side 320
    assert both[0].detections
    only = await collect(video, frames, encoding="jpeg", returns="tensors")
    assert only[0].tensors and not only[0].detections


@pytest.mark.parametrize(
    ("options", "code", "words"),
    [
        (dict(model="no_such_model"), grpc.StatusCode.NOT_FOUND, "unknown model"),
        (dict(model="tiny_cnn"), grpc.StatusCode.FAILED_PRECONDITION, "preprocess"),
        (dict(model=MODEL, postprocess={"no_such": 1}), grpc.StatusCode.INVALID_ARGUMENT, "no_such"),
        (dict(model=MODEL, encoding="raw"), grpc.StatusCode.INVALID_ARGUMENT, "width and height"),
        (dict(model=MODEL, max_pending=100000), grpc.StatusCode.INVALID_ARGUMENT, "max_pending"),
    ],
)
async def test_a_bad_stream_config_ends_the_rpc_with_a_status(video, options, code, words) -> None:
    # The config alone: a frame still being written when the server ends the call can fail on
    # the client's side first, as INTERNAL (grpc.aio, grpc/grpc#36066), hiding the status.
    with pytest.raises(PredictError) as caught:
        [r async for r in video.stream([], **options)]
    assert caught.value.code is code and words in caught.value.details


async def test_sync_client(running) -> None:
    require_text_detection()
    from clients import VideoClient

    frames, _ = encoded("jpeg", 3)

    def run():
        with VideoClient(running.address) as client:
            return list(client.stream(frames, model=MODEL, encoding="jpeg"))

    results = await asyncio.to_thread(run)
    assert [r.index for r in results] == [0, 1, 2] and all(r.ok and r.detections for r in results)


async def test_a_second_config_ends_the_stream_after_the_earlier_replies(running) -> None:
    require_text_detection()
    from clients.video_messages import stream_config
    from protos.switchyard.v1 import video_pb2 as vpb

    frames, _ = encoded("jpeg", 2)
    requests = [
        vpb.StreamVideoRequest(config=stream_config(MODEL)),
        *(vpb.StreamVideoRequest(frame=vpb.VideoFrame(index=i, data=d)) for i, d in enumerate(frames)),
        vpb.StreamVideoRequest(config=stream_config(MODEL)),
    ]
    replies = []
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        async for reply in running.stub.StreamVideo(iter(requests)):
            replies.append(reply)
    assert [r.index for r in replies] == [0, 1] and all(r.HasField("result") for r in replies)
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT and "StreamConfig" in caught.value.details()


async def test_parameter_sets_alone_get_no_reply_and_join_the_next_picture(video) -> None:
    frames, _ = encoded("h264", 3)
    first = frames[0].data
    idr = first.find(b"\x00\x00\x01\x65")  # NAL type 5 (IDR slice) behind a 3-byte start code
    assert idr > 0
    split = [
        Frame(first[:idr], index=0, pts=0),
        Frame(first[idr:], index=1, pts=0),
        *(Frame(f.data, index=i + 1, pts=f.pts) for i, f in enumerate(frames[1:], start=1)),
    ]
    results = await collect(video, split, encoding="h264")
    assert [r.index for r in results] == [1, 2, 3] and all(r.ok and r.detections for r in results)


async def test_damaged_packet_in_a_b_frame_stream_still_accounts_for_every_frame(video) -> None:
    images = [scene(i)[0] for i in range(24)]
    packets = encode_h264(images, gop=24, bframes=2)
    frames = [Frame(d, index=i, pts=p) for i, (d, p) in enumerate(packets)]
    victim = frames[5]
    frames[5] = Frame(victim.data[: len(victim.data) // 4], index=victim.index, pts=victim.pts)
    results = await collect(video, frames, encoding="h264")
    assert [r.index for r in results] == list(range(24))  # exactly one reply each, in sending order
    assert any(not r.ok for r in results)
    assert results[0].ok and results[-1].ok  # decoding recovered; the stream went on


async def test_stream_outcomes_are_counted_for_metrics(video, running) -> None:
    from prometheus_client import generate_latest

    stats = running.server.video.stats
    before = {o: stats.frames[(MODEL, o)] for o in ("result", "error")}
    opened = stats.streams_opened[MODEL]
    frames, _ = encoded("jpeg", 4)
    frames[1] = b"not a jpeg at all"
    await collect(video, frames, encoding="jpeg")
    assert stats.frames[(MODEL, "result")] == before["result"] + 3
    assert stats.frames[(MODEL, "error")] == before["error"] + 1
    assert stats.streams_opened[MODEL] == opened + 1 and stats.streams_active[MODEL] == 0
    text = generate_latest(running.server.metrics.registry).decode()
    assert f'switchyard_video_frames_total{{model="{MODEL}",outcome="error"}} {float(before["error"] + 1)}' in text
