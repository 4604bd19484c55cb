"""The accuracy gate: a reduced-precision model serves only when its outputs agree with FP32's."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class GateThresholds:
    min_cosine: float | None = 0.99  # None: not checked
    max_abs_error: float | None = None  # None: not checked
    min_top1_agreement: float | None = None  # None: not checked
    min_box_agreement: float | None = None  # None: not checked (only detectors measure boxes)


@dataclass(frozen=True)
class GateFigures:
    """Worst case over every output of every sample."""

    cosine: float
    max_abs_error: float
    top1_agreement: float
    box_agreement: float | None = None  # F1 of post-processed boxes matched at IoU >= BOX_IOU

    def text(self) -> str:
        boxes = "" if self.box_agreement is None else f", boxes {self.box_agreement:.3f}"
        return (
            f"cosine {self.cosine:.6f}, max_abs_error {self.max_abs_error:.6g}, top1 {self.top1_agreement:.3f}{boxes}"
        )


Outputs = Mapping[str, np.ndarray]


def measure(reference: Sequence[Outputs], candidate: Sequence[Outputs]) -> GateFigures:
    """Compare each candidate output with the reference one of the same sample and name."""
    if len(reference) != len(candidate) or not reference:
        raise ValueError("the gate needs the same non-zero number of reference and candidate samples")
    cosines, errors, agree, total = [], [], 0, 0
    for ref_outputs, cand_outputs in zip(reference, candidate, strict=True):
        for name, ref in ref_outputs.items():
            a = np.asarray(ref, dtype=np.float64)
            b = np.asarray(cand_outputs[name], dtype=np.float64)
            cosines.append(_cosine(a.ravel(), b.ravel()))
            errors.append(float(np.max(np.abs(a - b))) if a.size else 0.0)
            if a.ndim >= 1 and a.size:
                # top-1 along the last axis, per row: classification agreement (a detector's map per pixel row)
                rows_a = a.reshape(-1, a.shape[-1]).argmax(axis=-1)
                rows_b = b.reshape(-1, b.shape[-1]).argmax(axis=-1)
                agree += int(np.count_nonzero(rows_a == rows_b))
                total += rows_a.size
    return GateFigures(min(cosines), max(errors), agree / total if total else 1.0)


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    na, nb = float(np.linalg.norm(a)), float(np.linalg.norm(b))
    if na == 0.0 or nb == 0.0:
        return 1.0 if na == nb else 0.0
    return float(np.dot(a, b) / (na * nb))


def failure(figures: GateFigures, thresholds: GateThresholds) -> str | None:
    """Why the figures fail the thresholds (naming the measured figure), or None when they pass."""
    problems = []
    if thresholds.min_cosine is not None and figures.cosine < thresholds.min_cosine:
        problems.append(f"cosine {figures.cosine:.6f} < min_cosine {thresholds.min_cosine}")
    if thresholds.max_abs_error is not None and figures.max_abs_error > thresholds.max_abs_error:
        problems.append(f"max_abs_error {figures.max_abs_error:.6g} > {thresholds.max_abs_error}")
    if thresholds.min_top1_agreement is not None and figures.top1_agreement < thresholds.min_top1_agreement:
        problems.append(f"top1 agreement {figures.top1_agreement:.3f} < {thresholds.min_top1_agreement}")
    if thresholds.min_box_agreement is not None:
        if figures.box_agreement is None:
            problems.append("no box agreement measured (min_box_agreement needs a detector's postprocess)")
        elif figures.box_agreement < thresholds.min_box_agreement:
            problems.append(f"box agreement {figures.box_agreement:.3f} < {thresholds.min_box_agreement}")
    return "; ".join(problems) or None


BOX_IOU = 0.5


def box_agreement(reference: Sequence[np.ndarray], candidate: Sequence[np.ndarray], iou: float = BOX_IOU) -> float:
    """F1 over all samples of boxes [K, 4] (x1, y1, x2, y2) matched one-to-one at IoU >= `iou`.

    1.0 when both sides find the same boxes (or none at all); a box found by only one side
    counts against it, so a missed word and an invented one weigh the same.
    """
    matched = found = 0
    for ref, cand in zip(reference, candidate, strict=True):
        found += len(ref) + len(cand)
        if len(ref) and len(cand):
            matched += _greedy_matches(_iou_matrix(np.asarray(ref, np.float64), np.asarray(cand, np.float64)), iou)
    return 1.0 if found == 0 else 2 * matched / found


def _iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    lo = np.maximum(a[:, None, :2], b[None, :, :2])
    hi = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(hi - lo, 0, None), axis=-1)
    area_a = np.prod(a[:, 2:] - a[:, :2], axis=-1)
    area_b = np.prod(b[:, 2:] - b[:, :2], axis=-1)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def _greedy_matches(ious: np.ndarray, threshold: float) -> int:
    """Pairs taken best IoU first, each box used once (tens of boxes: a plain loop is enough)."""
    pairs = np.argwhere(ious >= threshold)
    order = np.argsort(-ious[pairs[:, 0], pairs[:, 1]], kind="stable")
    used_a: set[int] = set()
    used_b: set[int] = set()
    for i, j in pairs[order]:
        if i not in used_a and j not in used_b:
            used_a.add(int(i))
            used_b.add(int(j))
    return len(used_a)
