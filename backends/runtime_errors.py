"""Telling a runtime's "your input does not fit this model" apart from its genuine faults.

Shapes are checked against the model's signature before a request is queued, but a
signature says little about dynamic dimensions: two inputs that must agree, sides that must
be multiples of a stride. ONNX Runtime and OpenVINO find those out while running and say so
in words (a broadcast, a shape inference or a dimension check failed), with no error class
of their own. Such a failure is the caller's (INVALID_ARGUMENT); anything else stays a fault.
"""

from __future__ import annotations

import re

# Words the runtimes use when a node cannot take the shapes it was given.
_SHAPE_PROBLEM = re.compile(
    r"shape|dimension|\bdims\b|broadcast|\baxis\b|\brank\b|mismatch|ParameterMismatch", re.IGNORECASE
)
# Source locations and C++ signatures: the runtime's internals, no help to a caller.
_SOURCE_LOCATION = re.compile(
    r"(?:Exception from )?(?:/?[\w.+-]+/)+[\w.+-]+\.(?:h|hpp|cc|cpp|c):\d+:?"
    r"(?:\s+[\w:<>,*&~ ]+\([^()]*\))?"
)
_FAILED_AT = re.compile(r"\s+failed at\s*$|\s+failed at\s+(?=\S)")


def is_input_shape_problem(message: str) -> bool:
    """Whether a runtime's run-time failure says the inputs' shapes do not fit the model."""
    return _SHAPE_PROBLEM.search(message) is not None


def runtime_words(message: str) -> str:
    """The runtime's own explanation, without source paths, C++ signatures and blank lines."""
    text = _SOURCE_LOCATION.sub(" ", message)
    text = _FAILED_AT.sub(" ", text)
    return " ".join(text.split())
