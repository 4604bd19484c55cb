"""Outputs <-> the bytes a cache tier stores: per tensor its name, dtype, shape and raw bytes."""

from __future__ import annotations

import struct

import numpy as np

from service.cache.key import array_payload

_VERSION = 1


def encode_outputs(outputs: dict[str, np.ndarray]) -> bytes:
    parts = [struct.pack("<BI", _VERSION, len(outputs))]
    for name, array in outputs.items():
        name_bytes, dtype = name.encode(), array.dtype.str.encode()
        payload = array_payload(array)
        parts.append(struct.pack("<HB B", len(name_bytes), len(dtype), array.ndim))
        parts.append(name_bytes + dtype)
        parts.append(struct.pack(f"<{array.ndim}qQ", *array.shape, len(payload)))
        parts.append(payload)
    return b"".join(parts)


def decode_outputs(data: bytes) -> dict[str, np.ndarray]:
    """The arrays view `data` (read-only, no copy) except BYTES tensors, rebuilt as object arrays."""
    view = memoryview(data)
    version, count = struct.unpack_from("<BI", view, 0)
    if version != _VERSION:
        raise ValueError(f"cache entry format {version} is not {_VERSION}")
    offset = struct.calcsize("<BI")
    outputs: dict[str, np.ndarray] = {}
    for _ in range(count):
        name_len, dtype_len, ndim = struct.unpack_from("<HB B", view, offset)
        offset += struct.calcsize("<HB B")
        name = bytes(view[offset : offset + name_len]).decode()
        offset += name_len
        dtype = np.dtype(bytes(view[offset : offset + dtype_len]).decode())
        offset += dtype_len
        *shape, size = struct.unpack_from(f"<{ndim}qQ", view, offset)
        offset += struct.calcsize(f"<{ndim}qQ")
        payload = view[offset : offset + size]
        offset += size
        if dtype.kind == "O":
            outputs[name] = _object_array(payload, shape)
        else:
            outputs[name] = np.frombuffer(payload, dtype).reshape(shape)
    return outputs


def _object_array(payload: memoryview, shape: list[int]) -> np.ndarray:
    items: list[bytes] = []
    offset = 0
    while offset < len(payload):
        (length,) = struct.unpack_from("<I", payload, offset)
        items.append(bytes(payload[offset + 4 : offset + 4 + length]))
        offset += 4 + length
    array = np.empty(len(items), dtype=object)
    array[:] = items
    return array.reshape(shape)
