"""System shared memory of the Open Inference Protocol: regions a client on this host registers.

A region names part of a POSIX shared memory object (`shm_open` key "/name" -> /dev/shm/name,
what tritonclient.utils.shared_memory creates). An input whose parameters name a region is read
from it as a zero-copy numpy view of a read-only mapping; an output asked for in a region is
written into it (a second, writable mapping made on first use) and travels without contents.

Lifetime: a region holds its file descriptor and mappings. Unregistering drops it from the
registry at once; arrays of requests still running keep their mapping alive (numpy holds the
buffer, so the mapping is unmapped only when the last view is gone), and writes look a region
up by name, so nothing ever touches a region after it left the registry.

Trust: the client owns the memory. The object's size is checked against the region on every
use, so a client that shrinks its object gets an error rather than crashing the server with
SIGBUS, but a client that shrinks it *during* a request can still do so; shared memory is
therefore for same-host clients the operator trusts (docs/protocols.md, "Shared memory").
"""

from __future__ import annotations

import mmap
import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from protos import codec
from protos.datatypes import element_size
from protos.errors import ErrorCode, InvalidInputError, SwitchyardError
from protos.limits import DEFAULT_LIMITS, LimitExceededError, Limits, checked_shape
from protos.text import clipped

SHM_ROOT = Path("/dev/shm")
DEFAULT_MAX_REGIONS = 64
# What all regions together may map. Mapping costs address space, not memory (the pages are
# the client's); the bound keeps one client from mapping the host's whole /dev/shm.
DEFAULT_MAX_BYTES = 4 << 30
REGION = "shared_memory_region"
BYTE_SIZE = "shared_memory_byte_size"
OFFSET = "shared_memory_offset"
PARAMETERS = (REGION, BYTE_SIZE, OFFSET)
_NAME_MAX = 255


@dataclass(frozen=True)
class Place:
    """Where one tensor lives: `byte_size` bytes at `offset` of region `region`."""

    region: str
    offset: int
    byte_size: int


def place_of(kind: str, name: str, parameters: Mapping[str, Any]) -> Place | None:
    """The shared memory place an input's or output's parameters name; None when they name none."""
    if not any(key in parameters for key in PARAMETERS):
        return None
    label = f"{kind} '{clipped(name)}'"
    region = _parameter(parameters, REGION)
    if not isinstance(region, str) or not region:
        raise InvalidInputError(f"{label}: parameter '{REGION}' must name a registered region (a string)")
    size = _parameter(parameters, BYTE_SIZE)
    if not isinstance(size, int) or isinstance(size, bool) or size <= 0:
        raise InvalidInputError(f"{label}: parameter '{BYTE_SIZE}' must be a positive integer with '{REGION}'")
    offset = _parameter(parameters, OFFSET, 0)
    if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
        raise InvalidInputError(f"{label}: parameter '{OFFSET}' must be a non-negative integer")
    return Place(region, offset, size)


def _parameter(parameters: Mapping[str, Any], key: str, default: object = None) -> object:
    if key not in parameters:
        return default
    value = parameters[key]
    choice = value.WhichOneof("parameter_choice")
    return getattr(value, choice) if choice else default


@dataclass(eq=False)
class Region:
    """One registered region: [offset, offset + byte_size) of the object `key`."""

    name: str
    key: str
    offset: int
    byte_size: int
    _fd: int = field(repr=False)
    _skip: int = field(repr=False)  # mappings start on a page boundary, `_skip` bytes before `offset`
    _read: mmap.mmap = field(repr=False)
    _write: mmap.mmap | None = field(default=None, repr=False)
    _writable: bool = field(default=False, repr=False)

    def _check_live(self) -> None:
        """The object still covers the region: touching pages past its end would be SIGBUS."""
        size = os.fstat(self._fd).st_size
        if size < self.offset + self.byte_size:
            raise SwitchyardError(
                f"shared memory region '{clipped(self.name)}': its object '{clipped(self.key)}' shrank to "
                f"{size} bytes, below the registered {self.offset} + {self.byte_size}; register it again",
                ErrorCode.FAILED_PRECONDITION,
            )

    def view(self, place: Place) -> memoryview:
        self._check_live()
        start = self._skip + place.offset
        return memoryview(self._read)[start : start + place.byte_size]

    def write(self, place: Place, data: memoryview) -> None:
        self._check_live()
        if self._write is None:
            if not self._writable:
                raise SwitchyardError(
                    f"shared memory region '{clipped(self.name)}' is read-only to the server (the object "
                    f"'{clipped(self.key)}' is not writable by it): outputs cannot go there",
                    ErrorCode.FAILED_PRECONDITION,
                )
            self._write = _map(self._fd, self.offset - self._skip, self._skip + self.byte_size, writable=True)
        start = self._skip + place.offset
        self._write[start : start + len(data)] = data

    def close(self) -> None:
        for mapping in (self._read, self._write):
            if mapping is not None:
                try:
                    mapping.close()
                except BufferError:  # views of running requests hold it; unmapped when they are gone
                    pass
        os.close(self._fd)


def _map(fd: int, start: int, length: int, *, writable: bool) -> mmap.mmap:
    prot = mmap.PROT_READ | (mmap.PROT_WRITE if writable else 0)
    return mmap.mmap(fd, length, flags=mmap.MAP_SHARED, prot=prot, offset=start)


class SharedMemoryRegistry:
    """The regions of one server process, by name; used on the event loop only (no lock)."""

    def __init__(
        self, max_regions: int = DEFAULT_MAX_REGIONS, max_bytes: int = DEFAULT_MAX_BYTES, root: Path = SHM_ROOT
    ) -> None:
        self.max_regions = max_regions
        self.max_bytes = max_bytes
        self._root = root
        self._regions: dict[str, Region] = {}

    def register(self, name: str, key: str, offset: int, byte_size: int) -> None:
        if not name:
            raise InvalidInputError("SystemSharedMemoryRegister: 'name' is empty")
        if name in self._regions:
            # Triton's status for it, which clients that register idempotently look for.
            raise SwitchyardError(
                f"shared memory region '{clipped(name)}' is already registered; unregister it first",
                ErrorCode.ALREADY_EXISTS,
            )
        if byte_size <= 0:
            raise InvalidInputError(f"shared memory region '{clipped(name)}': 'byte_size' must be positive")
        if len(self._regions) >= self.max_regions:
            raise LimitExceededError(
                f"shared memory region '{clipped(name)}': {len(self._regions)} regions are registered, the "
                f"server's limit (max_shared_memory_regions); unregister one first"
            )
        mapped = sum(r.byte_size for r in self._regions.values())
        if mapped + byte_size > self.max_bytes:
            raise LimitExceededError(
                f"shared memory region '{clipped(name)}': {byte_size} bytes more would map {mapped + byte_size}, "
                f"above the server's {self.max_bytes} (max_shared_memory_bytes)"
            )
        fd, writable = self._open(name, key)
        try:
            size = os.fstat(fd).st_size
            if offset + byte_size > size:
                raise InvalidInputError(
                    f"shared memory region '{clipped(name)}': offset {offset} + byte_size {byte_size} runs past "
                    f"the end of '{clipped(key)}', which holds {size} bytes"
                )
            skip = offset % mmap.ALLOCATIONGRANULARITY
            read = _map(fd, offset - skip, skip + byte_size, writable=False)
        except BaseException:
            os.close(fd)
            raise
        self._regions[name] = Region(name, key, offset, byte_size, fd, skip, read, _writable=writable)

    def _open(self, name: str, key: str) -> tuple[int, bool]:
        """(descriptor, writable) of the object `key` names, shm_open's rules: leading '/'s, then a plain name."""
        plain = key.lstrip("/")
        if not plain or "/" in plain or plain in (".", "..") or len(plain) > _NAME_MAX or "\0" in plain:
            raise InvalidInputError(
                f"shared memory region '{clipped(name)}': key '{clipped(key)}' is not a POSIX shared memory "
                "name (one '/' then a name without '/', as shm_open takes)"
            )
        path = self._root / plain
        flags = os.O_NOFOLLOW | os.O_CLOEXEC
        try:
            try:
                fd, writable = os.open(path, os.O_RDWR | flags), True
            except PermissionError:
                fd, writable = os.open(path, os.O_RDONLY | flags), False
        except FileNotFoundError:
            raise SwitchyardError(
                f"shared memory region '{clipped(name)}': no shared memory object '{clipped(key)}' on the "
                "server's host (create it with shm_open before registering it)",
                ErrorCode.NOT_FOUND,
            ) from None
        except OSError as error:
            raise InvalidInputError(
                f"shared memory region '{clipped(name)}': cannot open '{clipped(key)}' ({error.strerror})"
            ) from None
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise InvalidInputError(f"shared memory region '{clipped(name)}': '{clipped(key)}' is not a memory object")
        return fd, writable

    def unregister(self, name: str) -> None:
        """Unregister one region, or every region when `name` is empty; an unknown name is no error
        (Triton's rule, so clients may clean up unconditionally)."""
        names = [name] if name else list(self._regions)
        for each in names:
            region = self._regions.pop(each, None)
            if region is not None:
                region.close()

    def status(self, name: str) -> list[Region]:
        if not name:
            return list(self._regions.values())
        return [self._region(name, "SystemSharedMemoryStatus")]

    def _region(self, name: str, user: str) -> Region:
        region = self._regions.get(name)
        if region is None:
            raise SwitchyardError(
                f"{user}: no shared memory region '{clipped(name)}' is registered on this server process",
                ErrorCode.NOT_FOUND,
            )
        return region

    def _fits(self, kind: str, tensor: str, place: Place) -> Region:
        region = self._region(place.region, f"{kind} '{clipped(tensor)}'")
        if place.offset + place.byte_size > region.byte_size:
            raise InvalidInputError(
                f"{kind} '{clipped(tensor)}': {OFFSET} {place.offset} + {BYTE_SIZE} {place.byte_size} runs past "
                f"the end of shared memory region '{clipped(place.region)}' ({region.byte_size} bytes)"
            )
        return region

    def input(
        self, name: str, datatype: str, shape: Any, place: Place, limits: Limits = DEFAULT_LIMITS
    ) -> codec.Checked:
        """The input `place` holds, checked against the region and its declared shape before any byte is read."""
        region = self._fits("input", name, place)
        if datatype != "BYTES":
            codec.check_header(name, datatype, shape, limits)  # a known datatype, a shape within the limits
            dims, count = checked_shape(name, shape, limits)
            expected = count * element_size(datatype)
            if place.byte_size != expected:
                raise InvalidInputError(
                    f"input '{clipped(name)}': {BYTE_SIZE} is {place.byte_size}, expected {expected} "
                    f"({count} x {datatype} for shape {list(dims)})"
                )
            # A view of the client's pages: the server holds at most one copy (a batch) of it.
            return codec.Checked(name, datatype, dims, count, region.view(place), True, place.byte_size)
        # Length-prefixed elements are parsed from a private copy the client cannot change meanwhile.
        return codec.check_raw(name, datatype, shape, bytes(region.view(place)), limits)

    def check_output(self, name: str, place: Place) -> None:
        """Before inference: the output's region exists and holds the place."""
        self._fits("output", name, place)

    def write_output(self, name: str, array: np.ndarray, place: Place) -> int:
        """Write an output's raw bytes into its place; returns how many were written."""
        region = self._fits("output", name, place)
        data = memoryview(codec.encode_raw(array)) if array.dtype.kind in "OSU" else _raw_view(array)
        if data.nbytes > place.byte_size:
            raise InvalidInputError(
                f"output '{clipped(name)}': {data.nbytes} bytes of results do not fit the {place.byte_size} "
                f"bytes ({BYTE_SIZE}) asked for in shared memory region '{clipped(place.region)}'"
            )
        region.write(place, data)
        return data.nbytes


def _raw_view(array: np.ndarray) -> memoryview:
    """Little-endian row-major bytes of a fixed-size array, without a copy when it already is."""
    if array.dtype.byteorder == ">":
        array = array.astype(array.dtype.newbyteorder("<"))
    return np.ascontiguousarray(array).reshape(-1).view(np.uint8).data
