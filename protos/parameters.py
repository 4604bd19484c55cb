"""Writing one request parameter: switchyard.v1's Parameter and the Open Inference Protocol's
InferParameter spell their oneof fields alike (bool_param, int64_param, double_param, string_param)."""

from __future__ import annotations

from typing import Any


def set_parameter(parameter: Any, value: object) -> None:
    """Put `value` in the field of its type; TypeError for any other type, ValueError for an
    integer beyond int64 (bool before int: True is an int to Python)."""
    if isinstance(value, bool):
        parameter.bool_param = value
    elif isinstance(value, int):
        parameter.int64_param = value
    elif isinstance(value, float):
        parameter.double_param = value
    elif isinstance(value, str):
        parameter.string_param = value
    else:
        raise TypeError(f"a parameter is a bool, an int, a float or a str, not {type(value).__name__}")
