"""Reference profiles: exact moments, sketch quantiles within KLL's bound, a lossless JSON round trip."""

from __future__ import annotations

import numpy as np

from service.drift.profile import Profile, feature_matrix, read_profile, write_profile


def test_nchw_tensors_are_profiled_per_channel_and_capped():
    x = np.arange(2 * 5 * 2 * 2, dtype=np.float32).reshape(2, 5, 2, 2)
    matrix = feature_matrix(x, max_features=3)
    assert matrix is not None
    assert matrix.shape == (8, 3)
    np.testing.assert_array_equal(np.sort(matrix[:, 1]), np.sort(x[:, 1].ravel()))
    columns = feature_matrix(np.zeros((4, 7)), 64)
    assert columns is not None and columns.shape == (4, 7)
    assert feature_matrix(np.array([b"a"], dtype=object), 64) is None


def test_moments_are_exact_across_batches_and_quantiles_within_the_sketch_bound():
    rng = np.random.default_rng(0)
    batches = [rng.normal(3, 2, (n, 2)) for n in (1, 500, 4000, 37)]
    profile = Profile()
    for batch in batches:
        profile.add({"x": batch}, {}, 64)
    everything = np.concatenate(batches)
    for index, feature in enumerate(profile.inputs["x"].features):
        column = everything[:, index]
        assert feature.count == column.size
        assert np.isclose(feature.mean, column.mean(), rtol=0, atol=1e-12)
        assert np.isclose(feature.variance, column.var(), rtol=1e-12)
        assert (feature.min, feature.max) == (column.min(), column.max())
        bound = feature.sketch.normalized_rank_error(False)
        for rank in (0.1, 0.5, 0.9):
            value = feature.sketch.get_quantile(rank)
            assert abs(np.mean(column <= value) - rank) <= bound


def test_non_finite_values_are_rated_not_mixed_into_the_moments(tmp_path):
    x = np.array([[1.0], [np.nan], [np.inf], [3.0]])
    profile = Profile()
    profile.add({}, {"y": x}, 64)
    write_profile(profile, tmp_path / "profile.json")
    feature = read_profile(tmp_path / "profile.json").outputs["y"].features[0]
    assert (feature.count, feature.mean, feature.variance, feature.min, feature.max) == (2, 2.0, 1.0, 1.0, 3.0)
    assert (feature.nan, feature.inf) == (1, 1)
    assert feature.sketch.n == 2
    assert feature.sketch.get_quantile(1.0) == 3.0
