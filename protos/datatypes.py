"""Open Inference Protocol datatype names and their numpy dtypes (little-endian)."""

from __future__ import annotations

import numpy as np

# BF16 has no numpy dtype; it travels as raw 2-byte words and is viewed as uint16.
_NUMPY_OF: dict[str, np.dtype] = {
    "BOOL": np.dtype(np.bool_),
    "UINT8": np.dtype("<u1"),
    "UINT16": np.dtype("<u2"),
    "UINT32": np.dtype("<u4"),
    "UINT64": np.dtype("<u8"),
    "INT8": np.dtype("<i1"),
    "INT16": np.dtype("<i2"),
    "INT32": np.dtype("<i4"),
    "INT64": np.dtype("<i8"),
    "FP16": np.dtype("<f2"),
    "FP32": np.dtype("<f4"),
    "FP64": np.dtype("<f8"),
    "BF16": np.dtype("<u2"),
    "BYTES": np.dtype(object),
}

DATATYPES: tuple[str, ...] = tuple(_NUMPY_OF)

_NAME_OF: dict[np.dtype, str] = {dt: name for name, dt in _NUMPY_OF.items() if name not in ("BF16",)}


def numpy_dtype(datatype: str) -> np.dtype:
    """The numpy dtype for a protocol datatype name; KeyError for unknown names."""
    return _NUMPY_OF[datatype]


def datatype_of(dtype: np.dtype) -> str:
    """The protocol datatype name for a numpy dtype (object and str/bytes arrays are BYTES)."""
    dtype = np.dtype(dtype)
    if dtype.kind in ("O", "S", "U"):
        return "BYTES"
    return _NAME_OF[dtype.newbyteorder("<") if dtype.byteorder == ">" else dtype]


def element_size(datatype: str) -> int:
    """Bytes per element in raw form; 0 for BYTES (variable length)."""
    return 0 if datatype == "BYTES" else _NUMPY_OF[datatype].itemsize
