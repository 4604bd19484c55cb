"""`switchyard profile`: sample inputs through the real backend into <model>/<version>/profile.json."""

from __future__ import annotations

import numpy as np

from service.drift.profile import read_profile
from tests.conftest import write_model
from tests.fixtures.models import softmax_model
from tests.service.cli.conftest import switchyard


def test_profile_summarises_inputs_and_outputs_of_every_sample(tmp_path):
    model = write_model(tmp_path / "repo", "softmax", softmax_model(), "backend: onnxruntime\nmax_batch_size: 16\n")
    data = tmp_path / "data"
    data.mkdir()
    rng = np.random.default_rng(0)
    first, second = rng.normal(0, 1, (50, 4)).astype(np.float32), rng.normal(2, 1, (30, 4)).astype(np.float32)
    np.save(data / "a.npy", first)
    np.savez(data / "b.npz", x=second)
    done = switchyard("profile", str(model), "--data", str(data))
    assert done.returncode == 0, done.stderr
    assert "profiled 80 items from 2 files into softmax/1/profile.json" in done.stdout
    profile = read_profile(model / "1" / "profile.json")
    every = np.concatenate((first, second)).astype(np.float64)
    for index, feature in enumerate(profile.inputs["x"].features):
        assert feature.count == 80
        assert np.isclose(feature.mean, every[:, index].mean(), rtol=0, atol=1e-9)
        assert np.isclose(feature.variance, every[:, index].var(), rtol=1e-9)
    outputs = profile.outputs["y"].features
    assert len(outputs) == 4 and all(0.0 < f.min and f.max < 1.0 for f in outputs)


def test_profile_names_a_missing_input_in_one_line(tmp_path):
    model = write_model(tmp_path / "repo", "softmax", softmax_model(), "backend: onnxruntime\n")
    data = tmp_path / "data"
    data.mkdir()
    np.savez(data / "wrong.npz", z=np.zeros((2, 4), np.float32))
    done = switchyard("profile", str(model), "--data", str(data))
    assert done.returncode != 0
    assert "wrong.npz: no array for input 'x' (has z)" in done.stderr
    assert "Traceback" not in done.stderr
