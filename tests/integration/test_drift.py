"""Drift monitoring through a real server: synthetic shifts move exactly the scores they should."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper

from service.drift.profile import PROFILE_FILE, Profile, write_profile
from tests.conftest import write_model
from tests.fixtures.models import _model, softmax_model
from tests.integration.conftest import make_settings, start_server

WINDOW = 2000
DRIFT = f"drift: {{sample_rate: 1.0, window: {WINDOW}, psi_alert: 0.2}}\n"
MEANS = np.array([0.0, 1.0, -1.0], dtype=np.float32)


def image_model():
    """x [N,3,8,8] -> x: an NCHW tensor monitored per channel."""
    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])],
        "image",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3, 8, 8])],
    )
    return _model(graph)


def images(rng: np.random.Generator, n: int, shift: np.ndarray | None = None) -> np.ndarray:
    means = MEANS if shift is None else MEANS + shift
    return (rng.normal(0, 1, (n, 3, 8, 8)) + means[None, :, None, None]).astype(np.float32)


def features(rng: np.random.Generator, n: int, hot: int | None = None) -> np.ndarray:
    x = rng.normal(0, 1, (n, 4)).astype(np.float32)
    if hot is not None:
        x[:, hot] += 3.0  # one class dominates the softmax
    return x


@pytest.fixture
def drift_repo(tmp_path):
    rng = np.random.default_rng(0)
    image = write_model(tmp_path, "image", image_model(), DRIFT)
    reference = Profile()
    batch = images(rng, 64)
    reference.add({"x": batch}, {"y": batch}, 64)
    write_profile(reference, image / "1" / PROFILE_FILE)
    softmax = write_model(tmp_path, "softmax", softmax_model(), DRIFT)
    reference = Profile()
    x = features(rng, 4000)
    exp = np.exp(x - x.max(axis=1, keepdims=True))
    reference.add({"x": x}, {"y": exp / exp.sum(axis=1, keepdims=True)}, 64)
    write_profile(reference, softmax / "1" / PROFILE_FILE)
    write_model(
        tmp_path, "baseline", softmax_model(), f"drift: {{sample_rate: 1.0, window: {WINDOW}, baseline_requests: 20}}\n"
    )
    write_model(tmp_path, "plain", softmax_model(), "backend: onnxruntime\n")
    return tmp_path


def sample(server, name: str, model: str, tensor: str, feature: int) -> float:
    """The gauge's value; NaN when it is not exported (every comparison with NaN fails)."""
    labels = {"model": model, "version": "1", "tensor": tensor, "feature": str(feature)}
    value = server.metrics.registry.get_sample_value(name, labels)
    return float("nan") if value is None else value


def drifting(server, model: str) -> float | None:
    return server.metrics.registry.get_sample_value("switchyard_model_drifting", {"model": model, "version": "1"})


async def test_image_channels_drift_one_at_a_time(drift_repo):
    rng = np.random.default_rng(1)
    async for running in start_server(make_settings(drift_repo)):
        server = running.server
        # Like the profile: one window's worth (32 requests x 64 values per channel).
        for _ in range(32):
            await running.client.predict("image", {"x": images(rng, 1)})
        await server.drift.drain()
        for channel in range(3):
            assert sample(server, "switchyard_drift_psi", "image", "x", channel) < 0.1
            assert sample(server, "switchyard_drift_ks", "image", "x", channel) < 0.1
        assert drifting(server, "image") == 0.0
        # Channel 1's mean moves by 2 standard deviations: one window later only it drifts.
        for _ in range(32):
            await running.client.predict("image", {"x": images(rng, 1, np.array([0.0, 2.0, 0.0]))})
        await server.drift.drain()
        assert sample(server, "switchyard_drift_psi", "image", "x", 1) > 0.2
        assert sample(server, "switchyard_drift_ks", "image", "x", 1) > 0.5
        for channel in (0, 2):
            assert sample(server, "switchyard_drift_psi", "image", "x", channel) < 0.1
        assert drifting(server, "image") == 1.0
        info = await running.client.get_model("image")
        summary = info.versions[0].drift
        assert summary.has_reference and summary.drifting and summary.sampled == 64
        # The model is an identity, so input x and output y drift alike: either may be the worst.
        assert summary.max_psi_tensor in ("x", "y") and summary.max_psi_feature == 1
        assert summary.max_psi == sample(server, "switchyard_drift_psi", "image", summary.max_psi_tensor, 1)
        # Back to normal for a whole window: the flag clears.
        for _ in range(32):
            await running.client.predict("image", {"x": images(rng, 1)})
        await server.drift.drain()
        assert drifting(server, "image") == 0.0


async def test_nans_and_out_of_range_values_are_counted(drift_repo):
    rng = np.random.default_rng(2)
    async for running in start_server(make_settings(drift_repo)):
        server = running.server
        x = features(rng, 10)
        x[0, 0] = np.nan
        x[1, 2] = np.nan
        x[2, 3] = 1e6
        await running.client.predict("softmax", {"x": x})
        await server.drift.drain()
        registry = server.metrics.registry
        labels = {"model": "softmax", "version": "1", "tensor": "x"}
        assert registry.get_sample_value("switchyard_data_quality_violations_total", {**labels, "kind": "nan"}) == 2
        assert (
            registry.get_sample_value("switchyard_data_quality_violations_total", {**labels, "kind": "out_of_range"})
            == 1
        )


async def test_output_drifts_when_the_class_mix_changes(drift_repo):
    rng = np.random.default_rng(3)
    async for running in start_server(make_settings(drift_repo)):
        server = running.server
        for _ in range(20):
            await running.client.predict("softmax", {"x": features(rng, 100, hot=2)})
        await server.drift.drain()
        assert sample(server, "switchyard_drift_psi", "softmax", "y", 2) > 0.2
        assert drifting(server, "softmax") == 1.0


async def test_the_first_requests_become_the_reference(drift_repo):
    rng = np.random.default_rng(4)
    async for running in start_server(make_settings(drift_repo)):
        server = running.server
        for _ in range(20):
            await running.client.predict("baseline", {"x": features(rng, 100)})
        await server.drift.drain()
        # The reference is taken, nothing compared yet.
        assert drifting(server, "baseline") == 0.0
        summary = (await running.client.get_model("baseline")).versions[0].drift
        assert summary.has_reference and not summary.drifting and summary.max_psi_tensor == ""
        unmonitored = (await running.client.get_model("plain")).versions[0]
        assert not unmonitored.HasField("drift")
        assert np.isnan(sample(server, "switchyard_drift_psi", "baseline", "x", 0))
        for _ in range(20):
            await running.client.predict("baseline", {"x": features(rng, 100)})
        await server.drift.drain()
        assert all(sample(server, "switchyard_drift_psi", "baseline", "x", f) < 0.1 for f in range(4))
        for _ in range(20):
            await running.client.predict("baseline", {"x": features(rng, 100, hot=0)})
        await server.drift.drain()
        assert sample(server, "switchyard_drift_psi", "baseline", "x", 0) > 0.2
        assert all(sample(server, "switchyard_drift_psi", "baseline", "x", f) < 0.1 for f in (1, 2, 3))
