"""Triton's binary tensor extension: a JSON header, then the tensors' raw bytes, in one body.

`Inference-Header-Content-Length` says how many bytes of the body are JSON; each binary
tensor's `parameters.binary_data_size` says how many of the rest are its (in the order of the
tensors). Replies use the same layout when any output goes back binary.
"""

from __future__ import annotations

from collections.abc import Sequence

from protos.text import clipped
from service.rest.errors import RestError

HEADER_LENGTH = "inference-header-content-length"
BINARY_CONTENT_TYPE = "application/octet-stream"


def split_body(body: bytes, header_length: str | None) -> tuple[memoryview, memoryview]:
    """(JSON part, binary part) of a request body; without the header the body is all JSON."""
    view = memoryview(body)
    if header_length is None:
        return view, view[len(body) :]
    if not header_length.strip().isdigit():
        raise RestError(400, f"{HEADER_LENGTH} must be a byte count, got '{header_length[:40]}'")
    length = int(header_length)
    if length > len(body):
        raise RestError(400, f"{HEADER_LENGTH} is {length} but the body holds {len(body)} bytes")
    return view[:length], view[length:]


class BinaryParts:
    """Takes consecutive binary tensors off the binary part of a body; says when bytes are left."""

    def __init__(self, data: memoryview) -> None:
        self._data = data
        self._offset = 0

    def take(self, name: str, size: int) -> bytes:
        end = self._offset + size
        if end > len(self._data):
            left = len(self._data) - self._offset
            raise RestError(
                400, f"tensor '{clipped(name)}': binary_data_size is {size} but only {left} bytes of binary data remain"
            )
        part = self._data[self._offset : end].tobytes()
        self._offset = end
        return part

    def check_used(self) -> None:
        left = len(self._data) - self._offset
        if left:
            raise RestError(400, f"{left} bytes of binary data follow the JSON that no input's binary_data_size claims")


def join_body(header: bytes, parts: Sequence[bytes]) -> tuple[bytes, dict[str, str]]:
    """(body, headers) of a reply: the JSON alone, or the JSON and the binary outputs after it."""
    if not parts:
        return header, {"content-type": "application/json"}
    return b"".join((header, *parts)), {HEADER_LENGTH: str(len(header)), "content-type": BINARY_CONTENT_TYPE}
