"""Postprocess decoders on hand-built outputs whose right answers are known."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from protos.errors import ErrorCode, SwitchyardError
from service.vision.config import BoxDetectionConfig, ClassificationConfig, DbTextConfig
from service.vision.postprocess import (
    Classification,
    Detection,
    db_boxes,
    load_labels,
    make_postprocessor,
    nms,
    top_k,
)
from service.vision.preprocess import Transform

FIXTURES = Path(__file__).parents[2] / "fixtures" / "vision"
IDENTITY = Transform(100, 100, 100, 100, 1.0, 1.0)


def _iou(a, b) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


# ---------------------------------------------------------------- classification


def test_top_k_with_labels_file() -> None:
    post = make_postprocessor(ClassificationConfig(kind="classification", top_k=2, labels_file="labels.txt"), FIXTURES)
    out = post({"probs": np.array([[0.1, 0.2, 0.6, 0.05, 0.05]], np.float32)}, IDENTITY)
    assert out == [Classification("bird", 2, pytest.approx(0.6)), Classification("dog", 1, pytest.approx(0.2))]


def test_top_k_softmax_min_score_and_unlabelled_indices() -> None:
    logits = np.array([0.0, 3.0, 1.0, 0.0, 0.0, 2.0, 0.0], np.float32)
    out = top_k(logits, 3, labels=["a", "b", "c"], softmax=True, min_score=0.15)
    assert [c.index for c in out] == [1, 5]  # index 2 falls under min_score after softmax
    assert out[1].label == "5"  # past the end of the labels: the index stands in
    assert sum(np.exp(logits) / np.exp(logits).sum()) == pytest.approx(1.0)
    assert out[0].score == pytest.approx(np.exp(3) / np.exp(logits).sum(), rel=1e-5)


def test_top_k_accepts_nchw_shaped_scores_and_large_k() -> None:
    post = make_postprocessor(ClassificationConfig(kind="classification", top_k=50))
    out = post({"y": np.array([0.3, 0.7], np.float32).reshape(1, 2, 1, 1)}, IDENTITY)
    assert [(c.label, c.index) for c in out] == [("1", 1), ("0", 0)]


def test_missing_labels_file_is_a_precondition_error() -> None:
    with pytest.raises(SwitchyardError, match="nope.txt") as info:
        load_labels("nope.txt", FIXTURES)
    assert info.value.code is ErrorCode.FAILED_PRECONDITION


def test_wrong_output_name_lists_the_real_ones() -> None:
    post = make_postprocessor(ClassificationConfig(kind="classification", output_name="logits"))
    with pytest.raises(SwitchyardError, match=r"'logits' not among model outputs \['probs'\]"):
        post({"probs": np.zeros((1, 3), np.float32)}, IDENTITY)


def test_batched_output_is_refused() -> None:
    post = make_postprocessor(ClassificationConfig(kind="classification"))
    with pytest.raises(SwitchyardError, match="batch dim 1"):
        post({"probs": np.zeros((2, 3), np.float32)}, IDENTITY)


# ---------------------------------------------------------------- NMS and box detection


def _brute_force_nms(boxes: np.ndarray, scores: np.ndarray, thr: float) -> list[int]:
    keep: list[int] = []
    for i in sorted(range(len(scores)), key=lambda j: -scores[j]):
        if all(_iou(boxes[i], boxes[k]) <= thr for k in keep):
            keep.append(i)
    return keep


def test_nms_matches_brute_force_on_random_boxes() -> None:
    rng = np.random.default_rng(11)
    xy = rng.uniform(0, 200, (300, 2))
    wh = rng.uniform(10, 60, (300, 2))
    boxes = np.concatenate([xy, xy + wh], axis=1).astype(np.float32)
    scores = rng.uniform(0, 1, 300).astype(np.float32)
    for thr in (0.1, 0.45, 0.8):
        assert nms(boxes, scores, thr, 1000).tolist() == _brute_force_nms(boxes, scores, thr)
    assert len(nms(boxes, scores, 0.45, 5)) == 5


def test_nms_of_nothing_is_empty() -> None:
    assert nms(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), 0.5, 10).shape == (0,)


def test_box_detection_split_outputs_class_aware_nms_and_mapping() -> None:
    cfg = BoxDetectionConfig(
        kind="box_detection", boxes_output="boxes", scores_output="scores", labels_file="labels.txt"
    )
    boxes = np.array([[[10, 10, 50, 50], [12, 12, 52, 52], [12, 12, 52, 52], [60, 60, 90, 90]]], np.float32)
    scores = np.array([[[0.9, 0.0], [0.8, 0.0], [0.0, 0.7], [0.3, 0.1]]], np.float32)
    # Model input was a 2x letterbox of a 50x40 source with 10 px of padding on top.
    tf = Transform(50, 40, 100, 100, 2.0, 2.0, 0.0, 10.0)
    out = make_postprocessor(cfg, FIXTURES)({"scores": scores, "boxes": boxes}, tf)
    # Same-class overlap suppressed, other class kept, low score dropped.
    assert [(d.label, d.class_id) for d in out] == [("cat", 0), ("dog", 1)]
    assert out[0].box == pytest.approx((5.0, 0.0, 25.0, 20.0))
    assert out[0].score == pytest.approx(0.9) and out[0].polygon is None


def test_class_agnostic_nms_suppresses_across_classes() -> None:
    cfg = BoxDetectionConfig(kind="box_detection", boxes_output="b", scores_output="s", class_agnostic=True)
    boxes = np.array([[[10, 10, 50, 50], [12, 12, 52, 52]]], np.float32)
    scores = np.array([[[0.9, 0.0], [0.0, 0.8]]], np.float32)
    assert len(make_postprocessor(cfg)({"b": boxes, "s": scores}, IDENTITY)) == 1


@pytest.mark.parametrize(
    ("fmt", "row"),
    [("xyxy", [20, 10, 60, 30]), ("xywh", [20, 10, 40, 20]), ("cxcywh", [40, 20, 40, 20]), ("yxyx", [10, 20, 30, 60])],
)
def test_box_formats_all_decode_to_the_same_box(fmt: str, row: list[float]) -> None:
    cfg = BoxDetectionConfig(kind="box_detection", box_format=fmt)
    rows = np.array([[row + [0.9]]], np.float32)  # single output: [1, K, 4 + C]
    (det,) = make_postprocessor(cfg)({"out": rows}, IDENTITY)
    assert det.box == pytest.approx((20, 10, 60, 30))


def test_yolo_style_transposed_normalised_with_objectness() -> None:
    cfg = BoxDetectionConfig(
        kind="box_detection", box_format="cxcywh", normalized=True, objectness=True, transposed=True,
        score_threshold=0.5,
    )  # fmt: skip
    # [1, 4 + 1 + C, K] with K = 2 candidates, C = 2 classes.
    rows = np.array([[0.5, 0.5, 0.2, 0.2, 0.9, 0.1, 0.9], [0.2, 0.2, 0.1, 0.1, 0.4, 0.9, 0.1]], np.float32)
    (det,) = make_postprocessor(cfg)({"out": rows.T[None]}, IDENTITY)  # second: 0.4 * 0.9 < 0.5
    assert det.class_id == 1 and det.score == pytest.approx(0.81)
    assert det.box == pytest.approx((40, 40, 60, 60))


def test_box_detection_rejects_unreadable_shapes() -> None:
    cfg = BoxDetectionConfig(kind="box_detection", boxes_output="b", scores_output="s")
    with pytest.raises(SwitchyardError, match="cannot read boxes"):
        make_postprocessor(cfg)({"b": np.zeros((1, 5, 3)), "s": np.zeros((1, 5, 2))}, IDENTITY)


# ---------------------------------------------------------------- DB text


def _prob_map(rects: list[tuple[int, int, int, int]], shape=(96, 128), value=0.9) -> np.ndarray:
    prob = np.full(shape, 0.02, np.float32)
    for x1, y1, x2, y2 in rects:
        prob[y1:y2, x1:x2] = value
    return prob


def test_db_boxes_finds_and_unclips_each_region() -> None:
    prob = _prob_map([(10, 10, 60, 20), (70, 50, 120, 70)])
    quads, scores = db_boxes(prob, DbTextConfig(kind="db_text"))
    assert quads.shape == (2, 4, 2) and np.all(scores > 0.8)
    for x1, y1, x2, y2 in [(10, 10, 60, 20), (70, 50, 120, 70)]:
        q = quads[np.argmin([abs(q[:, 0].min() - x1) for q in quads])]
        # Unclip grows the shrunk kernel: the quad encloses the region with a margin.
        assert q[:, 0].min() < x1 and q[:, 1].min() < y1 and q[:, 0].max() > x2 - 1 and q[:, 1].max() > y2 - 1
        assert q[:, 0].min() > x1 - 12 and q[:, 1].min() > y1 - 12
        # Clockwise from top-left.
        assert q[0, 0] < q[1, 0] and q[1, 1] < q[2, 1] and q[3, 0] < q[2, 0]


def test_db_thresholds_filter_candidates() -> None:
    prob = _prob_map([(10, 10, 60, 20)], value=0.5)  # text, but only 0.5 confident
    prob[40:42, 40:42] = 0.9  # a 2 px speck: below min_size
    cfg = DbTextConfig(kind="db_text")
    assert len(db_boxes(prob, cfg)[0]) == 0  # box_thresh 0.6 > 0.5
    assert len(db_boxes(prob, cfg.model_copy(update={"box_thresh": 0.4}))[0]) == 1
    assert len(db_boxes(prob, cfg.model_copy(update={"thresh": 0.6}))[0]) == 0
    ten = _prob_map([(i * 10, 5, i * 10 + 6, 20) for i in range(10)])
    assert len(db_boxes(ten, cfg)[0]) == 10
    assert len(db_boxes(ten, cfg.model_copy(update={"max_candidates": 3}))[0]) == 3


def test_db_decoder_maps_a_strided_map_back_to_source() -> None:
    # A map at 1/2 of a 128x96 model input made by a 2x upscale of a 64x48 source.
    tf = Transform(64, 48, 128, 96, 2.0, 2.0)
    prob = _prob_map([(8, 8, 40, 16)], shape=(48, 64))
    post = make_postprocessor(DbTextConfig(kind="db_text", unclip_ratio=0.0))
    (det,) = post({"map": prob[None, None]}, tf)
    assert isinstance(det, Detection) and det.label == "text" and len(det.polygon) == 4
    # map px -> input px is x2, input px -> source px is /2: the region comes back 1:1.
    assert det.box == pytest.approx((8, 8, 39, 15), abs=1.5)
    assert det.box[0] == min(p[0] for p in det.polygon)


def test_db_slow_score_mode_agrees_on_rectangles() -> None:
    prob = _prob_map([(10, 10, 60, 20)])
    fast = db_boxes(prob, DbTextConfig(kind="db_text"))[1]
    slow = db_boxes(prob, DbTextConfig(kind="db_text", score_mode="slow"))[1]
    assert slow == pytest.approx(fast, abs=0.05)


def test_db_empty_map_gives_no_detections() -> None:
    post = make_postprocessor(DbTextConfig(kind="db_text", use_dilation=True))
    assert post({"map": np.zeros((1, 1, 32, 32), np.float32)}, IDENTITY) == []
