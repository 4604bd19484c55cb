"""Stored outputs come back with the same names, dtypes, shapes and bytes."""

from __future__ import annotations

import numpy as np

from service.cache.codec import decode_outputs, encode_outputs


def test_round_trip_of_numeric_bytes_and_empty_tensors():
    outputs = {
        "scores": np.arange(12, dtype=np.float16).reshape(3, 4),
        "ids": np.array([[1, -2]], np.int64),
        "labels": np.array([b"cat", b"", b"dog"], dtype=object),
        "boxes": np.zeros((0, 4), np.float32),
        "flag": np.array(True),
    }
    back = decode_outputs(encode_outputs(outputs))
    assert list(back) == list(outputs)
    for name, array in outputs.items():
        assert back[name].dtype == array.dtype, name
        assert back[name].shape == array.shape, name
        np.testing.assert_array_equal(back[name], array)


def test_encoding_is_compact():
    array = np.ones((64, 64), np.float32)
    assert len(encode_outputs({"x": array})) < array.nbytes + 64
