"""The cache key changes with every byte that can change the answer, and with nothing else."""

from __future__ import annotations

import numpy as np
import pytest

from service.cache.key import model_digest, request_key

DIGEST = bytes(32)


def key(inputs=None, outputs=(), parameters=None, model="m", version=1, digest=DIGEST, kind="tensors") -> bytes:
    if inputs is None:
        inputs = {"a": np.arange(8, dtype=np.float32).reshape(2, 4), "b": np.ones((2, 4), np.float32)}
    return request_key(model, version, digest, kind, inputs, tuple(outputs), parameters or {})


def test_same_request_same_key_whatever_the_order_of_inputs_and_outputs():
    a, b = np.arange(8, dtype=np.float32).reshape(2, 4), np.ones((2, 4), np.float32)
    assert key({"a": a, "b": b}, ("sum", "diff")) == key({"b": b.copy(), "a": a.copy()}, ("diff", "sum"))
    assert len(key()) == 32


def _variants() -> dict[str, bytes]:
    base = np.arange(8, dtype=np.float32).reshape(2, 4)
    one_byte = base.copy()
    one_byte.reshape(-1).view(np.uint8)[5] ^= 1
    ones = np.ones((2, 4), np.float32)
    return {
        "one byte": key({"a": one_byte, "b": ones}),
        "one dim": key({"a": base.reshape(1, 8), "b": ones}),
        "datatype": key({"a": base.view(np.int32), "b": ones}),
        "input name": key({"a": base, "c": ones}),
        "requested outputs": key(outputs=("sum",)),
        "parameter": key(parameters={"threshold": 0.5}),
        "parameter type": key(parameters={"threshold": "0.5"}),
        "model": key(model="n"),
        "version": key(version=2),
        "artifact": key(digest=b"\1" * 32),
        "path": key(kind="image"),
    }


@pytest.mark.parametrize("difference", sorted(_variants()))
def test_every_difference_is_a_different_key(difference):
    assert _variants()[difference] != key()


def test_all_variants_are_distinct_from_each_other():
    keys = list(_variants().values())
    assert len(set(keys)) == len(keys)


def test_scheduling_parameters_do_not_change_the_key():
    assert key(parameters={"priority": 3, "timeout": 100, "unordered": True}) == key()


def test_bytes_tensors_are_keyed_by_their_elements():
    one = np.array([b"ab", b"c"], dtype=object)
    other = np.array([b"a", b"bc"], dtype=object)  # same concatenation, other elements
    assert key({"s": one}) != key({"s": other})


def test_model_digest_follows_the_artifact_and_the_config(tmp_path):
    (tmp_path / "model.onnx").write_bytes(b"weights")
    first = model_digest(tmp_path, b"{}")
    assert model_digest(tmp_path, b"{}") == first
    assert model_digest(tmp_path, b'{"x":1}') != first
    (tmp_path / "model.onnx").write_bytes(b"weightz")
    assert model_digest(tmp_path, b"{}") != first
