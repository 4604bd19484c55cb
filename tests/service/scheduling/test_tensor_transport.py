"""The shared-memory tensor layout: every datatype (BYTES and text included), zero-size and
scalar tensors, non-contiguous inputs, and a request larger than the segment."""

from __future__ import annotations

import numpy as np
import pytest

from protos.datatypes import DATATYPES, numpy_dtype
from service.scheduling import tensor_transport as transport


def sample(datatype: str, shape: tuple[int, ...] = (2, 3)) -> np.ndarray:
    count = int(np.prod(shape))
    if datatype == "BYTES":
        return np.array([b"", b"\x00\xff", "é".encode(), b"x" * 70, b"a", b"bc"][:count], dtype=object).reshape(shape)
    if datatype == "BOOL":
        return (np.arange(count) % 2 == 0).reshape(shape)
    return (np.arange(count) * 7 - 3).astype(numpy_dtype(datatype)).reshape(shape)


@pytest.fixture
def segment():
    seg = transport.Segment.create(1 << 16)
    yield seg
    seg.close()


def round_trip(segment: transport.Segment, arrays: dict[str, np.ndarray], start: int = 0) -> dict[str, np.ndarray]:
    headers, _ = transport.write(segment, arrays, start)
    return transport.read(segment, headers, copy=True)


def assert_same(got: np.ndarray, want: np.ndarray) -> None:
    assert got.shape == want.shape
    assert got.dtype == want.dtype
    assert got.tolist() == want.tolist()


def test_every_datatype_round_trips_in_one_segment(segment):
    arrays = {f"t_{name}": sample(name) for name in DATATYPES}
    out = round_trip(segment, arrays, start=5)
    assert list(out) == list(arrays)
    for name, array in arrays.items():
        assert_same(out[name], array)


def test_text_elements_come_back_as_text_and_bytes_as_bytes(segment):
    text = np.array([["héllo", ""], ["z", "日本"]], dtype=object)
    raw = np.array([b"h\xc3\xa9llo", b""], dtype=object)
    out = round_trip(segment, {"text": text, "raw": raw})
    assert out["text"].tolist() == text.tolist() and all(isinstance(x, str) for x in out["text"].flat)
    assert out["raw"].tolist() == raw.tolist() and all(isinstance(x, bytes) for x in out["raw"].flat)


@pytest.mark.parametrize("datatype", ["FP32", "INT64", "BOOL", "BYTES"])
@pytest.mark.parametrize("shape", [(0,), (0, 4), (3, 0, 2)])
def test_zero_size_tensors(segment, datatype, shape):
    array = sample(datatype, shape) if datatype != "BYTES" else np.empty(shape, dtype=object)
    out = round_trip(segment, {"x": array, "after": np.arange(3, dtype=np.int32)})
    assert_same(out["x"], array)
    assert out["after"].tolist() == [0, 1, 2]


def test_scalars_and_non_contiguous_views(segment):
    base = np.arange(48, dtype=np.float32).reshape(6, 8)
    arrays = {"scalar": np.float64(2.5) * np.ones(()), "strided": base[::2, 1::3], "transposed": base.T}
    out = round_trip(segment, arrays)
    for name, array in arrays.items():
        assert_same(out[name], array)


def test_tensors_start_aligned_and_copies_outlive_the_segment(segment):
    headers, end = transport.write(segment, {"a": np.ones(3, np.uint8), "b": np.ones(5, np.float32)}, start=1)
    assert [h.offset % transport.ALIGN for h in headers] == [0, 0]
    assert end == headers[-1].offset + transport.aligned(headers[-1].nbytes)
    copied = transport.read(segment, headers, copy=True)
    transport.write(segment, {"a": np.zeros(3, np.uint8), "b": np.zeros(5, np.float32)}, start=1)
    assert copied["b"].tolist() == [1.0] * 5  # a copy, not a view of the reused segment


def test_a_request_larger_than_the_segment_says_how_much_it_needs():
    small = transport.Segment.create(4096)
    try:
        big = {"x": np.ones((64, 64), np.float32), "y": np.array([b"z" * 100], dtype=object)}
        with pytest.raises(transport.SegmentTooSmall) as raised:
            transport.write(small, big)
        needed = raised.value.needed
        assert needed > 4096
        bigger = transport.Segment.create(needed)
        try:
            out = round_trip(bigger, big)
            assert_same(out["x"], big["x"])
            assert out["y"].tolist() == [b"z" * 100]
        finally:
            bigger.close()
    finally:
        small.close()


def test_views_keep_the_mapping_alive_after_close():
    seg = transport.Segment.create(4096)
    headers, _ = transport.write(seg, {"x": np.arange(4, dtype=np.int16)})
    view = transport.read(seg, headers, copy=False)["x"]
    seg.close()  # must not fail while the view exists
    assert view.tolist() == [0, 1, 2, 3]
    assert seg.fd == -1
