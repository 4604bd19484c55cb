"""`switchyard stream MODEL SOURCE`: stream a video to the server, draw and save results.

The video stack (av, cv2, simplejpeg: the `video` extra) is imported when the command runs.
"""

from __future__ import annotations

import heapq
import itertools
import json
import threading
import time
from collections import deque
from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.console import Console
from rich.live import Live
from rich.table import Table

from service.cli.errors import CliError, require_extra
from service.cli.options import Connection, Json, key_values, with_connection
from service.cli.video_source import SourceItem, open_source

REORDER_WINDOW = 16  # H.264 with B-frames replies in decode order; write frames in pts order


@with_connection
def stream(
    model: Annotated[str, typer.Argument(metavar="MODEL", help="model name (must declare preprocess)")],
    source: Annotated[
        str, typer.Argument(metavar="SOURCE", help="video file, image folder, rtsp:// or http:// URL, or /dev/videoN")
    ],
    connection: Connection,
    version: Annotated[str, typer.Option(help="model version (default: latest ready)")] = "",
    encoding: Annotated[str, typer.Option(help="jpeg | png | raw | h264 (H.264 sources pass through)")] = "jpeg",
    drop_policy: Annotated[str, typer.Option(help="none | drop_oldest | latest_only")] = "none",
    max_pending: Annotated[int, typer.Option(help="frames waiting on the server (0 = server default)")] = 0,
    max_in_flight: Annotated[int, typer.Option(help="frames in the model at once (0 = server default)")] = 0,
    output: Annotated[Path | None, typer.Option(help="write the annotated video here (.mp4/.mkv)")] = None,
    jsonl: Annotated[Path | None, typer.Option(help="write one JSON line per frame here")] = None,
    as_json: Json = False,
    post: Annotated[list[str] | None, typer.Option(help="postprocess override KEY=VALUE (repeatable)")] = None,
    pre: Annotated[list[str] | None, typer.Option(help="preprocess override KEY=VALUE (repeatable)")] = None,
    quality: Annotated[int, typer.Option(help="JPEG quality when frames are re-encoded")] = 85,
    limit: Annotated[int | None, typer.Option(help="stop after this many frames")] = None,
    realtime: Annotated[bool, typer.Option(help="send a file's frames at its own frame rate, like a camera")] = False,
    quiet: Annotated[bool, typer.Option(help="no live progress")] = False,
) -> None:
    """Stream SOURCE through MODEL (StreamVideo); draw results, save video / JSON lines, show progress.

    With --json, each frame's result is one JSON line on stdout (and no live table).
    """
    require_extra("video", "stream")
    if "://" not in source and not Path(source).exists():
        raise CliError(f"video source {source} does not exist")
    from clients import Frame, VideoClient

    info, items = open_source(source, encoding, quality, limit)
    first = next(items, None)
    if first is None:
        raise CliError(f"no frames in the video source {source}")
    items = itertools.chain([first], items)
    pictures: dict[int, np.ndarray] = {}
    progress = Progress()
    quiet = quiet or as_json

    def frames():
        started = time.perf_counter()
        for index, item in enumerate(i for i in _record(items, pictures) if i.data is not None):
            if realtime:  # runs on gRPC's sending thread, so waiting here paces the stream
                time.sleep(max(0.0, started + index / info.fps - time.perf_counter()))
            progress.sent += 1
            yield Frame(item.data, index=index, pts=item.pts)

    options = dict(
        version=version,
        encoding=encoding,
        drop_policy=drop_policy,
        max_pending=max_pending,
        max_in_flight=max_in_flight,
        preprocess=key_values(pre, "--pre"),
        postprocess=key_values(post, "--post"),
    )
    if encoding == "raw":  # transcoded sources carry each frame's picture with it
        height, width = first.pictures[0][1].shape[:2]
        options.update(width=width, height=height, pixel_format="RGB")
    writer = AnnotatedWriter(output, info.fps) if output else None
    lines = jsonl.open("w") if jsonl else None
    console = Console(stderr=as_json)  # with --json, stdout carries the JSON lines alone
    try:
        with (
            connection.client(VideoClient) as client,
            Live(progress.table(), console=console, refresh_per_second=4, transient=quiet) as live,
        ):
            for result in client.stream(frames(), model=model, **options):
                progress.record(result)
                if as_json:
                    print(json.dumps(result.to_json()), flush=True)
                if lines:
                    lines.write(json.dumps(result.to_json()) + "\n")
                picture = pictures.pop(result.pts, None)
                if writer is not None and picture is not None:
                    writer.add(result.pts, _draw(picture, result, progress))
                if not quiet:
                    live.update(progress.table())
    finally:
        if writer is not None:
            writer.close()
        if lines:
            lines.close()
    console.print("\n" + progress.summary())


def _record(items, pictures: dict[int, np.ndarray]):
    """Keep the locally decoded pictures until their results arrive (gRPC's thread runs this)."""
    for item in items:
        for pts, rgb in item.pictures:
            pictures[pts] = rgb
        yield item


def _draw(picture: np.ndarray, result, progress: Progress) -> np.ndarray:
    import cv2

    from service.vision.annotate import annotate  # the client's Detection has the same fields

    canvas = annotate(
        picture,
        result.detections,
        result.classifications,
        fps=progress.fps(),
        latency_ms=result.latency_ms if result.ok else None,
    )
    if not result.ok:  # say why this frame has no results, so a viewer is not misled
        why = f"dropped: {result.dropped}" if result.dropped else f"error: {result.error.code.name}"
        scale = max(canvas.shape[0] / 480, 0.5)
        cv2.putText(
            canvas,
            why,
            (int(8 * scale), canvas.shape[0] - int(12 * scale)),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.6 * scale,
            (220, 40, 40),
            max(1, round(1.5 * scale)),
            cv2.LINE_AA,
        )
    return canvas


class Progress:
    """Counters and a sliding window of reply times and latencies for the live table."""

    def __init__(self, window: int = 60) -> None:
        self.sent = self.received = self.dropped = self.errors = 0
        self.started = time.perf_counter()
        self._times: deque[float] = deque(maxlen=window)
        self._latencies: deque[float] = deque(maxlen=window * 5)
        self._lock = threading.Lock()

    def record(self, result) -> None:
        with self._lock:
            self.received += 1
            self.dropped += result.dropped is not None
            self.errors += result.error is not None
            if result.ok:  # fps counts frames with results, not drop notices
                self._times.append(time.perf_counter())
                if result.latency_ms is not None:
                    self._latencies.append(result.latency_ms)

    def fps(self) -> float | None:
        if len(self._times) < 2 or self._times[-1] == self._times[0]:
            return None
        return (len(self._times) - 1) / (self._times[-1] - self._times[0])

    def percentile(self, q: float) -> float | None:
        return float(np.percentile(np.fromiter(self._latencies, float), q)) if self._latencies else None

    def table(self) -> Table:
        table = Table(title="switchyard stream", show_header=True)
        for column in ("sent", "received", "dropped", "errors", "fps", "p50 ms", "p95 ms"):
            table.add_column(column, justify="right")
        table.add_row(*self._cells())
        return table

    def _cells(self) -> list[str]:
        fps, p50, p95 = self.fps(), self.percentile(50), self.percentile(95)
        return [
            str(self.sent),
            str(self.received),
            str(self.dropped),
            str(self.errors),
            *map(_one_decimal, (fps, p50, p95)),
        ]

    def summary(self) -> str:
        sent, received, dropped, errors, fps, p50, p95 = self._cells()
        elapsed = time.perf_counter() - self.started
        return (
            f"{received} replies for {sent} frames in {elapsed:.1f} s ({self.received / max(elapsed, 1e-9):.1f} fps "
            f"overall, {fps} fps recent): {dropped} dropped, {errors} errors, latency p50 {p50} ms p95 {p95} ms"
        )


class AnnotatedWriter:
    """H.264 video of the annotated frames, written in pts order."""

    def __init__(self, path: Path, fps: float) -> None:
        import av

        self._container = av.open(str(path), "w")
        self._stream = self._container.add_stream("libx264", rate=max(1, round(fps)))
        self._stream.pix_fmt = "yuv420p"
        self._stream.options = {"preset": "veryfast", "crf": "23"}
        self._heap: list[tuple[int, int, np.ndarray]] = []
        self._count = itertools.count()
        self._opened = False
        self._av = av

    def add(self, pts: int, rgb: np.ndarray) -> None:
        heapq.heappush(self._heap, (pts, next(self._count), rgb))
        if len(self._heap) > REORDER_WINDOW:
            self._write(heapq.heappop(self._heap)[2])

    def _write(self, rgb: np.ndarray) -> None:
        if not self._opened:
            self._stream.height, self._stream.width = rgb.shape[0] & ~1, rgb.shape[1] & ~1
            self._opened = True
        frame = self._av.VideoFrame.from_ndarray(
            np.ascontiguousarray(rgb[: self._stream.height, : self._stream.width]), format="rgb24"
        )
        for packet in self._stream.encode(frame):
            self._container.mux(packet)

    def close(self) -> None:
        while self._heap:
            self._write(heapq.heappop(self._heap)[2])
        if self._opened:
            for packet in self._stream.encode(None):
                self._container.mux(packet)
        self._container.close()


__all__ = ["SourceItem", "stream"]


def _one_decimal(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"
