"""Drift scores of a window of live values against a reference feature's KLL sketch.

PSI (population stability index) bins both sides by the reference's deciles; the KS
statistic is the largest gap between the reference CDF (from the sketch) and the window's
empirical CDF. Both are pure functions of numpy arrays and a sketch.
"""

from __future__ import annotations

import numpy as np
from datasketches import kll_doubles_sketch

PSI_BINS = 10
# A bin empty on one side would make PSI infinite; this floor keeps it large and finite.
PSI_FLOOR = 1e-4
# Reference quantiles at which the KS gap is also evaluated (the sketch's own jump points, roughly).
KS_POINTS = 100
WINDOW_POINTS = 2000


def psi(reference: kll_doubles_sketch, window: np.ndarray, bins: int = PSI_BINS) -> float:
    """Population stability index of window (finite values) against the reference's quantile bins."""
    if reference.is_empty() or window.size == 0:
        return 0.0
    edges = np.unique(reference.get_quantiles([i / bins for i in range(1, bins)]))
    # Bin i holds (edge[i-1], edge[i]]: the reference's share of each bin from its CDF, not assumed 1/bins,
    # so a feature with ties (e.g. mostly zeros) does not read as drifting.
    expected = np.diff(np.concatenate(([0.0], reference.get_cdf(edges.tolist(), inclusive=True))))
    below = np.searchsorted(np.sort(window), edges, side="right")
    actual = np.diff(np.concatenate(([0], below, [window.size]))) / window.size
    expected = np.maximum(expected, PSI_FLOOR)
    actual = np.maximum(actual, PSI_FLOOR)
    return float(np.sum((actual - expected) * np.log(actual / expected)))


def ks(reference: kll_doubles_sketch, window: np.ndarray) -> float:
    """Two-sample Kolmogorov-Smirnov statistic: sup |F_reference - F_window|, within the sketch's rank error."""
    if reference.is_empty() or window.size == 0:
        return 0.0
    ordered = np.sort(window)
    quantiles = reference.get_quantiles(np.linspace(0.0, 1.0, KS_POINTS + 1).tolist())
    # Every window value is a jump of its CDF; past WINDOW_POINTS of them, evenly spaced order
    # statistics miss at most 1/WINDOW_POINTS of the gap, well inside the sketch's own error.
    sampled = (
        ordered[np.linspace(0, ordered.size - 1, WINDOW_POINTS).astype(int)]
        if ordered.size > WINDOW_POINTS
        else ordered
    )
    points = np.unique(np.concatenate((sampled, quantiles)))
    # Both CDFs are right-continuous steps, so the sup is reached at one of their jump points.
    reference_cdf = np.asarray(reference.get_cdf(points.tolist(), inclusive=True)[:-1])
    window_cdf = np.searchsorted(ordered, points, side="right") / ordered.size
    return float(np.max(np.abs(reference_cdf - window_cdf)))
