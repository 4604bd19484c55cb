"""The accuracy gate: a reduced-precision model serves only when its outputs agree with FP32's."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class GateThresholds:
    min_cosine: float = 0.99
    max_abs_error: float | None = None  # None: not checked
    min_top1_agreement: float | None = None  # None: not checked


@dataclass(frozen=True)
class GateFigures:
    """Worst case over every output of every sample."""

    cosine: float
    max_abs_error: float
    top1_agreement: float

    def text(self) -> str:
        return f"cosine {self.cosine:.6f}, max_abs_error {self.max_abs_error:.6g}, top1 {self.top1_agreement:.3f}"


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
    if figures.cosine < thresholds.min_cosine:
        problems.append(f"cosine {figures.cosine:.6f} < min_cosine {thresholds.min_cosine}")
    if thresholds.max_abs_error is not None and figures.max_abs_error > thresholds.max_abs_error:
        problems.append(f"max_abs_error {figures.max_abs_error:.6g} > {thresholds.max_abs_error}")
    if thresholds.min_top1_agreement is not None and figures.top1_agreement < thresholds.min_top1_agreement:
        problems.append(f"top1 agreement {figures.top1_agreement:.3f} < {thresholds.min_top1_agreement}")
    return "; ".join(problems) or None
