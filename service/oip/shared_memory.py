"""System shared memory of the Open Inference Protocol: regions a client on this host registers.

A region names part of a POSIX shared memory object (`shm_open` key "/name" -> /dev/shm/name,
what tritonclient.utils.shared_memory creates). An input whose parameters name a region is read
from the object with pread into a private buffer (one copy, no socket, no protobuf); an output
asked for in a region is written into the object with pwrite and travels without contents.

Why not map the object: the client owns it and may shrink it at any moment, and touching a
mapped page past the object's end is SIGBUS, which would end the whole server. A read past
the end is only a short read, and a write past it grows the object, so whatever a client does
to its object costs at most its own request (FAILED_PRECONDITION). The private copy also
means the model sees the input as it was when the request was read, whatever the client
writes meanwhile.

Lifetime: a region holds its file descriptor. Unregistering drops it from the registry and
closes the descriptor at once; reads and writes look a region up by name on the event loop,
so nothing ever uses a descriptor after its region left the registry.
"""

from __future__ import annotations

import math
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
from protos.limits import DEFAULT_LIMITS, LimitExceededError, Limits
from protos.text import clipped
from service.rpc.budget import Lease

SHM_ROOT = Path("/dev/shm")
DEFAULT_MAX_REGIONS = 64
# What all regions together may cover: the bound keeps one client from registering the host's
# whole /dev/shm (a request still only reads what its tensors declare).
DEFAULT_MAX_BYTES = 4 << 30
REGION = "shared_memory_region"
BYTE_SIZE = "shared_memory_byte_size"
OFFSET = "shared_memory_offset"
PARAMETERS = (REGION, BYTE_SIZE, OFFSET)
_NAME_MAX = 255


def shared_memory_off(subject: str = "") -> SwitchyardError:
    """UNIMPLEMENTED for a shared-memory RPC or tensor on a server with it off; `subject` names
    the tensor or output ("tensor 'x'") when there is one."""
    where = f"{subject}: " if subject else ""
    return SwitchyardError(
        f"{where}system shared memory is off on this server: it serves only same-host clients, and is on by "
        "default when bound to loopback; start it with --shared-memory system (docs/protocols.md)",
        ErrorCode.UNIMPLEMENTED,
    )


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
    _writable: bool = field(default=False, repr=False)

    def read(self, place: Place) -> bytes:
        """A private copy of the place's bytes; FAILED_PRECONDITION when the object no longer holds them."""
        start = self.offset + place.offset
        data = os.pread(self._fd, place.byte_size, start)
        if len(data) < place.byte_size:  # a read past the object's end is short, never a fault
            raise self._shrank()
        return data

    def write(self, place: Place, data: memoryview) -> None:
        if not self._writable:
            raise SwitchyardError(
                f"shared memory region '{clipped(self.name)}' is read-only to the server (the object "
                f"'{clipped(self.key)}' is not writable by it): outputs cannot go there",
                ErrorCode.FAILED_PRECONDITION,
            )
        size = os.fstat(self._fd).st_size
        if size < self.offset + self.byte_size:
            # Writing would grow the client's object back; it shrank on purpose or by mistake.
            raise self._shrank(size)
        start, done = self.offset + place.offset, 0
        while done < data.nbytes:
            done += os.pwrite(self._fd, data[done:], start + done)

    def _shrank(self, size: int | None = None) -> SwitchyardError:
        size = os.fstat(self._fd).st_size if size is None else size
        return SwitchyardError(
            f"shared memory region '{clipped(self.name)}': its object '{clipped(self.key)}' shrank to "
            f"{size} bytes, below the registered {self.offset} + {self.byte_size}; register it again",
            ErrorCode.FAILED_PRECONDITION,
        )

    def close(self) -> None:
        os.close(self._fd)


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
        covered = sum(r.byte_size for r in self._regions.values())
        if covered + byte_size > self.max_bytes:
            raise LimitExceededError(
                f"shared memory region '{clipped(name)}': {byte_size} bytes more would make {covered + byte_size} "
                f"registered, above the server's {self.max_bytes} (max_shared_memory_bytes)"
            )
        fd, writable = self._open(name, key)
        try:
            size = os.fstat(fd).st_size
            if offset + byte_size > size:
                raise InvalidInputError(
                    f"shared memory region '{clipped(name)}': offset {offset} + byte_size {byte_size} runs past "
                    f"the end of '{clipped(key)}', which holds {size} bytes"
                )
        except BaseException:
            os.close(fd)
            raise
        self._regions[name] = Region(name, key, offset, byte_size, fd, _writable=writable)

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
        self,
        name: str,
        datatype: str,
        shape: Any,
        place: Place,
        limits: Limits = DEFAULT_LIMITS,
        lease: Lease | None = None,
    ) -> codec.Checked:
        """The input `place` holds, checked against the region and its declared shape before any byte is
        read; `lease`, the request's share of the in-flight budget, is charged for the copy first."""
        region = self._fits("input", name, place)
        if datatype != "BYTES":
            dims = codec.check_header(name, datatype, shape, limits)  # a known datatype, a shape within the limits
            count = math.prod(dims)
            expected = count * element_size(datatype)
            if place.byte_size != expected:
                raise InvalidInputError(
                    f"input '{clipped(name)}': {BYTE_SIZE} is {place.byte_size}, expected {expected} "
                    f"({count} x {datatype} for shape {list(dims)})"
                )
            if lease is not None:  # the copy counts against the in-flight budget before it exists
                lease.reserve(place.byte_size)
            # The array views the copy: nothing more to reserve for it.
            return codec.Checked(name, datatype, dims, count, region.read(place), True, 0)
        if lease is not None:
            lease.note(place.byte_size)
        return codec.check_raw(name, datatype, shape, region.read(place), limits)

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
