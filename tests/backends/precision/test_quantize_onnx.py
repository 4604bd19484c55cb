from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from backends.precision.gate import GateThresholds
from backends.precision.plan import ONNXRUNTIME_INT8, plan_int8
from backends.precision.quantize_onnx import quantize_onnx, run_onnx


def test_int8_tiny_cnn_agrees_with_fp32_and_is_cached(tiny_cnn: Path, calibration_samples, tmp_path: Path) -> None:
    calls = []

    def counting(source: Path, target: Path, samples) -> None:
        calls.append(source)
        quantize_onnx(source, target, samples)

    recipe = ONNXRUNTIME_INT8.with_quantizer(counting)

    first = plan_int8(tiny_cnn, calibration_samples, tmp_path, GateThresholds(min_cosine=0.99), recipe)
    assert first.step.ok and first.artifact is not None and first.built, first.step.line()
    assert first.step.figures is not None and first.step.figures.cosine >= 0.99
    # Really INT8: the quantized graph carries QuantizeLinear/DequantizeLinear nodes.
    import onnx

    ops = {n.op_type for n in onnx.load(str(first.artifact)).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    # Unseen inputs agree too, not only the calibration set.
    rng = np.random.default_rng(99)
    fresh = [{"input": rng.random((1, 3, 64, 64), dtype=np.float32)} for _ in range(4)]
    for a, b in zip(run_onnx(tiny_cnn, fresh), run_onnx(first.artifact, fresh), strict=True):
        x, y = a["logits"].ravel(), b["logits"].ravel()
        assert float(np.dot(x, y) / (np.linalg.norm(x) * np.linalg.norm(y))) >= 0.99

    second = plan_int8(tiny_cnn, calibration_samples, tmp_path, GateThresholds(min_cosine=0.99), recipe)
    assert len(calls) == 1 and not second.built and second.artifact == first.artifact


def test_impossible_gate_rejects_int8_with_the_figure(tiny_cnn: Path, calibration_samples, tmp_path: Path) -> None:
    result = plan_int8(tiny_cnn, calibration_samples, tmp_path, GateThresholds(min_cosine=1.0, max_abs_error=0.0))
    assert not result.step.ok and result.artifact is None
    assert "gate failed" in result.step.reason and "max_abs_error" in result.step.reason
    assert result.step.figures is not None and result.step.figures.max_abs_error > 0


def test_nncf_int8_openvino_agrees_with_fp32(tiny_cnn: Path, calibration_samples, tmp_path: Path) -> None:
    if importlib.util.find_spec("nncf") is None:
        pytest.skip("nncf is not installed (the cpu/intel extras bring it)")
    import openvino

    from backends.precision.quantize_openvino import quantize_openvino

    target = tmp_path / "model.xml"
    quantize_openvino(tiny_cnn, target, calibration_samples[:8])
    core = openvino.Core()
    f32 = {"INFERENCE_PRECISION_HINT": "f32"}
    quantized = core.compile_model(str(target), "CPU", f32)
    exact = core.compile_model(str(tiny_cnn), "CPU", f32)
    types = {op.get_type_name() for op in openvino.Core().read_model(str(target)).get_ops()}
    assert "FakeQuantize" in types  # NNCF's INT8 marks
    x = np.random.default_rng(5).random((2, 3, 64, 64), dtype=np.float32)
    a, b = quantized({"input": x})["logits"], exact({"input": x})["logits"]
    assert float(np.dot(a.ravel(), b.ravel()) / (np.linalg.norm(a) * np.linalg.norm(b))) >= 0.99
