"""PSI and KS against a reference sketch: near zero for the same distribution, large for a shift."""

from __future__ import annotations

import numpy as np
from datasketches import kll_doubles_sketch

from service.drift.scores import ks, psi


def sketch_of(values: np.ndarray) -> kll_doubles_sketch:
    sketch = kll_doubles_sketch(200)
    sketch.update(values)
    return sketch


def test_the_same_distribution_scores_near_zero_and_a_shift_scores_high():
    rng = np.random.default_rng(0)
    reference = sketch_of(rng.normal(0, 1, 20_000))
    assert psi(reference, rng.normal(0, 1, 5000)) < 0.02
    assert ks(reference, rng.normal(0, 1, 5000)) < 0.05
    assert psi(reference, rng.normal(2, 1, 5000)) > 2.0
    assert psi(reference, rng.normal(0.5, 1, 5000)) > 0.2


def test_ks_matches_the_exact_two_sample_statistic_within_the_rank_error():
    rng = np.random.default_rng(1)
    reference_values = rng.normal(0, 1, 50_000)
    reference = sketch_of(reference_values)
    window = rng.normal(0.3, 1.2, 3000)
    points = np.sort(np.concatenate((reference_values, window)))
    exact = np.max(
        np.abs(
            np.searchsorted(np.sort(reference_values), points, side="right") / reference_values.size
            - np.searchsorted(np.sort(window), points, side="right") / window.size
        )
    )
    assert abs(ks(reference, window) - exact) <= reference.normalized_rank_error(False)


def test_a_feature_with_ties_is_not_read_as_drifting():
    rng = np.random.default_rng(2)

    def mostly_zero(n: int) -> np.ndarray:
        return np.where(rng.random(n) < 0.8, 0.0, rng.random(n))

    assert psi(sketch_of(mostly_zero(20_000)), mostly_zero(5000)) < 0.02


def test_empty_sides_score_zero():
    assert psi(kll_doubles_sketch(200), np.ones(3)) == 0.0
    assert ks(sketch_of(np.ones(3)), np.array([])) == 0.0
