"""Which precision a version is asked for, per backend, before any runtime loads it."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from backends.selection import Preferences, select_candidates
from service.repository.config import ModelConfig
from service.repository.precision import decide_precision
from tests.backends.test_selection import machine
from tests.fixtures import models


def test_tensorrt_int8_is_calibrated_by_the_engine_build(tmp_path: Path) -> None:
    report = machine("nvidia-1x")
    decision = decide_precision(ModelConfig(backend="tensorrt", precision="int8"), tmp_path, report, tmp_path)
    # No ONNX Runtime or NNCF artifact: the TensorRT route is asked for int8 itself, fp16 after it.
    assert decision.int8_artifact_dir is None and decision.order == ("int8", "fp16", "fp32")
    assert decision.lines() == ("int8: serves (tensorrt calibrates at engine build; gated once loaded)",)
    (trt, *_) = select_candidates(report, "onnx", Preferences(backend="tensorrt", precision="int8"))
    assert trt.backend == "tensorrt" and trt.options.precision == "int8"


def _version(tmp_path: Path, model: bytes) -> Path:
    version = tmp_path / "model" / "1"
    version.mkdir(parents=True)
    (version / "model.onnx").write_bytes(model)
    return version


def test_openvino_int8_without_calibration_data_falls_back_with_the_reason(tmp_path: Path) -> None:
    version = _version(tmp_path, models.tiny_cnn().SerializeToString())
    config = ModelConfig(backend="openvino", precision="int8")
    decision = decide_precision(config, version, machine("cpu-container-quota"), tmp_path)
    assert decision.order == ("fp32",) and decision.int8_artifact_dir is None
    assert decision.lines() == ("int8: rejected (no calibration folder 'calibration')",)


def test_an_unreadable_model_falls_back_without_the_runtime_text(tmp_path: Path) -> None:
    version = _version(tmp_path, b"not a model")
    (version / "calibration").mkdir()
    np.save(version / "calibration" / "x.npy", np.zeros((2, 4), np.float32))
    config = ModelConfig(backend="openvino", precision="int8")
    decision = decide_precision(config, version, machine("cpu-container-quota"), tmp_path)
    assert decision.lines() == ("int8: rejected (could not read the model's inputs; details in the server log)",)
