"""TensorRT tensor types <-> protocol datatypes. Takes trt.DataType or its name: no import needed."""

from __future__ import annotations

from typing import Any

import numpy as np

from protos.datatypes import numpy_dtype
from protos.errors import BackendLoadError

DATATYPE_OF_TRT: dict[str, str] = {
    "FLOAT": "FP32",
    "HALF": "FP16",
    "BF16": "BF16",
    "INT8": "INT8",
    "UINT8": "UINT8",
    "INT32": "INT32",
    "INT64": "INT64",
    "BOOL": "BOOL",
}
# FP8, INT4, FP4 have no protocol datatype: such engines are refused at load with a reason.


def trt_type_name(dtype: Any) -> str:
    """trt.DataType.HALF, "DataType.HALF" or "HALF" -> "HALF"."""
    return str(getattr(dtype, "name", dtype)).rsplit(".", 1)[-1].upper()


def datatype_of_trt(dtype: Any) -> str:
    name = trt_type_name(dtype)
    try:
        return DATATYPE_OF_TRT[name]
    except KeyError:
        raise BackendLoadError(f"TensorRT type {name} has no protocol datatype") from None


def numpy_of_trt(dtype: Any) -> np.dtype:
    """The host dtype for a TensorRT tensor (BF16 travels as uint16 words)."""
    return numpy_dtype(datatype_of_trt(dtype))
