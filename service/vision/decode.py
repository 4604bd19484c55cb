"""Frame decoders: bytes of one encoded frame -> RGB uint8 HxWx3 arrays.

Every decoder has the same shape, so a stream picks one with `make_decoder` and then
only calls `decode(data, tag)`. `decode` returns a list because H.264 may hold a picture
back (B-frame reordering) and hand it out on a later call; each DecodedFrame carries the
tag of the message whose bytes held it, so results can be matched to requests. A bad
frame raises InvalidInputError for that frame only; the decoder stays usable.
Every decoder reads the picture size from the header first (service/vision/headers.py) and
refuses a picture over its pixel limit (ImageTooLargeError) before any pixel buffer exists.
Returned images may be read-only views of the input bytes; copy before drawing on them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol

import cv2
import numpy as np

from protos.errors import InvalidInputError
from protos.h264 import nal_types as h264_nal_types
from service.vision.headers import h264_sps_size, h264_sps_units, jpeg_size, png_size
from service.vision.limits import DEFAULT_MAX_IMAGE_PIXELS, check_pixels

if TYPE_CHECKING:  # PyAV is imported only when an H.264 stream opens
    from av import VideoCodecContext, VideoFrame

try:  # libjpeg-turbo straight into an RGB array: the fastest decoder here
    import simplejpeg
except ImportError:  # pragma: no cover - exercised only where simplejpeg is missing
    simplejpeg = None

Encoding = Literal["jpeg", "png", "raw", "h264"]
PixelFormat = Literal["RGB", "BGR", "GRAY", "NV12"]
ENCODINGS: tuple[str, ...] = ("jpeg", "png", "raw", "h264")
PIXEL_FORMATS: tuple[str, ...] = ("RGB", "BGR", "GRAY", "NV12")


@dataclass(frozen=True, slots=True)
class DecodedFrame:
    image: np.ndarray  # RGB uint8 HxWx3
    tag: int  # the tag passed with the bytes that carried this picture


class FrameDecoder(Protocol):
    encoding: str

    def decode(self, data: bytes, tag: int | None = None) -> list[DecodedFrame]: ...

    def flush(self) -> list[DecodedFrame]: ...

    def close(self) -> None: ...


class _StatelessDecoder:
    """One message in, one picture out; tags default to a running message counter."""

    encoding = ""

    def __init__(self, max_pixels: int = DEFAULT_MAX_IMAGE_PIXELS, label: str = "frame") -> None:
        self._count = 0
        self.max_pixels = max_pixels
        self.label = label  # what errors call the picture: "frame", or "image in input 'image'"

    def decode(self, data: bytes, tag: int | None = None) -> list[DecodedFrame]:
        if tag is None:
            tag = self._count
        self._count += 1
        return [DecodedFrame(self.decode_image(data), tag)]

    def decode_image(self, data: bytes) -> np.ndarray:
        raise NotImplementedError

    def flush(self) -> list[DecodedFrame]:
        return []

    def close(self) -> None:
        pass


class JpegDecoder(_StatelessDecoder):
    encoding = "jpeg"

    def decode_image(self, data: bytes) -> np.ndarray:
        if not data:
            raise InvalidInputError("jpeg frame is empty")
        what = f"jpeg {self.label}"
        width, height = jpeg_size(data, what)
        check_pixels(f"{what} ({len(data)} bytes)", width, height, self.max_pixels)
        if simplejpeg is not None:
            try:
                # strict: a truncated or damaged JPEG is an error, not a half-grey picture.
                return simplejpeg.decode_jpeg(data, colorspace="RGB", strict=True)
            except ValueError as exc:
                raise InvalidInputError(f"corrupt jpeg frame ({len(data)} bytes): {exc}") from None
        return _imdecode(data, "jpeg")


class PngDecoder(_StatelessDecoder):
    encoding = "png"

    def decode_image(self, data: bytes) -> np.ndarray:
        what = f"png {self.label}"
        width, height = png_size(data, what)
        check_pixels(f"{what} ({len(data)} bytes)", width, height, self.max_pixels)
        return _imdecode(data, "png")


def _imdecode(data: bytes, what: str) -> np.ndarray:
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise InvalidInputError(f"corrupt {what} frame ({len(data)} bytes): OpenCV could not decode it")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


class RawDecoder(_StatelessDecoder):
    """Uncompressed pixels of a declared size and format (NV12: Y plane, then interleaved UV)."""

    encoding = "raw"
    _BYTES_PER_PIXEL = {"RGB": 3.0, "BGR": 3.0, "GRAY": 1.0, "NV12": 1.5}

    def __init__(self, width: int, height: int, pixel_format: str, max_pixels: int = DEFAULT_MAX_IMAGE_PIXELS) -> None:
        super().__init__(max_pixels)
        if pixel_format not in self._BYTES_PER_PIXEL:
            raise InvalidInputError(f"raw pixel_format {pixel_format!r} is not one of {', '.join(PIXEL_FORMATS)}")
        if width <= 0 or height <= 0:
            raise InvalidInputError(f"raw frames need a positive width and height, got {width}x{height}")
        if pixel_format == "NV12" and (width % 2 or height % 2):
            raise InvalidInputError(f"NV12 needs an even width and height, got {width}x{height}")
        check_pixels(f"StreamConfig: raw {pixel_format} frames", width, height, max_pixels)
        self.width, self.height, self.pixel_format = width, height, pixel_format
        self.frame_bytes = int(width * height * self._BYTES_PER_PIXEL[pixel_format])

    def decode_image(self, data: bytes) -> np.ndarray:
        if len(data) != self.frame_bytes:
            raise InvalidInputError(
                f"raw {self.pixel_format} {self.width}x{self.height} frame must be "
                f"{self.frame_bytes} bytes, got {len(data)}"
            )
        pixels = np.frombuffer(data, np.uint8)
        w, h = self.width, self.height
        if self.pixel_format == "RGB":
            return pixels.reshape(h, w, 3)
        if self.pixel_format == "BGR":
            return cv2.cvtColor(pixels.reshape(h, w, 3), cv2.COLOR_BGR2RGB)
        if self.pixel_format == "GRAY":
            return cv2.cvtColor(pixels.reshape(h, w), cv2.COLOR_GRAY2RGB)
        return cv2.cvtColor(pixels.reshape(h * 3 // 2, w), cv2.COLOR_YUV2RGB_NV12)


class H264Decoder:
    """One continuous H.264 stream (Annex B access units), decoded with PyAV's FFmpeg.

    The stream must begin on an IDR picture: slices that arrive before the first IDR are
    rejected (the decoder has no reference to build them from). Parameter-set-only
    messages (SPS/PPS/SEI) are accepted at any time and joined to the next picture. A truncated or damaged access unit
    raises InvalidInputError for that frame; later frames still decode.
    """

    encoding = "h264"

    def __init__(self, max_pixels: int = DEFAULT_MAX_IMAGE_PIXELS) -> None:
        import av  # imported here so image-only deployments never load FFmpeg

        self._av = av
        self.max_pixels = max_pixels
        self._ctx: VideoCodecContext | None = av.CodecContext.create("h264", "r")
        # One thread: FFmpeg's frame threading would hold back thread_count-1 frames,
        # adding latency on a live stream; 640x480 decodes in well under a millisecond.
        self._ctx.thread_count = 1
        # Behind our own SPS check: FFmpeg refuses a larger picture itself, should it ever
        # read a size from somewhere the check did not look.
        self._ctx.options = {"max_pixels": str(min(max_pixels, 2**31 - 1))}  # an int option in FFmpeg
        self._count = 0
        self._seen_keyframe = False
        self._pending: list[DecodedFrame] = []
        self._prefix = b""

    def decode(self, data: bytes, tag: int | None = None) -> list[DecodedFrame]:
        if self._ctx is None:
            raise InvalidInputError("h264 decoder is closed")
        if tag is None:
            tag = self._count
        self._count += 1
        nal_types = h264_nal_types(data)
        if not nal_types:
            raise InvalidInputError(
                f"h264 frame {tag} has no Annex B start code; send Annex B access units "
                "(MP4/MKV packets need the h264_mp4toannexb bitstream filter)"
            )
        if 7 in nal_types:  # a sequence parameter set: the picture size for what follows
            for sps in h264_sps_units(data):
                width, height = h264_sps_size(sps)
                check_pixels(f"h264 frame {tag}'s sequence parameter set", width, height, self.max_pixels)
        if not any(1 <= t <= 5 for t in nal_types):
            # No picture data (SPS/PPS/SEI only): FFmpeg rejects such a packet on its own,
            # so hold it and send it in front of the next picture.
            self._prefix += data
            return []
        if not self._seen_keyframe:
            if 5 not in nal_types:
                raise InvalidInputError(
                    f"h264 frame {tag} arrived before the stream's first keyframe (IDR); "
                    "a stream must start on a keyframe"
                )
            self._seen_keyframe = True
        if self._prefix:
            data, self._prefix = self._prefix + data, b""
        packet = self._av.Packet(data)
        packet.pts = tag  # FFmpeg hands the packet's pts to the picture it carried
        no_reordering = self._ctx.has_b_frames == 0
        try:
            frames = self._ctx.decode(packet)
        except self._av.error.FFmpegError as exc:
            raise InvalidInputError(f"h264 frame {tag} could not be decoded: {exc}") from None
        if not frames and no_reordering and self._ctx.has_b_frames == 0:
            # Without B-frame reordering every picture comes out at once; none means
            # FFmpeg dropped it (truncated, or its reference frames were lost).
            raise InvalidInputError(
                f"h264 frame {tag} produced no picture (truncated, damaged or missing its references)"
            )
        return self._convert(frames, tag)

    def flush(self) -> list[DecodedFrame]:
        """Drain pictures held back for reordering (end of stream)."""
        if self._ctx is None:
            return []
        try:
            frames = self._ctx.decode(None)
        except self._av.error.FFmpegError as exc:
            raise InvalidInputError(f"h264 flush failed: {exc}") from None
        return self._convert(frames, None)

    def close(self) -> None:
        # PyAV frees the AVCodecContext when its last reference goes (CPython refcounting),
        # so dropping it here releases the decoder's buffers immediately.
        self._ctx = None
        self._pending = []

    def _convert(self, frames: list[VideoFrame], tag: int | None) -> list[DecodedFrame]:
        out, self._pending = self._pending, []
        corrupt = None
        for frame in frames:
            frame_tag = frame.pts if frame.pts is not None else tag
            if frame_tag is None:
                # Only a flushed picture that lost its packet's pts: it matches no request.
                continue
            if frame.is_corrupt:
                corrupt = frame_tag
            else:
                out.append(DecodedFrame(frame.to_ndarray(format="rgb24"), frame_tag))
        if corrupt is not None:
            # Good pictures that came out alongside the bad one are handed out next call.
            self._pending = out
            raise InvalidInputError(f"h264 frame {corrupt} is corrupt (truncated or damaged access unit)")
        return out


def make_decoder(
    encoding: str,
    width: int | None = None,
    height: int | None = None,
    pixel_format: str | None = None,
    max_pixels: int = DEFAULT_MAX_IMAGE_PIXELS,
) -> FrameDecoder:
    """The decoder for one stream; `raw` needs width, height and pixel_format."""
    if encoding == "jpeg":
        return JpegDecoder(max_pixels)
    if encoding == "png":
        return PngDecoder(max_pixels)
    if encoding == "raw":
        if width is None or height is None or pixel_format is None:
            raise InvalidInputError("raw frames need width, height and pixel_format")
        return RawDecoder(width, height, pixel_format, max_pixels)
    if encoding == "h264":
        return H264Decoder(max_pixels)
    raise InvalidInputError(f"unknown frame encoding {encoding!r}; expected one of {', '.join(ENCODINGS)}")


def decode_image(data: bytes, max_pixels: int = DEFAULT_MAX_IMAGE_PIXELS, label: str = "image") -> np.ndarray:
    """Decode a self-describing still image (JPEG or PNG, sniffed) for unary Predict."""
    if data.startswith(b"\xff\xd8"):
        return JpegDecoder(max_pixels, label).decode_image(data)
    if data.startswith(b"\x89PNG"):
        return PngDecoder(max_pixels, label).decode_image(data)
    raise InvalidInputError(
        f"image input ({len(data)} bytes) is neither JPEG nor PNG; send raw pixels through a stream"
    )
