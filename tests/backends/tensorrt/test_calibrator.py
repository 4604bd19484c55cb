"""The INT8 calibrator's pure parts; building an INT8 engine with it needs a GPU (skipped with the reason)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from backends.tensorrt.calibrator import CalibrationCacheFile, CalibrationFeed, entropy_calibrator


def _samples(count: int) -> list[dict[str, np.ndarray]]:
    return [{"x": np.full((1, 3, 4, 4), i, np.float64)} for i in range(count)]


def test_feed_gives_full_contiguous_float_batches_then_none() -> None:
    feed = CalibrationFeed(_samples(7), batch_size=3)
    assert len(feed) == 2  # the short last batch (1 sample) is dropped
    first = feed.next_batch(["x"])
    assert first is not None and first["x"].shape == (3, 3, 4, 4) and first["x"].dtype == np.float32
    assert first["x"].flags.c_contiguous and first["x"][2, 0, 0, 0] == 2
    second = feed.next_batch(["x"])
    assert second is not None and second["x"][0, 0, 0, 0] == 3
    assert feed.next_batch(["x"]) is None
    with pytest.raises(ValueError, match="at least 8 samples"):
        CalibrationFeed(_samples(7), batch_size=8)


def test_cache_file_round_trip(tmp_path: Path) -> None:
    cache = CalibrationCacheFile(tmp_path / "calib" / "model.cache")
    assert cache.read() is None
    cache.write(b"TRT-8600-EntropyCalibration2\n")
    assert cache.read() == b"TRT-8600-EntropyCalibration2\n"
    assert [p.name for p in cache.path.parent.iterdir()] == ["model.cache"]  # no temp file left


def test_tensorrt_calibrator_class() -> None:
    if importlib.util.find_spec("tensorrt") is None:
        pytest.skip("TensorRT GPU test: tensorrt is not installed (no NVIDIA GPU here)")
    import tensorrt as trt

    pointers: list[str] = []

    def to_device(name: str, array: np.ndarray) -> int:
        pointers.append(name)
        return 1

    feed, cache = CalibrationFeed(_samples(2), 2), CalibrationCacheFile(Path("/nonexistent/x"))
    calibrator = entropy_calibrator(trt, feed, cache, to_device)
    assert calibrator.get_batch_size() == 2 and calibrator.get_batch(["x"]) == [1] and pointers == ["x"]
