"""Tensors between the server and a model's backend process through shared memory, not pickles.

A Segment is an anonymous shared mapping (memfd on Linux) whose file descriptor is handed
to the backend process over its pipe, so it has no name to leak and disappears when both
sides close it; its pages are reserved up front (posix_fallocate), so running out of memory
is an error here and never a SIGBUS later. Tensors are laid out one after another at
64-byte offsets; only their headers (name, dtype, shape, offset, size) cross the pipe.

BYTES tensors (numpy object arrays) travel as a little-endian uint32 length per element
followed by the elements' bytes; text elements come back as text.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

ALIGN = 64
# kind of a TensorHeader: numeric arrays carry their dtype string; object arrays are one of these.
BYTES = "bytes"
TEXT = "text"
_LENGTH = np.dtype("<u4")


class SegmentTooSmall(Exception):
    """The tensors need `needed` bytes from the start offset; the segment is smaller."""

    def __init__(self, needed: int) -> None:
        super().__init__(f"{needed} bytes needed")
        self.needed = needed


@dataclass(frozen=True)
class TensorHeader:
    name: str
    kind: str  # a numpy dtype string ("<f4", "|b1") or BYTES / TEXT for object arrays
    shape: tuple[int, ...]
    offset: int
    nbytes: int


def aligned(offset: int) -> int:
    return -(-offset // ALIGN) * ALIGN


class Segment:
    """A shared mapping of `size` bytes over a file descriptor this process owns."""

    def __init__(self, fd: int, size: int) -> None:
        self.fd = fd
        self.size = size
        self.map = mmap.mmap(fd, size) if size else None

    @classmethod
    def create(cls, size: int) -> Segment:
        """A new anonymous segment; OSError (ENOSPC/ENOMEM) when the memory is not there."""
        fd = _anonymous_fd()
        try:
            if size:
                os.ftruncate(fd, size)
                os.posix_fallocate(fd, 0, size)
            return cls(fd, size)
        except BaseException:
            os.close(fd)
            raise

    @property
    def buffer(self) -> mmap.mmap | bytearray:
        return self.map if self.map is not None else bytearray()

    def close(self) -> None:
        """Unmap and close; the memory goes once the other side has closed its copy too."""
        if self.map is not None:
            # While an array still views it, the mapping goes with the last view (mmap holds its own fd).
            with contextlib.suppress(BufferError):
                self.map.close()
            self.map = None
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def _anonymous_fd() -> int:
    if hasattr(os, "memfd_create"):
        return os.memfd_create("switchyard-tensors", os.MFD_CLOEXEC)
    fd, path = tempfile.mkstemp(prefix="switchyard-tensors-")
    os.unlink(path)  # nameless from the start, like a memfd
    return fd


@dataclass
class _Planned:
    header: TensorHeader
    array: np.ndarray | None  # numeric data to copy in
    lengths: np.ndarray | None = None  # BYTES: per-element lengths
    payload: bytes = b""  # BYTES: the elements, joined


def plan(arrays: Mapping[str, np.ndarray], start: int = 0) -> tuple[list[_Planned], int]:
    """Where each tensor goes from `start` on, and the end offset (bytes needed from 0)."""
    planned: list[_Planned] = []
    offset = aligned(start)
    for name, value in arrays.items():
        array = np.asarray(value)
        if array.dtype.kind == "O":
            items = array.reshape(-1)
            text = items.size > 0 and all(isinstance(x, str) for x in items)
            encoded = [x.encode() if isinstance(x, str) else bytes(x) for x in items]
            lengths = np.fromiter((len(x) for x in encoded), dtype=_LENGTH, count=len(encoded))
            payload = b"".join(encoded)
            size = lengths.nbytes + len(payload)
            header = TensorHeader(name, TEXT if text else BYTES, array.shape, offset, size)
            planned.append(_Planned(header, None, lengths, payload))
        else:
            header = TensorHeader(name, array.dtype.str, array.shape, offset, array.nbytes)
            planned.append(_Planned(header, array))
        offset = aligned(offset + header.nbytes)
    return planned, offset


def write(segment: Segment, arrays: Mapping[str, np.ndarray], start: int = 0) -> tuple[list[TensorHeader], int]:
    """Copy the tensors into the segment from `start`; SegmentTooSmall when they do not fit."""
    planned, end = plan(arrays, start)
    if end > segment.size:
        raise SegmentTooSmall(end - aligned(start))
    buffer = segment.buffer
    for item in planned:
        header = item.header
        if not header.nbytes:
            continue
        if item.array is not None:
            _view(buffer, item.array.dtype, header.shape, header.offset)[...] = item.array
        else:
            assert item.lengths is not None
            count = item.lengths.size
            _view(buffer, _LENGTH, (count,), header.offset)[...] = item.lengths
            at = header.offset + item.lengths.nbytes
            buffer[at : at + len(item.payload)] = item.payload
    return [item.header for item in planned], end


def read(segment: Segment, headers: list[TensorHeader], *, copy: bool) -> dict[str, np.ndarray]:
    """The tensors the headers describe; copy=False gives views that must go before the segment closes."""
    buffer = segment.buffer
    out: dict[str, np.ndarray] = {}
    for header in headers:
        if header.kind in (BYTES, TEXT):
            out[header.name] = _read_bytes(buffer, header)
        elif not header.nbytes:
            out[header.name] = np.empty(header.shape, np.dtype(header.kind))
        else:
            view = _view(buffer, np.dtype(header.kind), header.shape, header.offset)
            out[header.name] = view.copy() if copy else view
    return out


def _view(buffer: mmap.mmap | bytearray, dtype: np.dtype, shape: tuple[int, ...], offset: int) -> np.ndarray:
    # frombuffer holds a buffer export, so the mapping cannot be unmapped under a live view
    # (np.ndarray(buffer=...) does not, and a view of a closed mapping crashes the process).
    count = int(np.prod(shape, dtype=np.int64))
    return np.frombuffer(buffer, dtype, count, offset).reshape(shape)


def _read_bytes(buffer: mmap.mmap | bytearray, header: TensorHeader) -> np.ndarray:
    count = int(np.prod(header.shape, dtype=np.int64))
    out = np.empty(count, dtype=object)
    if count:
        lengths = _view(buffer, _LENGTH, (count,), header.offset).astype(np.int64)
        ends = header.offset + count * _LENGTH.itemsize + np.cumsum(lengths)
        starts = ends - lengths
        for i, (a, b) in enumerate(zip(starts.tolist(), ends.tolist(), strict=True)):
            out[i] = bytes(buffer[a:b])
        if header.kind == TEXT:
            out[:] = [x.decode() for x in out]
    return out.reshape(header.shape)
