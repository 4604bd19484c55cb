"""`switchyard stream` end to end: a real video file in, an annotated video and JSON lines out."""

from __future__ import annotations

import asyncio
import json
from fractions import Fraction
from pathlib import Path

import av
import pytest
from typer.testing import CliRunner

from service.cli.app import app
from tests.conftest import require_text_detection
from tests.integration.test_video_support import finds_all_words, scene

FRAMES = 12


def write_video(path: Path, codec: str, **options: str) -> None:
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=25)
        stream.width, stream.height = 640, 480
        stream.pix_fmt = "yuvj420p" if codec == "mjpeg" else "yuv420p"
        stream.options = options
        stream.time_base = Fraction(1, 25)
        for i in range(FRAMES):
            frame = av.VideoFrame.from_ndarray(scene(i)[0], format="rgb24")
            frame.pts = i
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)


def count_frames(path: Path) -> int:
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


@pytest.mark.parametrize(
    ("name", "codec", "options", "encoding"),
    [
        # H.264 with B-frames in MP4: passed through (h264_mp4toannexb), never re-encoded.
        ("clip.mp4", "libx264", {"preset": "ultrafast", "bf": "2", "g": "6"}, "h264"),
        # MJPEG in AVI: decoded locally, sent as JPEG frames.
        ("clip.avi", "mjpeg", {}, "jpeg"),
    ],
)
async def test_stream_cli_writes_annotated_video_and_jsonl(running, tmp_path, name, codec, options, encoding) -> None:
    require_text_detection()
    source, output, jsonl = tmp_path / name, tmp_path / "annotated.mp4", tmp_path / "results.jsonl"
    write_video(source, codec, **options)
    args = [
        "stream",
        "text_detection",
        str(source),
        "--encoding",
        encoding,
        "--target",
        running.address,
        "--output",
        str(output),
        "--jsonl",
        str(jsonl),
        "--quiet",
    ]
    # The server runs on this test's event loop; the blocking CLI runs in a thread.
    result = await asyncio.to_thread(CliRunner().invoke, app, args)
    assert result.exit_code == 0, result.output
    assert count_frames(output) == FRAMES
    lines = [json.loads(line) for line in jsonl.read_text().splitlines()]
    assert len(lines) == FRAMES
    assert all({"frame", "pts", "boxes", "scores", "labels", "latency_ms"} <= set(line) for line in lines)
    if encoding == "jpeg":
        assert [line["frame"] for line in lines] == list(range(FRAMES))
    # Map each line to its picture: pts counts frames here (time base 1/25 in both files).
    pts_order = sorted(line["pts"] for line in lines)
    hits = [finds_all_words(line["boxes"], scene(pts_order.index(line["pts"]))[1]) for line in lines]
    assert sum(hits) >= FRAMES - 1, hits


async def test_stream_cli_reads_an_image_folder(running, tmp_path) -> None:
    require_text_detection()
    from PIL import Image

    for i in range(3):
        Image.fromarray(scene(i)[0]).save(tmp_path / f"{i:03d}.png")
    jsonl = tmp_path / "out.jsonl"
    args = [
        "stream",
        "text_detection",
        str(tmp_path),
        "-t",
        running.address,
        "--jsonl",
        str(jsonl),
        "--quiet",
        "--post",
        "box_thresh=0.5",
    ]
    result = await asyncio.to_thread(CliRunner().invoke, app, args)
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in jsonl.read_text().splitlines()]
    assert [line["frame"] for line in lines] == [0, 1, 2]
    assert all(finds_all_words(line["boxes"], scene(i)[1]) for i, line in enumerate(lines))
