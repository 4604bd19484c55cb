"""Annotation draws where the results are, in their class colour, without touching the input."""

from __future__ import annotations

import numpy as np
import pytest

from service.vision.annotate import annotate, color_for
from service.vision.postprocess import Classification, Detection

GREY = 128


def _frame(h: int = 240, w: int = 320) -> np.ndarray:
    return np.full((h, w, 3), GREY, np.uint8)


def test_box_outline_and_label_use_the_class_colour() -> None:
    frame = _frame()
    out = annotate(frame, [Detection((100, 100, 200, 180), 0.9, "car", class_id=2)])
    colour = np.array(color_for(2))
    assert (out[140, 100] == colour).all() and (out[180, 150] == colour).all()  # left and bottom edges
    assert (out[140, 150] == GREY).all()  # the inside stays visible
    label_padding = out[99, 100:125]  # the filled label sits just above the box (text-free row)
    assert (label_padding == colour).all()
    label = out[85:99, 100:125]
    assert (label == 255).all(axis=2).any()  # white text: green fill is dark enough
    assert (frame == GREY).all()  # the caller's frame is untouched


def test_polygons_are_drawn_instead_of_boxes() -> None:
    quad = ((50.0, 60.0), (150.0, 40.0), (160.0, 90.0), (60.0, 110.0))
    out = annotate(_frame(), [Detection((50, 40, 160, 110), 0.8, "text", polygon=quad)], show_scores=False)
    assert (out[60, 50] != GREY).any()  # a polygon corner
    assert (out[110, 160] == GREY).all()  # the axis-aligned box's corner is not drawn


def test_overlay_darkens_the_corner_and_writes_white_text() -> None:
    out = annotate(_frame(), classifications=[Classification("cat", 0, 0.93)], fps=25.0, latency_ms=38.2)
    panel = out[5:50, 5:60]
    assert (panel < GREY).any() and (panel == 255).any()
    assert (out[200:, 200:] == GREY).all()  # nothing drawn elsewhere


def test_in_place_drawing_and_label_clamped_inside_the_frame() -> None:
    frame = _frame()
    result = annotate(frame, [Detection((300, 0, 319, 20), 0.5, "edge-case")], copy=False)
    assert result is frame and (frame != GREY).any()


def test_lines_thicken_on_large_frames() -> None:
    det = [Detection((400, 400, 800, 800), 0.9, "x")]
    small = annotate(_frame(), [Detection((100, 100, 200, 200), 0.9, "x")])
    big = annotate(_frame(1080, 1920), det)
    assert (big[600, 395:410] != GREY).any(axis=1).sum() > (small[150, 95:110] != GREY).any(axis=1).sum()


def test_rejects_non_rgb() -> None:
    with pytest.raises(ValueError, match="RGB uint8"):
        annotate(np.zeros((4, 4), np.uint8))


def test_client_and_server_results_draw_alike() -> None:
    """The stream CLI draws the video client's decoded replies; the server draws postprocess results."""
    from clients.video import Classification as ClientClassification
    from clients.video import Detection as ClientDetection

    quad = ((50.0, 40.0), (160.0, 45.0), (155.0, 110.0), (45.0, 105.0))
    server = annotate(
        _frame(), [Detection((45, 40, 160, 110), 0.8, "text", 1, quad)], [Classification("cat", 0, 0.93)], fps=25.0
    )
    client = annotate(
        _frame(),
        [ClientDetection((45, 40, 160, 110), 0.8, "text", 1, quad)],
        [ClientClassification("cat", 0, 0.93)],
        fps=25.0,
    )
    assert (server != GREY).any() and (server == client).all()
