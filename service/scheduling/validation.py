"""Check a request's tensors against a model's signature before it is queued."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from backends.base import ModelSignature
from protos.datatypes import datatype_of
from protos.errors import InvalidInputError
from protos.text import clipped


def validate_inputs(
    model: str, signature: ModelSignature, inputs: Mapping[str, np.ndarray], max_batch_size: int
) -> int:
    """Raise InvalidInputError naming the tensor on any mismatch; returns the batch size (1 when unbatched)."""
    if len(inputs) != len(signature.inputs) or any(spec.name not in inputs for spec in signature.inputs):
        expected = {spec.name for spec in signature.inputs}
        unknown = sorted(set(inputs) - expected)
        if unknown:
            raise InvalidInputError(
                f"model '{model}' has no input '{clipped(unknown[0])}'; its inputs are {sorted(expected)}"
            )
        missing = sorted(expected - set(inputs))
        raise InvalidInputError(f"model '{model}': input '{missing[0]}' is missing")
    batch = 1
    for spec in signature.inputs:
        array = inputs[spec.name]
        got = datatype_of(array.dtype) if spec.datatype != "BF16" else "BF16"
        if got != spec.datatype:
            raise InvalidInputError(f"model '{model}': input '{spec.name}' expects datatype {spec.datatype}, got {got}")
        shape = tuple(array.shape)
        if not spec.accepts_shape(shape):
            raise InvalidInputError(
                f"model '{model}': input '{spec.name}' expects shape {list(spec.shape)} (-1 = any), got {list(shape)}"
            )
        if max_batch_size:
            batch = shape[0]
            if batch > max_batch_size:
                raise InvalidInputError(
                    f"model '{model}': input '{spec.name}' has batch size {batch}, "
                    f"larger than the model's max_batch_size {max_batch_size}"
                )
    return batch


def validate_outputs(model: str, signature: ModelSignature, requested: Sequence[str]) -> None:
    names = {spec.name for spec in signature.outputs}
    for name in requested:
        if name not in names:
            raise InvalidInputError(f"model '{model}' has no output '{clipped(name)}'; its outputs are {sorted(names)}")
