"""Model outputs -> plain results in source-frame pixels.

Three decoders, chosen by the config's `kind`: classification top-k, PaddleOCR's DB text
detector decoder, and thresholded + NMS'd boxes for single-shot detectors. Each takes
the outputs of ONE request (leading batch dim 1) and the preprocessing Transform.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np
import pyclipper

from protos.errors import ErrorCode, InvalidInputError, SwitchyardError
from service.vision.config import BoxDetectionConfig, ClassificationConfig, DbTextConfig
from service.vision.preprocess import Transform

Point = tuple[float, float]


@dataclass(frozen=True, slots=True)
class Detection:
    box: tuple[float, float, float, float]  # x1, y1, x2, y2 in source pixels
    score: float
    label: str
    class_id: int = 0
    polygon: tuple[Point, ...] | None = None  # source pixels, clockwise from top-left


@dataclass(frozen=True, slots=True)
class Classification:
    label: str
    index: int
    score: float


class Postprocessor(Protocol):
    def __call__(
        self, outputs: Mapping[str, np.ndarray], transform: Transform
    ) -> list[Detection] | list[Classification]: ...


def make_postprocessor(
    config: ClassificationConfig | DbTextConfig | BoxDetectionConfig,
    model_dir: Path | None = None,
) -> Postprocessor:
    """Build the decoder for `config`; labels files resolve against `model_dir`."""
    if isinstance(config, DbTextConfig):
        return DbTextDecoder(config)
    labels = load_labels(config.labels_file, model_dir) if config.labels_file else None
    if isinstance(config, ClassificationConfig):
        return ClassificationDecoder(config, labels)
    return BoxDetectionDecoder(config, labels)


def load_labels(path: str | Path, model_dir: Path | None = None) -> list[str]:
    """One label per line; blank trailing lines are ignored, inner ones kept (ids stay aligned)."""
    full = Path(path) if model_dir is None else Path(model_dir) / path
    try:
        lines = full.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise SwitchyardError(f"labels_file {str(path)!r}: {exc.strerror}", ErrorCode.FAILED_PRECONDITION) from None
    while lines and not lines[-1].strip():
        lines.pop()
    return [line.strip() for line in lines]


def _output(outputs: Mapping[str, np.ndarray], name: str | None) -> np.ndarray:
    if name is None:
        if not outputs:
            raise SwitchyardError("model returned no outputs", ErrorCode.INTERNAL)
        array = next(iter(outputs.values()))
    else:
        try:
            array = outputs[name]
        except KeyError:
            raise SwitchyardError(
                f"postprocess output {name!r} not among model outputs {sorted(outputs)}",
                ErrorCode.FAILED_PRECONDITION,
            ) from None
    if array.ndim < 2 or array.shape[0] != 1:
        raise SwitchyardError(
            f"postprocess expects one request's output with batch dim 1, got shape {array.shape}",
            ErrorCode.FAILED_PRECONDITION,
        )
    return array[0]


def _label(labels: Sequence[str] | None, index: int) -> str:
    return labels[index] if labels is not None and 0 <= index < len(labels) else str(index)


# ---------------------------------------------------------------- classification


class ClassificationDecoder:
    def __init__(self, config: ClassificationConfig, labels: Sequence[str] | None = None) -> None:
        self.config, self.labels = config, labels

    def __call__(self, outputs: Mapping[str, np.ndarray], transform: Transform | None = None) -> list[Classification]:
        scores = _output(outputs, self.config.output_name).reshape(-1).astype(np.float32)
        return top_k(scores, self.config.top_k, self.labels, self.config.softmax, self.config.min_score)


def top_k(
    scores: np.ndarray,
    k: int,
    labels: Sequence[str] | None = None,
    softmax: bool = False,
    min_score: float = 0.0,
) -> list[Classification]:
    """Best k classes, highest first; argpartition keeps it O(C) for large label sets."""
    if softmax:
        shifted = np.exp(scores - scores.max())
        scores = shifted / shifted.sum()
    k = min(k, scores.size)
    best = np.argpartition(-scores, k - 1)[:k]
    best = best[np.argsort(-scores[best], kind="stable")]
    return [Classification(_label(labels, int(i)), int(i), float(scores[i])) for i in best if scores[i] >= min_score]


# ---------------------------------------------------------------- DB text detection


class DbTextDecoder:
    """PaddleOCR's DBPostProcess (quad boxes): binarise, contour, score, unclip, re-box."""

    def __init__(self, config: DbTextConfig) -> None:
        self.config = config

    def __call__(self, outputs: Mapping[str, np.ndarray], transform: Transform) -> list[Detection]:
        prob = _output(outputs, self.config.output_name)
        if prob.ndim == 3:
            prob = prob[0]  # [1, H, W]: the single probability channel
        if prob.ndim != 2:
            raise SwitchyardError(f"db_text expects a [1,1,H,W] map, got {prob.shape}", ErrorCode.FAILED_PRECONDITION)
        quads, scores = db_boxes(prob.astype(np.float32, copy=False), self.config)
        if not len(quads):
            return []
        # The map may be smaller than the model input (stride); scale to input pixels first.
        map_h, map_w = prob.shape
        quads = quads * np.array([transform.input_width / map_w, transform.input_height / map_h], np.float32)
        src = transform.to_source(quads)
        lo, hi = src.min(axis=1), src.max(axis=1)
        return [
            Detection(
                box=(float(lo[i, 0]), float(lo[i, 1]), float(hi[i, 0]), float(hi[i, 1])),
                score=float(scores[i]),
                label=self.config.label,
                polygon=tuple((float(x), float(y)) for x, y in src[i]),
            )
            for i in range(len(src))
        ]


def db_boxes(prob: np.ndarray, config: DbTextConfig) -> tuple[np.ndarray, np.ndarray]:
    """Quads [K, 4, 2] (map pixels, clockwise from top-left) and their mean probabilities [K]."""
    bitmap: np.ndarray = (prob > config.thresh).astype(np.uint8)
    if config.use_dilation:
        bitmap = cv2.dilate(bitmap, np.ones((2, 2), np.uint8))
    contours, _ = cv2.findContours(bitmap, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
    quads, scores = [], []
    # One iteration per text candidate (tens per frame), each a handful of OpenCV calls.
    for contour in contours[: config.max_candidates]:
        points, short_side = _mini_box(contour)
        if short_side < config.min_size:
            continue
        score = _score_fast(prob, points) if config.score_mode == "fast" else _score_slow(prob, contour)
        if score < config.box_thresh:
            continue
        expanded = _unclip(points, config.unclip_ratio)
        if expanded is None:
            continue
        box, short_side = _mini_box(expanded)
        if short_side < config.min_size + 2:
            continue
        quads.append(box)
        scores.append(score)
    if not quads:
        return np.zeros((0, 4, 2), np.float32), np.zeros((0,), np.float32)
    return np.stack(quads).astype(np.float32), np.asarray(scores, np.float32)


def _mini_box(contour: np.ndarray) -> tuple[np.ndarray, float]:
    """Minimum-area rectangle as 4 points ordered top-left, top-right, bottom-right, bottom-left."""
    rect = cv2.minAreaRect(contour)
    pts = cv2.boxPoints(rect)
    pts = pts[np.argsort(pts[:, 0], kind="stable")]
    left = pts[:2][np.argsort(pts[:2, 1], kind="stable")]
    right = pts[2:][np.argsort(pts[2:, 1], kind="stable")]
    return np.array([left[0], right[0], right[1], left[1]], np.float32), min(rect[1])


def _score_fast(prob: np.ndarray, box: np.ndarray) -> float:
    """Mean probability inside the box polygon (evaluated on its bounding crop only)."""
    h, w = prob.shape
    xmin, ymin = np.clip(np.floor(box.min(axis=0)).astype(int), 0, [w - 1, h - 1])
    xmax, ymax = np.clip(np.ceil(box.max(axis=0)).astype(int), 0, [w - 1, h - 1])
    mask = np.zeros((ymax - ymin + 1, xmax - xmin + 1), np.uint8)
    cv2.fillPoly(mask, [(box - [xmin, ymin]).astype(np.int32)], 1)
    return cv2.mean(prob[ymin : ymax + 1, xmin : xmax + 1], mask)[0]


def _score_slow(prob: np.ndarray, contour: np.ndarray) -> float:
    """Mean probability inside the contour itself (slower, tighter on curved text)."""
    return _score_fast(prob, contour.reshape(-1, 2).astype(np.float32))


def _unclip(box: np.ndarray, ratio: float) -> np.ndarray | None:
    """Grow the shrunk text kernel back out by area * ratio / perimeter (the DB paper's D')."""
    x, y = box[:, 0], box[:, 1]
    area = 0.5 * abs(float(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1))))
    perimeter = float(np.linalg.norm(box - np.roll(box, 1, axis=0), axis=1).sum())
    if perimeter == 0:
        return None
    offset = pyclipper.PyclipperOffset()
    offset.AddPath(box.tolist(), pyclipper.JT_ROUND, pyclipper.ET_CLOSEDPOLYGON)
    paths = offset.Execute(area * ratio / perimeter)
    if len(paths) != 1:  # split or vanished: not one text line
        return None
    return np.asarray(paths[0], np.float32).reshape(-1, 1, 2)


# ---------------------------------------------------------------- box detection


class BoxDetectionDecoder:
    def __init__(self, config: BoxDetectionConfig, labels: Sequence[str] | None = None) -> None:
        self.config, self.labels = config, labels

    def __call__(self, outputs: Mapping[str, np.ndarray], transform: Transform) -> list[Detection]:
        cfg = self.config
        boxes, class_scores = self._raw(outputs)
        class_ids = class_scores.argmax(axis=1)
        scores = np.take_along_axis(class_scores, class_ids[:, None], axis=1)[:, 0]
        keep = scores >= cfg.score_threshold
        boxes, scores, class_ids = _to_xyxy(boxes[keep], cfg.box_format), scores[keep], class_ids[keep]
        if cfg.normalized:
            boxes = boxes * np.array([transform.input_width, transform.input_height] * 2, np.float32)
        nms_boxes = boxes
        if not cfg.class_agnostic and len(boxes):
            # Shift each class into its own region so one NMS pass never mixes classes.
            nms_boxes = boxes + (class_ids * (float(np.abs(boxes).max()) + 1.0))[:, None]
        kept = nms(nms_boxes, scores, cfg.iou_threshold, cfg.max_detections)
        src = transform.boxes_to_source(boxes[kept])
        return [
            Detection(
                box=(float(b[0]), float(b[1]), float(b[2]), float(b[3])),
                score=float(scores[i]),
                label=_label(self.labels, int(class_ids[i])),
                class_id=int(class_ids[i]),
            )
            for b, i in zip(src, kept, strict=True)
        ]

    def _raw(self, outputs: Mapping[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        cfg = self.config
        if cfg.boxes_output is not None:
            boxes = _output(outputs, cfg.boxes_output)
            scores = _output(outputs, cfg.scores_output)
            if scores.ndim == 1:
                scores = scores[:, None]
        else:
            rows = _output(outputs, cfg.output_name)
            if cfg.transposed:
                rows = rows.T
            boxes, scores = rows[:, :4], rows[:, 4:]
            if cfg.objectness:
                scores = scores[:, 1:] * scores[:, :1]
        if boxes.ndim != 2 or boxes.shape[1] != 4 or scores.ndim != 2 or len(scores) != len(boxes):
            raise SwitchyardError(
                f"box_detection: cannot read boxes {boxes.shape} / scores {scores.shape} as [K,4] / [K,C]",
                ErrorCode.FAILED_PRECONDITION,
            )
        return boxes.astype(np.float32, copy=False), scores.astype(np.float32, copy=False)


def _to_xyxy(boxes: np.ndarray, box_format: str) -> np.ndarray:
    a, b, c, d = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]
    if box_format == "xyxy":
        cols = (a, b, c, d)
    elif box_format == "yxyx":
        cols = (b, a, d, c)
    elif box_format == "xywh":
        cols = (a, b, a + c, b + d)
    else:  # cxcywh
        cols = (a - c / 2, b - d / 2, a + c / 2, b + d / 2)
    return np.stack(cols, axis=1).astype(np.float32) if len(boxes) else np.zeros((0, 4), np.float32)


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float, max_output: int) -> np.ndarray:
    """Greedy non-maximum suppression; indices of kept boxes, best first.

    One vectorised IoU row per kept box, so the Python loop runs at most max_output times.
    """
    if iou_threshold < 0 or not np.isfinite(iou_threshold):
        raise InvalidInputError(f"iou_threshold must be a number >= 0, got {iou_threshold}")
    order = np.argsort(-scores, kind="stable")
    x1, y1, x2, y2 = (boxes[:, i] for i in range(4))
    areas = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    keep: list[int] = []
    while order.size and len(keep) < max_output:
        best, rest = order[0], order[1:]
        keep.append(int(best))
        w = np.clip(np.minimum(x2[best], x2[rest]) - np.maximum(x1[best], x1[rest]), 0, None)
        h = np.clip(np.minimum(y2[best], y2[rest]) - np.maximum(y1[best], y1[rest]), 0, None)
        inter = w * h
        iou = inter / np.maximum(areas[best] + areas[rest] - inter, 1e-9)
        order = rest[iou <= iou_threshold]
    return np.asarray(keep, np.int64)
