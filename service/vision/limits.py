"""What one image or one video stream may cost the server: pixels per picture, bytes per stream.

Both come from ServerSettings (--max-image-pixels, --max-stream-pending-bytes); docs/security.md
lists them with what a client sees when it crosses one.
"""

from __future__ import annotations

from dataclasses import dataclass

from protos.errors import ErrorCode, InvalidInputError, SwitchyardError

# 16 Mpx holds 4K UHD (8.3 Mpx) and 12 Mpx phone photos with room to spare; decoded to RGB it
# is 48 MiB, and with a decoder's working copies one picture stays under ~150 MiB.
DEFAULT_MAX_IMAGE_PIXELS = 16 * 1024 * 1024
# About ten decoded 1080p frames (6 MiB each) waiting per stream.
DEFAULT_MAX_STREAM_PENDING_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class MediaLimits:
    max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS
    # Decoded pictures one stream may hold waiting for (or inside) the model, and the bytes
    # of its finished replies the client has not read yet.
    max_stream_pending_bytes: int = DEFAULT_MAX_STREAM_PENDING_BYTES


class ImageTooLargeError(SwitchyardError):
    code = ErrorCode.RESOURCE_EXHAUSTED


def check_pixels(what: str, width: int, height: int, limit: int) -> None:
    """Refuse a picture whose declared size is over the limit, before anything is allocated for it."""
    if width <= 0 or height <= 0:
        raise InvalidInputError(f"{what} declares an empty picture ({width}x{height})")
    if width * height > limit:
        raise ImageTooLargeError(
            f"{what} declares {width}x{height} = {width * height} pixels, over the server's limit of "
            f"{limit} pixels (max_image_pixels)"
        )
