"""Draw results on an RGB frame for people to look at.

Legibility rules: every label sits on a filled box in its class colour with a text colour
picked for contrast; line widths and font size scale with the frame so a 1080p frame
reads like a 480p one; the fps/latency overlay sits on a dark translucent panel.

It draws anything shaped like a detection or a classification (the Protocols below): the
server's postprocess results (benchmarks) and the video client's decoded replies (the
`switchyard stream` CLI) alike, so no client type is imported here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import cv2
import numpy as np


class DrawableDetection(Protocol):
    @property
    def box(self) -> tuple[float, float, float, float]: ...  # x1, y1, x2, y2 in frame pixels
    @property
    def score(self) -> float: ...
    @property
    def label(self) -> str: ...
    @property
    def class_id(self) -> int: ...
    @property
    def polygon(self) -> Sequence[tuple[float, float]] | None: ...  # drawn instead of the box when set


class DrawableClassification(Protocol):
    @property
    def label(self) -> str: ...
    @property
    def score(self) -> float: ...


# Tableau-style palette (RGB): distinct, saturated, readable on photos.
PALETTE: tuple[tuple[int, int, int], ...] = (
    (31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
    (140, 86, 75), (227, 119, 194), (188, 189, 34), (23, 190, 207), (255, 215, 0),
)  # fmt: skip
_FONT = cv2.FONT_HERSHEY_SIMPLEX


def color_for(class_id: int) -> tuple[int, int, int]:
    return PALETTE[class_id % len(PALETTE)]


def annotate(
    image: np.ndarray,
    detections: Sequence[DrawableDetection] = (),
    classifications: Sequence[DrawableClassification] = (),
    *,
    fps: float | None = None,
    latency_ms: float | None = None,
    show_scores: bool = True,
    copy: bool = True,
) -> np.ndarray:
    """Return the frame with boxes/polygons, labels, scores and an fps/latency overlay.

    `copy=False` draws in place (the image must be writable and contiguous).
    """
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"annotate expects an RGB uint8 HxWx3 image, got {image.dtype} {image.shape}")
    canvas = image.copy() if copy or not image.flags.writeable else image
    style = _Style(canvas.shape[0], canvas.shape[1])
    for det in detections:
        _draw_detection(canvas, det, style, show_scores)
    lines = []
    if fps is not None or latency_ms is not None:
        parts = [f"{fps:.1f} fps" if fps is not None else "", f"{latency_ms:.1f} ms" if latency_ms is not None else ""]
        lines.append("  ".join(p for p in parts if p))
    lines += [f"{c.label}  {c.score:.2f}" for c in classifications]
    if lines:
        _draw_panel(canvas, lines, style)
    return canvas


class _Style:
    """Sizes derived from the frame so overlays stay proportionate at any resolution."""

    def __init__(self, height: int, width: int) -> None:
        unit = max(min(height, width) / 480.0, 0.5)
        self.thickness = max(1, round(2 * unit))
        self.font_scale = 0.55 * unit
        self.font_thickness = max(1, round(1.5 * unit))
        self.pad = max(2, round(4 * unit))


def _text_color(fill: tuple[int, int, int]) -> tuple[int, int, int]:
    luminance = 0.299 * fill[0] + 0.587 * fill[1] + 0.114 * fill[2]
    return (0, 0, 0) if luminance > 150 else (255, 255, 255)


def _draw_detection(canvas: np.ndarray, det: DrawableDetection, style: _Style, show_score: bool) -> None:
    color = color_for(det.class_id)
    if det.polygon is not None:
        pts = np.round(np.asarray(det.polygon, np.float32)).astype(np.int32).reshape(-1, 1, 2)
        cv2.polylines(canvas, [pts], True, color, style.thickness, cv2.LINE_AA)
    else:
        x1, y1, x2, y2 = (round(v) for v in det.box)
        # Axis-aligned edges gain nothing from anti-aliasing; crisp lines keep exact colours.
        cv2.rectangle(canvas, (x1, y1), (x2, y2), color, style.thickness, cv2.LINE_8)
    text = f"{det.label} {det.score:.2f}" if show_score else det.label
    _draw_label(canvas, text, (round(det.box[0]), round(det.box[1])), color, style)


def _draw_label(
    canvas: np.ndarray, text: str, anchor: tuple[int, int], color: tuple[int, int, int], style: _Style
) -> None:
    (tw, th), baseline = cv2.getTextSize(text, _FONT, style.font_scale, style.font_thickness)
    box_h = th + baseline + 2 * style.pad
    x = min(max(anchor[0], 0), max(canvas.shape[1] - tw - 2 * style.pad, 0))
    # Above the box when there is room, otherwise just inside its top edge.
    y = anchor[1] - box_h if anchor[1] - box_h >= 0 else anchor[1]
    cv2.rectangle(canvas, (x, y), (x + tw + 2 * style.pad, y + box_h), color, cv2.FILLED)
    cv2.putText(
        canvas, text, (x + style.pad, y + style.pad + th), _FONT, style.font_scale,
        _text_color(color), style.font_thickness, cv2.LINE_AA,
    )  # fmt: skip


def _draw_panel(canvas: np.ndarray, lines: Sequence[str], style: _Style) -> None:
    sizes = [cv2.getTextSize(t, _FONT, style.font_scale, style.font_thickness) for t in lines]
    line_h = max(h + b for (_, h), b in sizes) + style.pad
    width = max(w for (w, _), _ in sizes) + 2 * style.pad
    height = line_h * len(lines) + style.pad
    x0 = y0 = style.pad
    x1, y1 = min(x0 + width, canvas.shape[1]), min(y0 + height, canvas.shape[0])
    region = canvas[y0:y1, x0:x1]
    # Darken rather than paint over, so the scene stays visible behind the numbers.
    region[:] = (region.astype(np.uint16) * 2 // 7).astype(np.uint8)
    for i, text in enumerate(lines):
        baseline_y = y0 + style.pad + (i + 1) * line_h - sizes[i][1] - style.pad // 2
        cv2.putText(
            canvas, text, (x0 + style.pad, baseline_y), _FONT, style.font_scale,
            (255, 255, 255), style.font_thickness, cv2.LINE_AA,
        )  # fmt: skip
