"""What one tensor may declare: rank, elements, BYTES elements; checked before anything is allocated.

A tensor's header (datatype and shape) is the client's claim. Its shape is multiplied out in
Python integers (no overflow), compared with these limits and then with the bytes actually
sent; only a tensor that passes both gets an array. The server builds its Limits from
ServerSettings (the same field names, see docs/security.md); a client decoding replies uses
the defaults.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from protos.errors import ErrorCode, InvalidInputError, SwitchyardError
from protos.text import clipped

# 2^28 elements is a batch of 32 RGB 1080p frames (199 M) with room to spare, and 1 GiB as
# FP32: beyond the default message size, so only an operator who raised that meets it.
DEFAULT_MAX_TENSOR_ELEMENTS = 1 << 28
# Models in the wild use rank <= 6 (attention blocks); numpy stops at 64 dimensions.
DEFAULT_MAX_TENSOR_RANK = 16
# Each BYTES element becomes a Python bytes object (~41 bytes of overhead and ~0.3 us to
# make): a million strings is ~40 MB and a third of a second, off the event loop.
DEFAULT_MAX_BYTES_ELEMENTS = 1 << 20


class LimitExceededError(SwitchyardError):
    """A request asks for more than a server limit allows (the limit's setting is named)."""

    code = ErrorCode.RESOURCE_EXHAUSTED


@dataclass(frozen=True, slots=True)
class Limits:
    max_tensor_elements: int = DEFAULT_MAX_TENSOR_ELEMENTS
    max_tensor_rank: int = DEFAULT_MAX_TENSOR_RANK
    max_bytes_elements: int = DEFAULT_MAX_BYTES_ELEMENTS


DEFAULT_LIMITS = Limits()


def checked_shape(name: str, shape: Sequence[int], limits: Limits) -> tuple[tuple[int, ...], int]:
    """(dims, element count) of a declared shape within the limits; nothing is allocated."""
    if len(shape) > limits.max_tensor_rank:
        raise LimitExceededError(
            f"tensor '{clipped(name)}': shape has rank {len(shape)}, above the limit of "
            f"{limits.max_tensor_rank} (max_tensor_rank)"
        )
    dims = tuple(map(int, shape))
    # A zero dimension empties the tensor, but numpy still refuses dimensions whose product
    # overflows its index type: the product with zeros counted as 1 must stay in bounds too.
    span = 1
    for dim in dims:
        if dim > 1:
            span *= dim
        elif dim < 0:
            raise InvalidInputError(f"tensor '{clipped(name)}': shape {list(dims)} has a negative dimension")
    empty = 0 in dims
    if span > limits.max_tensor_elements:
        counted = "elements, counting its zero dimensions as 1" if empty else "elements"
        raise LimitExceededError(
            f"tensor '{clipped(name)}': shape {list(dims)} declares {span} {counted}, above the limit of "
            f"{limits.max_tensor_elements} (max_tensor_elements)"
        )
    return dims, 0 if empty else span


def check_bytes_elements(name: str, count: int, limits: Limits) -> None:
    if count > limits.max_bytes_elements:
        raise LimitExceededError(
            f"tensor '{clipped(name)}': {count} BYTES elements, above the limit of "
            f"{limits.max_bytes_elements} (max_bytes_elements)"
        )
