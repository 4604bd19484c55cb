"""Helpers shared by the StreamVideo tests (no tests here): scenes with known text boxes, IoU."""

from __future__ import annotations

import numpy as np

from tests.fixtures.vision.scenes import text_scene


def scene(i: int, speed: tuple[int, int] = (6, 3), width: int = 640, height: int = 480):
    """Frame i of a clip whose words move by `speed` pixels per frame; (image, truth boxes)."""
    return text_scene(width, height, shift=(speed[0] * i, speed[1] * i))


def iou(a, b) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def finds_all_words(boxes, truth, min_iou: float = 0.5) -> bool:
    """Every drawn word is overlapped by some detection."""
    return all(any(iou(box, word) >= min_iou for box in boxes) for word in truth)


def raw_rgb(image: np.ndarray) -> bytes:
    return np.ascontiguousarray(image).tobytes()
