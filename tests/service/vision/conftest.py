"""Shared fixtures: the real PP-OCRv4 text detector, when it has been fetched."""

from __future__ import annotations

from pathlib import Path

import pytest

TEXT_DETECTOR = Path(__file__).parents[3] / "model_repository" / "text_detection" / "1" / "model.onnx"


@pytest.fixture(scope="session")
def text_detector_session():
    """An ONNX Runtime session on PP-OCRv4's detector (input `x` [N,3,H,W])."""
    if not TEXT_DETECTOR.is_file():
        pytest.skip(
            f"PP-OCRv4 text detector not fetched ({TEXT_DETECTOR.relative_to(TEXT_DETECTOR.parents[3])} "
            "is missing; run scripts/fetch_models.py)"
        )
    ort = pytest.importorskip("onnxruntime")
    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    return ort.InferenceSession(str(TEXT_DETECTOR), options, providers=["CPUExecutionProvider"])
