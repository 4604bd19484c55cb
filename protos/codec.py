"""The one codec between protobuf tensors and numpy, shared by every protocol adapter.

Works on any message with the Open Inference Protocol tensor layout: a `contents`
message with `bool_contents`, `int_contents`, ... fields (switchyard.v1.TensorContents
and inference.InferTensorContents both have it) or raw little-endian bytes.

Decoding is two steps, so that nothing is allocated from a count the client declared:
`check_raw` / `check_typed` compare the header with the limits (protos/limits.py) and with
the contents actually sent, and return a `Checked` tensor that knows what its array will
cost (`nbytes`, for the server's in-flight budget) and how much element-wise work making it
takes (`work`, to keep big conversions off the event loop); `to_array` then makes the array.
Raw fixed-size contents decode zero-copy (np.frombuffer); every error names the tensor.
"""

from __future__ import annotations

import struct
import sys
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

import numpy as np

from protos.datatypes import DATATYPES, datatype_of, element_size, numpy_dtype
from protos.errors import InvalidInputError
from protos.limits import DEFAULT_LIMITS, Limits, check_bytes_elements, checked_shape
from protos.text import clipped

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
# The exact numpy type of each typed field's values (the proto field's own type).
_WIRE_DTYPE: dict[str, np.dtype] = {
    "bool_contents": np.dtype(np.bool_),
    "int_contents": np.dtype(np.int32),
    "int64_contents": np.dtype(np.int64),
    "uint_contents": np.dtype(np.uint32),
    "uint64_contents": np.dtype(np.uint64),
    "fp32_contents": np.dtype(np.float32),
    "fp64_contents": np.dtype(np.float64),
}
_PREFIX = struct.Struct("<I")
# What one decoded BYTES element costs beyond its data: a pointer and a bytes object's header.
_OBJECT_BYTES = 8 + sys.getsizeof(b"")


class Checked(NamedTuple):
    """A tensor whose header agrees with its contents and the limits; not yet an array.

    `source` is the raw bytes (`raw`) or the typed repeated field. `nbytes` is what the
    tensor holds in the server once decoded: its contents as received plus the array made
    from them (estimated from checked numbers, never from a declared count alone). A tuple:
    one is made per tensor of every request.
    """

    name: str
    datatype: str
    dims: tuple[int, ...]
    elements: int
    source: Any
    raw: bool
    nbytes: int

    @property
    def work(self) -> int:
        """Elements converted one by one (0 for fixed-size raw contents: a zero-copy view)."""
        return self.elements if (not self.raw or self.datatype == "BYTES") else 0


def check_header(name: str, datatype: str, shape: Sequence[int], limits: Limits = DEFAULT_LIMITS) -> tuple[int, ...]:
    """Validate datatype and shape against the limits; returns the shape as a tuple."""
    if datatype not in DATATYPES:
        raise _unknown_datatype(name, datatype)
    return checked_shape(name, shape, limits)[0]


def _unknown_datatype(name: str, datatype: str) -> InvalidInputError:
    return InvalidInputError(
        f"tensor '{clipped(name)}': unknown datatype '{clipped(datatype)}', expected one of {', '.join(DATATYPES)}"
    )


def check_raw(name: str, datatype: str, shape: Sequence[int], raw: bytes, limits: Limits = DEFAULT_LIMITS) -> Checked:
    """Raw little-endian row-major bytes whose length fits the declared shape."""
    if datatype not in DATATYPES:
        raise _unknown_datatype(name, datatype)
    dims, count = checked_shape(name, shape, limits)
    size = len(raw)
    if datatype == "BYTES":
        # Every element carries a 4-byte length prefix: the contents bound the count.
        if count > size // 4:
            raise InvalidInputError(
                f"tensor '{clipped(name)}': shape {list(dims)} declares {count} BYTES elements, but {size} bytes "
                f"of raw contents hold at most {size // 4} (each element has a 4-byte length prefix)"
            )
        check_bytes_elements(name, count, limits)
        # message + the copy read from it + the elements' bytes objects
        return Checked(name, datatype, dims, count, raw, True, 3 * size + count * _OBJECT_BYTES)
    expected = count * element_size(datatype)
    if size != expected:
        raise InvalidInputError(
            f"tensor '{clipped(name)}': raw contents hold {size} bytes, expected {expected} "
            f"({count} x {datatype} for shape {list(dims)})"
        )
    return Checked(name, datatype, dims, count, raw, True, 2 * size)  # message + the copy the array views


def check_typed(
    name: str, datatype: str, shape: Sequence[int], contents: Any, limits: Limits = DEFAULT_LIMITS
) -> Checked:
    """Typed repeated contents whose element count matches the declared shape."""
    if datatype not in DATATYPES:
        raise _unknown_datatype(name, datatype)
    dims, count = checked_shape(name, shape, limits)
    field = TYPED_FIELD.get(datatype)
    if field is None:
        raise InvalidInputError(f"tensor '{clipped(name)}': datatype {datatype} can only be sent as raw contents")
    for other in _TYPED_FIELDS:
        if other != field and len(getattr(contents, other)):
            raise InvalidInputError(
                f"tensor '{clipped(name)}': datatype {datatype} expects contents in '{field}', got '{other}'"
            )
    values = getattr(contents, field)
    if len(values) != count:
        raise InvalidInputError(
            f"tensor '{clipped(name)}': {field} holds {len(values)} elements, expected {count} for shape {list(dims)}"
        )
    if datatype == "BYTES":
        check_bytes_elements(name, count, limits)
        payload = sum(map(len, values))  # the strings as received, and once more as the elements
        return Checked(name, datatype, dims, count, values, False, 2 * payload + count * _OBJECT_BYTES)
    wire = _WIRE_DTYPE[field].itemsize
    # message (about the wire size) + the wire-typed array + the converted array
    return Checked(name, datatype, dims, count, values, False, count * (2 * wire + element_size(datatype)))


def to_array(checked: Checked) -> np.ndarray:
    """The array of a checked tensor; allocates at most `checked.nbytes`."""
    if checked.raw:
        if checked.datatype == "BYTES":
            return _decode_length_prefixed(checked.name, checked.source, checked.elements).reshape(checked.dims)
        return np.frombuffer(checked.source, dtype=numpy_dtype(checked.datatype)).reshape(checked.dims)
    if checked.datatype == "BYTES":
        array = np.empty(checked.elements, dtype=object)
        array[:] = list(checked.source)
        return array.reshape(checked.dims)
    return _typed_array(checked).reshape(checked.dims)


def decode_raw(
    name: str, datatype: str, shape: Sequence[int], raw: bytes, limits: Limits = DEFAULT_LIMITS
) -> np.ndarray:
    """Raw little-endian row-major bytes -> array (zero-copy for fixed-size types)."""
    return to_array(check_raw(name, datatype, shape, raw, limits))


def decode_typed(
    name: str, datatype: str, shape: Sequence[int], contents: Any, limits: Limits = DEFAULT_LIMITS
) -> np.ndarray:
    """Typed repeated contents -> array; the element count must match the shape."""
    return to_array(check_typed(name, datatype, shape, contents, limits))


def _typed_array(checked: Checked) -> np.ndarray:
    target = numpy_dtype(checked.datatype)
    wire = np.array(checked.source, dtype=_WIRE_DTYPE[TYPED_FIELD[checked.datatype]])
    if wire.dtype == target:
        return wire
    check_range(checked.name, checked.datatype, wire)  # INT8/16 from int32, UINT8/16 from uint32
    return wire.astype(target)


def check_range(name: str, datatype: str, values: np.ndarray) -> None:
    """Integers that fit the integer `datatype` (a cast would wrap the others round silently)."""
    target = numpy_dtype(datatype)
    if values.size and target.kind in "iu" and values.dtype.kind in "iub":
        info = np.iinfo(target)
        if values.min() < info.min or values.max() > info.max:
            raise InvalidInputError(f"tensor '{clipped(name)}': a value is out of range for {datatype}")


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
    """`count` (checked: at most len(raw) // 4) length-prefixed elements that fill `raw` exactly."""
    data = raw if type(raw) is bytes else bytes(raw)
    end = len(data)
    unpack = _PREFIX.unpack_from
    items: list[bytes] = []
    offset = 0
    problem = ""
    for i in range(count):
        if offset + 4 > end:
            problem = f"BYTES element {i} is missing its 4-byte length prefix (contents end at byte {end})"
            break
        (length,) = unpack(data, offset)
        offset += 4
        if offset + length > end:
            problem = f"BYTES element {i} declares {length} bytes but only {end - offset} remain"
            break
        items.append(data[offset : offset + length])
        offset += length
    else:
        if offset != end:
            problem = f"{end - offset} bytes left over after {count} BYTES elements"
    if problem:
        del items  # an error's traceback keeps this frame: let the partial elements go now
        raise InvalidInputError(f"tensor '{clipped(name)}': {problem}")
    out = np.empty(count, dtype=object)
    out[:] = items
    return out


def _encode_length_prefixed(values: Iterable) -> bytes:
    parts: list[bytes] = []
    for value in values:
        data = _as_bytes(value)
        parts.append(len(data).to_bytes(4, "little"))
        parts.append(data)
    return b"".join(parts)
