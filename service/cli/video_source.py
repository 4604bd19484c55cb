"""Frame sources for `switchyard stream`: video files, image folders, RTSP/HTTP URLs, cameras.

`open_source(source, encoding)` yields SourceItems: the bytes to send (JPEG, raw RGB, or an
H.264 access unit) with their pts, plus the pictures decoded locally so the CLI can draw
results on them. H.264 sources are passed through without re-encoding when the stream
asks for h264 (MP4/MKV packets go through the h264_mp4toannexb bitstream filter);
everything else is decoded once here and encoded as the stream asks.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # av is the video extra: imported when a source is opened
    from av.video.codeccontext import VideoCodecContext

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")


@dataclass
class SourceItem:
    data: bytes | None  # what goes on the wire; None = nothing to send (end-of-stream flush)
    pts: int
    pictures: list[tuple[int, np.ndarray]] = field(default_factory=list)  # (pts, RGB) decoded locally


@dataclass
class SourceInfo:
    fps: float


def open_source(
    source: str, encoding: str, quality: int = 85, limit: int | None = None
) -> tuple[SourceInfo, Iterator[SourceItem]]:
    path = Path(source)
    if path.is_dir():
        return SourceInfo(fps=25.0), _limit(_folder(path, encoding, quality), limit)
    import av

    options = {}
    fmt = None
    if source.startswith("/dev/video"):
        fmt = "v4l2"
    elif source.startswith("rtsp://"):
        options = {"rtsp_transport": "tcp"}
    container = av.open(source, format=fmt, options=options)
    stream = container.streams.video[0]
    fps = float(stream.average_rate or stream.guessed_rate or 25)
    if encoding == "h264" and stream.codec_context.name == "h264":
        return SourceInfo(fps), _limit(_passthrough(container, stream), limit)
    return SourceInfo(fps), _limit(_transcode(container, stream, encoding, quality), limit)


def _limit(items: Iterator[SourceItem], limit: int | None) -> Iterator[SourceItem]:
    sent = 0
    for item in items:
        if limit is not None and sent >= limit:
            return
        sent += item.data is not None
        yield item


def _folder(path: Path, encoding: str, quality: int) -> Iterator[SourceItem]:
    import cv2

    encoder = FrameEncoder(encoding, quality)
    files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    for i, file in enumerate(files):
        data = file.read_bytes()
        bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        if bgr is None:
            continue
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        # A JPEG file is already what a jpeg stream sends.
        wire = data if encoding == "jpeg" and data.startswith(b"\xff\xd8") else encoder.encode(rgb, i)
        yield SourceItem(wire, i, [(i, rgb)])
    yield from encoder.finish()


def _transcode(container, stream, encoding: str, quality: int) -> Iterator[SourceItem]:
    encoder = FrameEncoder(encoding, quality)
    try:
        for i, frame in enumerate(container.decode(stream)):
            rgb = frame.to_ndarray(format="rgb24")
            yield SourceItem(encoder.encode(rgb, i), i, [(i, rgb)])
        yield from encoder.finish()
    finally:
        container.close()


def _passthrough(container, stream) -> Iterator[SourceItem]:
    import av

    bsf = av.bitstream.BitStreamFilterContext("h264_mp4toannexb", stream)
    decoder = stream.codec_context
    count = 0
    try:
        for packet in container.demux(stream):
            if packet.size == 0:  # demuxer's end marker
                continue
            pts = packet.pts if packet.pts is not None else count
            pictures = [(f.pts, f.to_ndarray(format="rgb24")) for f in decoder.decode(packet)]
            data = b"".join(bytes(p) for p in bsf.filter(packet))
            count += 1
            yield SourceItem(data, pts, pictures)
        # Pictures FFmpeg held back for reordering: for drawing only, nothing more to send.
        yield SourceItem(None, -1, [(f.pts, f.to_ndarray(format="rgb24")) for f in decoder.decode(None)])
    finally:
        container.close()


class FrameEncoder:
    """RGB frame -> wire bytes for jpeg / png / raw, or a low-latency H.264 access unit."""

    def __init__(self, encoding: str, quality: int = 85) -> None:
        self.encoding, self.quality = encoding, quality
        self._h264: VideoCodecContext | None = None

    def encode(self, rgb: np.ndarray, pts: int) -> bytes:
        rgb = np.ascontiguousarray(rgb)
        if self.encoding == "jpeg":
            import simplejpeg

            return simplejpeg.encode_jpeg(rgb, quality=self.quality, colorspace="RGB")
        if self.encoding == "png":
            import cv2

            return cv2.imencode(".png", rgb[:, :, ::-1])[1].tobytes()
        if self.encoding == "raw":
            return rgb.tobytes()
        return self._encode_h264(rgb, pts)

    def _encode_h264(self, rgb: np.ndarray, pts: int) -> bytes:
        import av

        if self._h264 is None:
            enc = av.CodecContext.create("libx264", "w")
            enc.width, enc.height = rgb.shape[1] & ~1, rgb.shape[0] & ~1
            enc.pix_fmt, enc.time_base = "yuv420p", Fraction(1, 25)
            # zerolatency: no B-frames and no lookahead, so every frame leaves at once.
            enc.options = {"preset": "ultrafast", "tune": "zerolatency", "crf": "20"}
            self._h264 = enc
        frame = av.VideoFrame.from_ndarray(rgb[: self._h264.height, : self._h264.width], format="rgb24")
        frame.pts = pts
        return b"".join(bytes(p) for p in self._h264.encode(frame))

    def finish(self) -> Iterator[SourceItem]:
        if self._h264 is not None:
            rest = b"".join(bytes(p) for p in self._h264.encode(None))
            if rest:  # cannot happen with zerolatency; kept so no frame is ever lost
                yield SourceItem(rest, -1)
