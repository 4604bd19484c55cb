"""The gate after loading: a precision the runtime applies while it loads, checked against CPU FP32.

Here the route is a real one: the probe report claims an Intel GPU and NPU (this machine has
neither), so OpenVINO's GPU and NPU loads really fail and the load falls back to OpenVINO's CPU
at the FP16 hint, which this gate then measures, as it would a GPU's FP16 or TensorRT's INT8.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from backends.base import Device
from backends.openvino_backend import OpenVinoBackend
from backends.options import OpenVinoOptions
from backends.probe import probe
from service.repository.config import load_model_config
from service.repository.loader import ModelLoader
from service.repository.precision import PrecisionDecision, gate_loaded
from tests.backends.test_selection import machine
from tests.fixtures.calibrated import calibrated_tiny_cnn
from tests.integration.conftest import make_settings


def _intel_machine():
    report = machine("intel-igpu-npu")
    return dataclasses.replace(report, cpu=dataclasses.replace(report.cpu, flags=("avx512_fp16",)))


def _load(model: Path, cache: Path):
    loader = ModelLoader(make_settings(model.parent, cache_dir=cache), report=_intel_machine())
    return loader.load("tiny_cnn", load_model_config(model / "config.yaml"), model / "1")


def test_fp16_applied_at_load_is_gated_after_it(tmp_path: Path) -> None:
    loaded = _load(calibrated_tiny_cnn(tmp_path, "backend: openvino\nprecision: fp16\n"), tmp_path / "cache")
    try:
        assert (loaded.backend_name, loaded.precision) == ("openvino", "fp16")
        assert [e.outcome.value for e in loaded.trail.entries if e.backend == "openvino"][:2] == ["failed", "failed"]
        step, effective = loaded.trail.precision
        assert step.startswith("fp16: serves [cosine ") and "openvino gate passed against onnxruntime cpu fp32" in step
        assert effective == "effective fp16"
    finally:
        loaded.backend.unload()


def test_fp16_failing_the_gate_after_loading_reloads_fp32(tmp_path: Path) -> None:
    if not probe().cpu.supports_fp16:
        pytest.skip("this CPU has no FP16: OpenVINO's f16 hint would run f32 and pass an exact gate")
    config = "backend: openvino\nprecision: fp16\nprecision_gate: {max_abs_error: 0}\n"
    loaded = _load(calibrated_tiny_cnn(tmp_path, config), tmp_path / "cache")
    try:
        step, effective = loaded.trail.precision
        assert step.startswith("fp16: rejected [cosine ") and "openvino gate failed: max_abs_error" in step
        assert (effective, loaded.precision, loaded.backend_name) == ("effective fp32", "fp32", "openvino")
    finally:
        loaded.backend.unload()


def test_what_is_not_gated_after_loading(tmp_path: Path) -> None:
    model = calibrated_tiny_cnn(tmp_path, "backend: openvino\nprecision: fp16\n")
    config = load_model_config(model / "config.yaml")
    backend = OpenVinoBackend()
    backend.load(model / "1" / "model.onnx", OpenVinoOptions(precision_hint="f16"), Device("cpu"))
    try:
        fresh = PrecisionDecision("fp16", ("fp16", "fp32"))
        assert gate_loaded(config, model / "1", fresh, "fp32", backend, "openvino") is None
        measured = gate_loaded(config, model / "1", fresh, "fp16", backend, "openvino")
        assert measured is not None and measured.ok and measured.figures is not None
        # Gated before the load already: not measured twice.
        assert (
            gate_loaded(config, model / "1", dataclasses.replace(fresh, steps=(measured,)), "fp16", backend, "x")
            is None
        )
        (model / "calibration" / "batch.npz").unlink()
        (model / "calibration").rmdir()
        assert gate_loaded(config, model / "1", fresh, "fp16", backend, "openvino") is None  # nothing to measure on
    finally:
        backend.unload()
