"""protos.codec under arbitrary input (Hypothesis): whatever a client sends, decoding gives an
array or a SwitchyardError, never another exception, and never allocates more than the
contents actually sent can justify; encoding and decoding are exact inverses."""

from __future__ import annotations

import math
import tracemalloc

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from protos import codec
from protos.datatypes import DATATYPES, numpy_dtype
from protos.errors import SwitchyardError
from protos.limits import DEFAULT_LIMITS
from protos.switchyard.v1 import predict_pb2 as pb

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ROUND_TRIP = settings(max_examples=25, deadline=None)

# Dimensions from the harmless to the hostile: zero, small, around the limits, past int64.
DIMS = st.one_of(
    st.integers(0, 8),
    st.integers(-3, -1),
    st.sampled_from([1 << 27, 1 << 28, (1 << 28) + 1, 1 << 31, 1 << 62, (1 << 63) - 1, 1 << 70]),
)
SHAPES = st.lists(DIMS, max_size=20)
DATATYPE_NAMES = st.one_of(st.sampled_from(DATATYPES), st.text(max_size=12))

# What decoding may allocate beyond the tensor's own bytes: exception text, small Python objects.
SLACK = 64 * 1024
# Checked.nbytes per byte of contents sent, at most: message + copy + BYTES elements (each
# element's 4-byte prefix pays for its ~41 bytes of object overhead).
PER_BYTE = 14


def _peak(fn) -> tuple[object, int]:
    """fn()'s result (or the SwitchyardError it raised) and the peak bytes traced meanwhile."""
    tracemalloc.start()
    try:
        try:
            result: object = fn()
        except SwitchyardError as error:
            result = error
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@FAST
@given(datatype=DATATYPE_NAMES, shape=SHAPES, raw=st.binary(max_size=256))
def test_any_raw_tensor_decodes_or_is_refused_within_what_was_sent(datatype, shape, raw):
    result, peak = _peak(lambda: codec.decode_raw("t", datatype, shape, raw))
    assert peak <= PER_BYTE * len(raw) + SLACK, f"allocated {peak} bytes for {len(raw)} bytes sent"
    if isinstance(result, SwitchyardError):
        assert "'t'" in result.message  # every refusal names the tensor
        return
    assert isinstance(result, np.ndarray)
    assert list(result.shape) == shape and result.size == math.prod(shape)


@FAST
@given(
    datatype=DATATYPE_NAMES,
    shape=SHAPES,
    field=st.sampled_from(sorted(set(codec.TYPED_FIELD.values()))),
    count=st.integers(0, 64),
)
def test_any_typed_tensor_decodes_or_is_refused_within_what_was_sent(datatype, shape, field, count):
    contents = pb.TensorContents()
    value = {"bytes_contents": b"xy", "bool_contents": True}.get(field, 1)
    getattr(contents, field).extend([value] * count)
    result, peak = _peak(lambda: codec.decode_typed("t", datatype, shape, contents))
    assert peak <= 64 * count + SLACK
    if isinstance(result, SwitchyardError):
        return
    assert isinstance(result, np.ndarray) and result.size == count and list(result.shape) == shape


@FAST
@given(datatype=st.sampled_from(DATATYPES), shape=SHAPES, raw=st.binary(max_size=256))
def test_a_checked_tensor_never_allocates_more_than_it_reserved(datatype, shape, raw):
    """What the server reserves on its budget (Checked.nbytes) covers what to_array allocates,
    and is bounded by the bytes sent, never by the count declared."""
    try:
        checked = codec.check_raw("t", datatype, shape, raw, DEFAULT_LIMITS)
    except SwitchyardError:
        return
    assert checked.nbytes <= PER_BYTE * len(raw) + 64
    result, peak = _peak(lambda: codec.to_array(checked))
    assert peak <= checked.nbytes + SLACK


FIXED = [d for d in DATATYPES if d not in ("BYTES", "BF16")]


def _arrays(datatype: str):
    shapes = hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=5)
    return hnp.arrays(numpy_dtype(datatype), shapes)


def _same(a: np.ndarray, b: np.ndarray) -> None:
    assert a.dtype == b.dtype and a.shape == b.shape
    assert a.tobytes() == b.tobytes()  # bit for bit: NaN payloads, -0.0 and all


@pytest.mark.parametrize("datatype", FIXED)
@ROUND_TRIP
@given(data=st.data())
def test_raw_round_trip_is_bit_exact(datatype, data):
    array = data.draw(_arrays(datatype))
    _same(codec.decode_raw("t", datatype, array.shape, codec.encode_raw(array)), array)


@ROUND_TRIP
@given(array=hnp.arrays(np.uint16, hnp.array_shapes(min_dims=1, max_dims=3, max_side=5)))
def test_bf16_round_trips_raw_as_its_words(array):
    _same(codec.decode_raw("t", "BF16", array.shape, codec.encode_raw(array)), array)


@pytest.mark.parametrize("datatype", FIXED)
@ROUND_TRIP
@given(data=st.data())
def test_typed_round_trip(datatype, data):
    array = data.draw(_arrays(datatype))
    contents = pb.TensorContents()
    codec.fill_typed(contents, array, datatype)
    back = codec.decode_typed("t", datatype, array.shape, contents)
    # FP16 travels as fp32 values: exact for every half-precision value, NaN payloads aside.
    np.testing.assert_array_equal(back, array)
    assert back.dtype == array.dtype


@ROUND_TRIP
@given(values=st.lists(st.binary(max_size=12), max_size=12))
def test_bytes_round_trip_raw_and_typed(values):
    array = np.array(values + [b""], dtype=object)[: len(values)]  # an object array even of equal lengths
    raw = codec.decode_raw("s", "BYTES", array.shape, codec.encode_raw(array))
    assert list(raw) == values
    contents = pb.TensorContents()
    codec.fill_typed(contents, array, "BYTES")
    assert list(codec.decode_typed("s", "BYTES", array.shape, contents)) == values
