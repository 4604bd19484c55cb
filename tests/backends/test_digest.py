"""A model's identity covers an OpenVINO IR's weights: timings and INT8 builds key on them."""

from __future__ import annotations

from backends.digest import model_digest
from backends.precision.cache import artifact_key


def test_new_weights_beside_the_same_ir_graph_are_a_new_model(tmp_path):
    xml, weights = tmp_path / "model.xml", tmp_path / "model.bin"
    xml.write_text("<net/>")
    weights.write_bytes(b"\x00" * 16)
    first = model_digest(xml), artifact_key(xml, "samples", "int8", "ov 1")
    weights.write_bytes(b"\x01" * 16)
    assert model_digest(xml) != first[0]
    assert artifact_key(xml, "samples", "int8", "ov 1") != first[1]


def test_an_onnx_file_is_its_own_bytes(tmp_path):
    onnx, beside = tmp_path / "model.onnx", tmp_path / "model.bin"
    onnx.write_bytes(b"graph")
    first = model_digest(onnx), artifact_key(onnx, "samples", "int8", "ort 1")
    beside.write_bytes(b"unrelated")  # not an IR: a .bin beside it is no part of it
    assert (model_digest(onnx), artifact_key(onnx, "samples", "int8", "ort 1")) == first
