"""INT8 engine builds without a GPU: where the ranges come from, and what the builder config is told.

TensorRT cannot run here, so the builder and its config are small stand-ins that record what
they are asked; the decisions and the calibrator's feed/cache traffic are the real code.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from backends.options import TensorRTOptions
from backends.tensorrt.calibrator import entropy_calibrator
from backends.tensorrt.int8 import apply_precision, plan_calibration
from protos.errors import BackendLoadError

MODEL_SHA = "ab" * 32


def _model(tmp_path: Path, count: int = 3, shape: tuple[int, ...] = (3, 8, 8)) -> Path:
    version = tmp_path / "model" / "1"
    version.mkdir(parents=True)
    (version / "model.onnx").write_bytes(b"onnx")
    calibration = tmp_path / "model" / "calibration"
    calibration.mkdir()
    np.savez(calibration / "batch.npz", x=np.arange(count * np.prod(shape), dtype=np.float32).reshape(count, *shape))
    return version / "model.onnx"


class _Profile:
    def __init__(self) -> None:
        self.shapes: dict[str, tuple] = {}

    def set_shape(self, name: str, low: tuple, opt: tuple, high: tuple) -> None:
        self.shapes[name] = (low, opt, high)


class _Builder:
    def __init__(self, fast_fp16: bool = True) -> None:
        self.platform_has_fast_fp16 = fast_fp16

    def create_optimization_profile(self) -> _Profile:
        return _Profile()


class _Config:
    def __init__(self) -> None:
        self.flags: list[str] = []
        self.int8_calibrator = None
        self.calibration_profile: _Profile | None = None

    def set_flag(self, flag: str) -> None:
        self.flags.append(flag)

    def set_calibration_profile(self, profile: _Profile) -> None:
        self.calibration_profile = profile


class _EntropyBase:
    """Stands in for trt.IInt8EntropyCalibrator2, whose subclasses must call its __init__."""

    def __init__(self) -> None:
        self.initialised = True


TRT = SimpleNamespace(
    __version__="10.x-standin",
    BuilderFlag=SimpleNamespace(FP16="FP16", BF16="BF16", INT8="INT8"),
    IInt8EntropyCalibrator2=_EntropyBase,
)


def test_samples_beside_the_model_are_calibrated_and_the_table_is_then_replayed(tmp_path: Path) -> None:
    artifact = _model(tmp_path)
    options = TensorRTOptions(precision="int8", engine_cache_dir=str(tmp_path / "engines"))
    first = plan_calibration(artifact, options, ["x"], MODEL_SHA)
    assert first.feed is not None and len(first.feed) == 3 and first.feed.shapes() == {"x": (1, 3, 8, 8)}
    assert first.cache.path is not None and first.cache.path.parent == tmp_path / "engines"
    assert first.identity.startswith("samples:") and first.source == "3 calibration batches"

    sent: list[tuple[str, float]] = []
    calibrator = entropy_calibrator(
        TRT, first.feed, first.cache, lambda n, a: sent.append((n, float(a[0, 0, 0, 0]))) or 7
    )
    assert calibrator.initialised and calibrator.get_batch_size() == 1
    assert [calibrator.get_batch(["x"]) for _ in range(4)] == [[7], [7], [7], None]
    assert sent == [("x", 0.0), ("x", 192.0), ("x", 384.0)]  # each sample once, in order
    assert calibrator.read_calibration_cache() is None
    calibrator.write_calibration_cache(memoryview(b"TRT-table"))

    again = plan_calibration(artifact, options, ["x"], MODEL_SHA)
    assert again.feed is None and again.source == "calibration cache" and again.cache.read() == b"TRT-table"
    # Same key for the engine built by calibrating and the one rebuilt from the table.
    assert again.identity == first.identity
    replay = entropy_calibrator(TRT, again.feed, again.cache, lambda n, a: pytest.fail("nothing to copy"))
    assert replay.get_batch(["x"]) is None and replay.read_calibration_cache() == b"TRT-table"


def test_new_calibration_data_gets_a_new_table(tmp_path: Path) -> None:
    artifact = _model(tmp_path)
    options = TensorRTOptions(precision="int8", engine_cache_dir=str(tmp_path / "engines"))
    first = plan_calibration(artifact, options, ["x"], MODEL_SHA)
    first.cache.write(b"old table")
    np.savez(artifact.parent.parent / "calibration" / "batch.npz", x=np.ones((2, 3, 8, 8), np.float32))
    changed = plan_calibration(artifact, options, ["x"], MODEL_SHA)
    assert changed.feed is not None and changed.cache.path != first.cache.path and changed.identity != first.identity


def test_an_explicit_table_needs_no_samples(tmp_path: Path) -> None:
    table = tmp_path / "model.calibration"
    table.write_bytes(b"TRT-table")
    artifact = tmp_path / "model.onnx"
    plan = plan_calibration(artifact, TensorRTOptions(precision="int8", int8_calibration_cache=str(table)), ["x"], "")
    assert plan.feed is None and plan.identity.startswith("table:") and plan.cache.read() == b"TRT-table"


def test_no_table_and_no_samples_names_both(tmp_path: Path) -> None:
    with pytest.raises(BackendLoadError, match="int8_calibration_cache file or calibration samples: no calibration"):
        plan_calibration(tmp_path / "1" / "model.onnx", TensorRTOptions(precision="int8"), ["x"], MODEL_SHA)


def test_calibration_data_option_and_one_shape(tmp_path: Path) -> None:
    data = tmp_path / "elsewhere"
    data.mkdir()
    np.save(data / "a.npy", np.zeros((2, 3, 8, 8), np.float32))
    options = TensorRTOptions(precision="int8", int8_calibration_data=str(data))
    plan = plan_calibration(tmp_path / "model.onnx", options, ["x"], MODEL_SHA)
    assert plan.feed is not None and len(plan.feed) == 2 and plan.cache.path is None  # no cache folder: in memory
    np.save(data / "b.npy", np.zeros((1, 3, 16, 16), np.float32))
    with pytest.raises(BackendLoadError, match="samples of one shape"):
        plan_calibration(tmp_path / "model.onnx", options, ["x"], MODEL_SHA)


@pytest.mark.parametrize(
    ("precision", "fast_fp16", "flags"),
    [("fp32", True, []), ("fp16", True, ["FP16"]), ("bf16", True, ["BF16"]), ("int8", True, ["INT8", "FP16"])],
)
def test_builder_flags_per_precision(tmp_path: Path, precision: str, fast_fp16: bool, flags: list[str]) -> None:
    config = _Config()
    calibration = plan_calibration(_model(tmp_path), TensorRTOptions(precision="int8"), ["x"], MODEL_SHA)
    calibrator = object() if precision == "int8" else None
    assert apply_precision(TRT, _Builder(fast_fp16), config, precision, calibrator, calibration) == flags
    assert config.flags == flags
    assert config.int8_calibrator is calibrator


def test_int8_calibrates_on_the_samples_shape_and_replays_without_a_profile(tmp_path: Path) -> None:
    artifact = _model(tmp_path)
    options = TensorRTOptions(precision="int8", engine_cache_dir=str(tmp_path / "engines"))
    calibrating = plan_calibration(artifact, options, ["x"], MODEL_SHA)
    config = _Config()
    assert apply_precision(TRT, _Builder(fast_fp16=False), config, "int8", object(), calibrating) == ["INT8"]
    assert config.calibration_profile is not None
    assert config.calibration_profile.shapes == {"x": ((1, 3, 8, 8),) * 3}
    calibrating.cache.write(b"table")
    replaying = _Config()
    apply_precision(TRT, _Builder(), replaying, "int8", object(), plan_calibration(artifact, options, ["x"], MODEL_SHA))
    assert replaying.calibration_profile is None and replaying.int8_calibrator is not None


def test_a_flag_the_tensorrt_version_lacks_is_a_load_error(tmp_path: Path) -> None:
    old = SimpleNamespace(__version__="8.0", BuilderFlag=SimpleNamespace(FP16="FP16", INT8="INT8"))
    with pytest.raises(BackendLoadError, match="tensorrt 8.0 has no BF16 builder flag"):
        apply_precision(old, _Builder(), _Config(), "bf16")
    with pytest.raises(BackendLoadError, match="needs a calibrator"):
        apply_precision(old, _Builder(), _Config(), "int8")
