from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

TINY_CNN = Path(__file__).resolve().parents[3] / "model_repository" / "tiny_cnn" / "1" / "model.onnx"


@pytest.fixture
def tiny_cnn() -> Path:
    if not TINY_CNN.is_file():
        pytest.skip("model_repository/tiny_cnn missing: run scripts/fetch_models.py")
    return TINY_CNN


@pytest.fixture
def calibration_samples() -> list[dict[str, np.ndarray]]:
    # Smooth image-like inputs (not white noise) so activation ranges resemble real data.
    rng = np.random.default_rng(7)
    base = rng.random((16, 3, 8, 8), dtype=np.float32)
    images = np.repeat(np.repeat(base, 8, axis=2), 8, axis=3)
    return [{"input": images[i : i + 1]} for i in range(len(images))]
