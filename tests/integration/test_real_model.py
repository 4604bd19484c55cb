"""The real PP-OCRv4 text detector through the server: text that a test drew is found, on both backends."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import require_text_detection
from tests.fixtures.vision.scenes import text_scene

MEAN = np.array([0.485, 0.456, 0.406], np.float32)
STD = np.array([0.229, 0.224, 0.225], np.float32)


def ppocr_input(rgb: np.ndarray) -> np.ndarray:
    """PaddleOCR's detector preprocessing: BGR, /255, ImageNet mean/std, NCHW."""
    bgr = rgb[:, :, ::-1].astype(np.float32) / 255.0
    return ((bgr - MEAN) / STD).transpose(2, 0, 1)[None].copy()


def inside_mask(shape, boxes) -> np.ndarray:
    mask = np.zeros(shape, bool)
    for x1, y1, x2, y2 in boxes:
        mask[int(y1) : int(y2) + 1, int(x1) : int(x2) + 1] = True
    return mask


@pytest.fixture(scope="module")
def scene():
    require_text_detection()
    image, boxes = text_scene(shift=(7, 11))
    return ppocr_input(image), boxes


@pytest.mark.parametrize("model", ["text_detection", "text_detection_ov"])
async def test_detector_fires_inside_drawn_text_only(running, scene, model):
    x, boxes = scene
    out = await running.client.predict(model, {"x": x})
    (prob,) = out.values()
    assert prob.shape == (1, 1, 480, 640)
    prob = prob[0, 0]
    inside = inside_mask(prob.shape, boxes)
    # Every drawn word is covered by the (shrunk, as DB maps are) text kernel ...
    for x1, y1, x2, y2 in boxes:
        word = prob[int(y1) : int(y2), int(x1) : int(x2)]
        assert (word > 0.3).mean() > 0.25, f"word box {(x1, y1, x2, y2)} not detected"
    # ... and the map stays quiet away from the text (a 12-pixel margin for the halo).
    grown = inside_mask(prob.shape, [(a - 12, b - 12, c + 12, d + 12) for a, b, c, d in boxes])
    assert (prob[~grown] > 0.3).mean() < 0.01
    assert prob[inside].mean() > 5 * prob[~grown].mean()


async def test_onnxruntime_and_openvino_agree(running, scene):
    x, _ = scene
    ort = await running.client.predict("text_detection", {"x": x})
    ov = await running.client.predict("text_detection_ov", {"x": x})
    (a,), (b,) = ort.values(), ov.values()
    np.testing.assert_allclose(a, b, atol=5e-4)


async def test_tiny_model_parity_between_backends(running):
    rng = np.random.default_rng(0)
    a = rng.normal(size=(3, 4)).astype(np.float32)
    b = rng.normal(size=(3, 4)).astype(np.float32)
    ort = await running.client.predict("add", {"a": a, "b": b})
    ov = await running.client.predict("add_ov", {"a": a, "b": b})
    for name in ("sum", "diff"):
        np.testing.assert_allclose(ort[name], ov[name], atol=1e-6)
