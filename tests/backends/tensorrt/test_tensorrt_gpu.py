"""TensorRT on a real NVIDIA GPU: build, cache, reload, infer, compare with ONNX Runtime CPU.

Marked gpu; skipped with the reason printed where TensorRT, cuda-python or the GPU is missing
(every machine of this project's CI: see docs/hardware.md).
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from backends.base import Device
from backends.options import TensorRTOptions
from backends.probe import probe
from protos.errors import InvalidInputError


def _why_not() -> str | None:
    if importlib.util.find_spec("tensorrt") is None:
        return "tensorrt is not installed (it cannot be installed on this project's CPU machines)"
    if importlib.util.find_spec("cuda") is None:
        return "cuda-python is not installed"
    if not probe().devices("gpu", "nvidia"):
        return "no NVIDIA GPU found by the probe"
    return None


REASON = _why_not()
pytestmark = [pytest.mark.gpu, pytest.mark.skipif(REASON is not None, reason=f"TensorRT GPU test: {REASON}")]
GPU = Device("gpu", 0, "nvidia")


@pytest.fixture(scope="module")
def cnn(tmp_path_factory) -> Path:
    sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "benchmarks"))
    from cpu_backends import small_cnn  # the seeded CNN the CPU benchmark uses

    path = small_cnn(tmp_path_factory.mktemp("trt") / "model.onnx", 64, 16)
    # Make the batch dim dynamic so the profile matters.
    import onnx

    model = onnx.load(path)
    for value in (*model.graph.input, *model.graph.output):
        value.type.tensor_type.shape.dim[0].dim_param = "N"
    onnx.save(model, path)
    return path


def ort_reference(path: Path, x: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]


@pytest.mark.parametrize("precision,tolerance", [("fp32", 1e-4), ("fp16", 2e-2)])
def test_build_cache_reload_and_compare_with_ort(cnn, tmp_path, precision, tolerance):
    from backends.tensorrt.backend import TensorRTBackend

    options = TensorRTOptions(precision=precision, max_batch_size=4, engine_cache_dir=str(tmp_path / "cache"))
    x = np.random.default_rng(0).standard_normal((3, 3, 64, 64)).astype(np.float32)
    expected = ort_reference(cnn, x)

    first = TensorRTBackend()
    signature = first.load(cnn, options, GPU)
    assert signature.extra["engine_source"] == "built"
    assert signature.inputs[0].shape == (-1, 3, 64, 64)
    np.testing.assert_allclose(first.infer({"x": x})["y"], expected, atol=tolerance, rtol=tolerance)
    with pytest.raises(InvalidInputError, match="outside the engine's profile"):
        first.infer({"x": np.zeros((5, 3, 64, 64), np.float32)})
    first.unload()

    second = TensorRTBackend()
    assert second.load(cnn, options, GPU).extra["engine_source"] == "cache"
    engine_file = next((tmp_path / "cache").glob("*.engine"))
    second.unload()

    plan = tmp_path / "model.plan"
    plan.write_bytes(engine_file.read_bytes())
    third = TensorRTBackend()
    assert third.load(plan, TensorRTOptions(), GPU).extra["engine_source"] == "prebuilt"
    np.testing.assert_allclose(third.infer({"x": x[:1]})["y"], expected[:1], atol=tolerance, rtol=tolerance)
    third.unload()


def test_int8_calibrates_on_the_samples_writes_the_table_and_replays_it(cnn, tmp_path):
    from backends.tensorrt.backend import TensorRTBackend

    rng = np.random.default_rng(1)
    data = tmp_path / "calibration"
    data.mkdir()
    np.save(data / "samples.npy", rng.standard_normal((16, 3, 64, 64)).astype(np.float32))
    table = tmp_path / "int8.calibration"
    options = TensorRTOptions(
        precision="int8",
        max_batch_size=4,
        engine_cache_dir=str(tmp_path / "engines"),
        int8_calibration_data=str(data),
        int8_calibration_cache=str(table),
    )
    x = rng.standard_normal((2, 3, 64, 64)).astype(np.float32)
    first = TensorRTBackend()
    assert first.load(cnn, options, GPU).extra["engine_source"] == "built"
    assert table.is_file() and table.stat().st_size > 0  # the calibrator wrote TensorRT's table
    y, expected = first.infer({"x": x})["y"], ort_reference(cnn, x)
    first.unload()
    cosine = float(np.dot(y.ravel(), expected.ravel()) / (np.linalg.norm(y) * np.linalg.norm(expected)))
    assert cosine >= 0.98 and not np.allclose(y, expected, atol=1e-5)
    # The table is replayed (no calibration run) and the engine comes from the engine cache.
    second = TensorRTBackend()
    assert second.load(cnn, options, GPU).extra["engine_source"] == "cache"
    second.unload()
