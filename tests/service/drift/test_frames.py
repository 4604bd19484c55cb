"""Frame statistics: exact against numpy on the same frames, and moving the way a bad camera moves them."""

from __future__ import annotations

import random

import cv2
import numpy as np
import pytest

from service.drift.frames import BLUR, BLUR_SIDE, BRIGHTNESS, CONTRAST, frame_statistics
from service.drift.monitor import DriftMonitor, VersionDrift
from service.drift.profile import Profile
from service.repository.config import DriftConfig


def picture(rng: np.random.Generator, height: int = 240, width: int = 320) -> np.ndarray:
    """Rectangles of random grey levels on a mid-grey ground: sharp edges and a spread of values."""
    image = np.full((height, width, 3), 150, np.uint8)
    for _ in range(12):
        y, x = rng.integers(0, height - 20), rng.integers(0, width - 20)
        h, w = rng.integers(5, 60), rng.integers(5, 60)
        image[y : y + h, x : x + w] = rng.integers(90, 210, 3)
    return image


def numpy_laplacian_variance(gray: np.ndarray) -> float:
    """[[0,1,0],[1,-4,1],[0,1,0]] with reflect-101 borders (OpenCV's default), in float64."""
    padded = np.pad(gray.astype(np.float64), 1, mode="reflect")
    lap = padded[:-2, 1:-1] + padded[2:, 1:-1] + padded[1:-1, :-2] + padded[1:-1, 2:] - 4 * padded[1:-1, 1:-1]
    return float(lap.var())


def values(frame: np.ndarray) -> tuple[float, float, float]:
    stats = frame_statistics(frame)
    return stats[BRIGHTNESS][0, 0], stats[CONTRAST][0, 0], stats[BLUR][0, 0]


def test_statistics_equal_numpy_on_the_same_luma():
    frame = picture(np.random.default_rng(0))
    brightness, contrast, blur = values(frame)
    gray = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
    assert brightness == pytest.approx(gray.mean(), abs=1e-9)
    assert contrast == pytest.approx(gray.std(), abs=1e-9)
    assert blur == pytest.approx(numpy_laplacian_variance(gray), rel=1e-12)
    # OpenCV's rounded luma is BT.601's, within half a grey level.
    exact = frame.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    assert abs(brightness - exact.mean()) < 0.5
    assert abs(contrast - exact.std()) < 0.5


def test_a_large_frame_is_measured_for_blur_at_the_reduced_size():
    frame = picture(np.random.default_rng(1), 480, 640)  # twice BLUR_SIDE: 2x2 area averages
    _, _, blur = values(frame)
    gray = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY).astype(np.int64)
    small = gray.reshape(240, 2, BLUR_SIDE, 2).sum(axis=(1, 3))
    rounded = (small + 2) // 4  # OpenCV's fixed-point rounding of the 2x2 mean
    assert blur == pytest.approx(numpy_laplacian_variance(rounded), rel=1e-3)


def test_darkening_moves_brightness_only_and_blurring_lowers_the_blur_measure():
    frame = picture(np.random.default_rng(2))
    brightness, contrast, blur = values(frame)
    dark = values(frame - np.uint8(80))  # every value is >= 90: a pure shift
    assert dark[0] == pytest.approx(brightness - 80, abs=0.5)
    assert dark[1] == pytest.approx(contrast, abs=0.5)
    assert dark[2] == pytest.approx(blur, rel=0.02)
    blurred = values(cv2.GaussianBlur(frame, (0, 0), 3))
    assert blurred[2] < blur / 10
    assert blurred[0] == pytest.approx(brightness, abs=1.0)
    assert values(np.full((50, 60, 3), 77, np.uint8)) == (77.0, 0.0, 0.0)


@pytest.mark.parametrize("shape", [(40, 60), (40, 60, 1), (40, 60, 4)])
def test_grey_and_rgba_frames(shape):
    frame = np.random.default_rng(3).integers(0, 256, shape, dtype=np.uint8)
    brightness, _, _ = values(frame)
    gray = frame if len(shape) == 2 else frame[:, :, 0] if shape[2] == 1 else cv2.cvtColor(frame, cv2.COLOR_RGBA2GRAY)
    assert brightness == pytest.approx(gray.mean(), abs=1e-9)


def test_sampled_frames_reach_the_version_on_the_monitors_thread():
    rng = np.random.default_rng(4)
    reference = Profile()
    for _ in range(800):
        reference.add_frame(frame_statistics(picture(rng, 60, 80)))
    assert Profile.from_json(reference.to_json()).frames.keys() == {BRIGHTNESS, CONTRAST, BLUR}
    monitor = DriftMonitor(rng=random.Random(0))
    try:
        tracker = VersionDrift("m", 1, DriftConfig(sample_rate=0.5, window=400), reference)
        observer = monitor.observer(tracker)
        for _ in range(1000):
            observer.frame(picture(rng, 60, 80) - np.uint8(80))
        monitor.flush()
        # flush() rescores the versions the monitor tracks; this one was built by hand (the worker is idle now).
        tracker.rescore()
        assert 420 < tracker.frames_sampled < 580 and tracker.sampled == 0
        scores = {s.tensor: s.psi for s in tracker.scores}
        assert scores[BRIGHTNESS] > 0.2 and scores[CONTRAST] < 0.2 and scores[BLUR] < 0.2
        assert tracker.drifting
    finally:
        monitor.close()


def test_a_baseline_from_traffic_takes_the_frame_statistics_too():
    rng = np.random.default_rng(5)
    tracker = VersionDrift("m", 1, DriftConfig(sample_rate=1.0, window=300, baseline_requests=400), None)
    for _ in range(400):  # each frame of a stream is one request as well
        tracker.update_frame(frame_statistics(picture(rng, 60, 80)))
        tracker.update({"x": np.zeros((1, 2))}, {})
    assert tracker.reference is not None and set(tracker.reference.frames) == {BRIGHTNESS, CONTRAST, BLUR}
    assert tracker.reference.frames[BRIGHTNESS].features[0].count == 400
    for _ in range(300):
        tracker.update_frame(frame_statistics(cv2.GaussianBlur(picture(rng, 60, 80), (0, 0), 3)))
    tracker.rescore()
    scores = {s.tensor: s.psi for s in tracker.scores}
    assert scores[BLUR] > 0.2 and scores[BRIGHTNESS] < 0.2
