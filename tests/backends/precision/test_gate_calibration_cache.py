from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from backends.precision.cache import artifact_key, cached_artifact
from backends.precision.calibration import CalibrationError, batches, digest, load_calibration
from backends.precision.gate import GateFigures, GateThresholds, box_agreement, failure, measure


def test_gate_figures_and_failure_names_the_measured_figure() -> None:
    ref = [{"y": np.array([[1.0, 2.0, 3.0]], np.float32)}]
    close = [{"y": np.array([[1.0, 2.0, 3.01]], np.float32)}]
    swapped = [{"y": np.array([[3.0, 2.0, 1.0]], np.float32)}]
    figures = measure(ref, close)
    assert figures.cosine > 0.9999 and figures.max_abs_error == pytest.approx(0.01, abs=1e-6)
    assert figures.top1_agreement == 1.0
    assert failure(figures, GateThresholds(min_cosine=0.99)) is None
    tight = failure(figures, GateThresholds(min_cosine=1.0, max_abs_error=0.0))
    assert tight is not None and "max_abs_error 0.00999" in tight
    bad = measure(ref, swapped)
    assert bad.top1_agreement == 0.0
    reason = failure(bad, GateThresholds(min_cosine=0.99, min_top1_agreement=0.9))
    assert reason is not None and "cosine 0.71" in reason and "top1 agreement 0.000" in reason


def test_calibration_reads_npy_npz_and_images(tmp_path: Path) -> None:
    folder = tmp_path / "calibration"
    folder.mkdir()
    np.save(folder / "a.npy", np.ones((3, 2), np.float32))
    np.savez(folder / "b.npz", x=np.zeros((2, 2), np.float32))
    (folder / "c.png").write_bytes(b"png-bytes")
    samples = load_calibration(folder, ["x"], preprocess=lambda data: np.full((1, 2), len(data), np.float32))
    assert [s["x"].shape for s in samples] == [(1, 2)] * 6
    assert samples[-1]["x"][0, 0] == len(b"png-bytes")
    assert len(load_calibration(folder, ["x"], preprocess=lambda d: np.zeros((1, 2)), limit=4)) == 4
    with pytest.raises(CalibrationError, match="preprocess"):
        load_calibration(folder, ["x"])
    with pytest.raises(CalibrationError, match="no calibration folder"):
        load_calibration(tmp_path / "absent", ["x"])


def test_batches_and_digest() -> None:
    samples = [{"x": np.full((1, 2), i, np.float32)} for i in range(5)]
    assert [b["x"].shape[0] for b in batches(samples, 2)] == [2, 2, 1]
    assert digest(samples) == digest([dict(s) for s in samples])
    assert digest(samples) != digest(samples[:4])


def test_cache_builds_once_per_key(tmp_path: Path) -> None:
    model = tmp_path / "model.onnx"
    model.write_bytes(b"weights")
    calls: list[Path] = []

    def build(out: Path) -> None:
        calls.append(out)
        out.write_bytes(b"int8")

    key = artifact_key(model, "calib", "int8", "ort-1")
    first, built = cached_artifact(tmp_path / "cache", key, "model.onnx", build)
    again, built_again = cached_artifact(tmp_path / "cache", key, "model.onnx", build)
    assert (built, built_again, len(calls)) == (True, False, 1)
    assert first == again and first.read_bytes() == b"int8"
    assert artifact_key(model, "calib", "int8", "ort-2") != key
    assert artifact_key(model, "other", "int8", "ort-1") != key


def test_box_agreement_matches_boxes_one_to_one() -> None:
    words = np.array([[0, 0, 10, 10], [20, 0, 40, 10]], np.float32)
    assert box_agreement([words], [words + 1]) == 1.0  # IoU 0.68: the same words
    assert box_agreement([words], [words[:1]]) == pytest.approx(2 / 3)  # one word missed
    assert box_agreement([words], [np.concatenate([words, [[50, 50, 60, 60]]])]) == pytest.approx(0.8)  # one invented
    # Two candidates over one word: only one may claim it.
    assert box_agreement([words[:1]], [np.repeat(words[:1], 2, axis=0)]) == pytest.approx(2 / 3)
    assert box_agreement([np.zeros((0, 4))], [np.zeros((0, 4))]) == 1.0
    figures = GateFigures(0.9, 0.5, 1.0, box_agreement=0.5)
    assert failure(figures, GateThresholds(min_cosine=None, min_box_agreement=0.9)) == "box agreement 0.500 < 0.9"
    unmeasured = failure(GateFigures(1.0, 0.0, 1.0), GateThresholds(min_box_agreement=0.9))
    assert unmeasured is not None and "no box agreement measured" in unmeasured
