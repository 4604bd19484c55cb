"""The one codec between protobuf tensors and numpy, shared by every protocol adapter.

Works on any message with the Open Inference Protocol tensor layout: a `contents`
message with `bool_contents`, `int_contents`, ... fields (switchyard.v1.TensorContents
and inference.InferTensorContents both have it) or raw little-endian bytes.
Raw contents decode zero-copy (np.frombuffer); every error names the tensor.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np

from protos.datatypes import DATATYPES, datatype_of, element_size, numpy_dtype
from protos.errors import InvalidInputError

# Which typed field carries each datatype.
TYPED_FIELD: dict[str, str] = {
    "BOOL": "bool_contents",
    "INT8": "int_contents",
    "INT16": "int_contents",
    "INT32": "int_contents",
    "INT64": "int64_contents",
    "UINT8": "uint_contents",
    "UINT16": "uint_contents",
    "UINT32": "uint_contents",
    "UINT64": "uint64_contents",
    "FP16": "fp32_contents",
    "FP32": "fp32_contents",
    "FP64": "fp64_contents",
    "BYTES": "bytes_contents",
}
_PREFIX = np.dtype("<u4")


def check_header(name: str, datatype: str, shape: Sequence[int]) -> tuple[int, ...]:
    """Validate datatype and shape; returns the shape as a tuple."""
    if datatype not in DATATYPES:
        raise InvalidInputError(
            f"tensor '{name}': unknown datatype '{datatype}', expected one of {', '.join(DATATYPES)}"
        )
    dims = tuple(int(d) for d in shape)
    if any(d < 0 for d in dims):
        raise InvalidInputError(f"tensor '{name}': shape {list(dims)} has a negative dimension")
    return dims


def decode_raw(name: str, datatype: str, shape: Sequence[int], raw: bytes) -> np.ndarray:
    """Raw little-endian row-major bytes -> array (zero-copy for fixed-size types)."""
    dims = check_header(name, datatype, shape)
    count = math.prod(dims)
    if datatype == "BYTES":
        return _decode_length_prefixed(name, raw, count).reshape(dims)
    expected = count * element_size(datatype)
    if len(raw) != expected:
        raise InvalidInputError(
            f"tensor '{name}': raw contents hold {len(raw)} bytes, expected {expected} "
            f"({count} x {datatype} for shape {list(dims)})"
        )
    return np.frombuffer(raw, dtype=numpy_dtype(datatype)).reshape(dims)


def decode_typed(name: str, datatype: str, shape: Sequence[int], contents) -> np.ndarray:
    """Typed repeated contents -> array; the element count must match the shape."""
    dims = check_header(name, datatype, shape)
    field = TYPED_FIELD.get(datatype)
    if field is None:
        raise InvalidInputError(f"tensor '{name}': datatype {datatype} can only be sent as raw contents")
    for other in set(TYPED_FIELD.values()) - {field}:
        if len(getattr(contents, other)):
            raise InvalidInputError(
                f"tensor '{name}': datatype {datatype} expects contents in '{field}', got '{other}'"
            )
    values = getattr(contents, field)
    count = math.prod(dims)
    if len(values) != count:
        raise InvalidInputError(
            f"tensor '{name}': {field} holds {len(values)} elements, expected {count} for shape {list(dims)}"
        )
    if datatype == "BYTES":
        array = np.empty(count, dtype=object)
        array[:] = list(values)
        return array.reshape(dims)
    dtype = numpy_dtype(datatype)
    array = np.array(values, dtype=np.float32 if datatype == "FP16" else None)
    if array.size and datatype not in ("FP16", "FP32", "FP64", "BOOL"):
        info = np.iinfo(dtype)
        if array.min() < info.min or array.max() > info.max:
            raise InvalidInputError(f"tensor '{name}': a value is out of range for {datatype}")
    return array.astype(dtype, copy=False).reshape(dims)


_TYPED_FIELDS = tuple(sorted(set(TYPED_FIELD.values())))


def has_typed_contents(contents) -> bool:
    for field in _TYPED_FIELDS:  # a plain loop: this runs for every tensor of every request
        if len(getattr(contents, field)):
            return True
    return False


def output_datatype(array: np.ndarray, declared: str | None = None) -> str:
    """The datatype to send an output as: BF16 has no numpy dtype (it is carried as uint16
    words), so the model's declared datatype decides for it; otherwise the array's dtype."""
    return "BF16" if declared == "BF16" else datatype_of(array.dtype)


def encode_raw(array: np.ndarray) -> bytes:
    """Array -> raw little-endian row-major bytes (BYTES elements length-prefixed)."""
    if array.dtype.kind in ("O", "S", "U"):
        return _encode_length_prefixed(array.ravel())
    if array.dtype.byteorder == ">":
        array = array.astype(array.dtype.newbyteorder("<"))
    return np.ascontiguousarray(array).tobytes()


def fill_typed(contents, array: np.ndarray, datatype: str) -> None:
    """Write an array into the typed field its datatype uses."""
    field = TYPED_FIELD.get(datatype)
    if field is None:
        raise InvalidInputError(f"datatype {datatype} has no typed contents field; ask for raw output")
    flat = array.ravel()
    if datatype == "BYTES":
        getattr(contents, field).extend(_as_bytes(v) for v in flat)
    else:
        getattr(contents, field).extend(flat.astype(np.float32 if datatype == "FP16" else flat.dtype).tolist())


def _as_bytes(value) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, np.bytes_):
        return bytes(value)
    return str(value).encode()


def _decode_length_prefixed(name: str, raw: bytes, count: int) -> np.ndarray:
    out = np.empty(count, dtype=object)
    view = memoryview(raw)
    offset = 0
    for i in range(count):
        if offset + 4 > len(raw):
            raise InvalidInputError(
                f"tensor '{name}': BYTES element {i} is missing its 4-byte length prefix "
                f"(contents end at byte {len(raw)}, {count} elements expected)"
            )
        length = int(np.frombuffer(view[offset : offset + 4], dtype=_PREFIX)[0])
        offset += 4
        if offset + length > len(raw):
            raise InvalidInputError(
                f"tensor '{name}': BYTES element {i} declares {length} bytes but only {len(raw) - offset} remain"
            )
        out[i] = bytes(view[offset : offset + length])
        offset += length
    if offset != len(raw):
        raise InvalidInputError(f"tensor '{name}': {len(raw) - offset} bytes left over after {count} BYTES elements")
    return out


def _encode_length_prefixed(values: Iterable) -> bytes:
    parts: list[bytes] = []
    for value in values:
        data = _as_bytes(value)
        parts.append(len(data).to_bytes(4, "little"))
        parts.append(data)
    return b"".join(parts)
