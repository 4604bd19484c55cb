"""load_with_fallback: real ONNX Runtime / OpenVINO loads and failures, and the decision trail."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from backends.base import Device, ModelSignature, TensorSpec
from backends.loading import NoBackendLoadedError, Outcome, load_with_fallback, synthetic_inputs
from backends.options import OnnxRuntimeOptions
from backends.probe import RuntimeInfo, probe
from backends.selection import Candidate, Preferences, select_candidates
from protos.errors import BackendLoadError, ErrorCode

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper  # noqa: E402

SYSROOTS = Path(__file__).resolve().parents[1] / "fixtures" / "sysroots"
# What an NVIDIA host with the nvidia extra reports; here the real onnxruntime is the CPU
# flavour and tensorrt is absent, so the GPU candidates really fail to load.
NVIDIA_RUNTIMES = (
    RuntimeInfo("tensorrt", True, "10.8.0"),
    RuntimeInfo("cuda-python", True, "12.8.0"),
    RuntimeInfo(
        "onnxruntime",
        True,
        "1.22.0",
        "onnxruntime-gpu",
        ("TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"),
    ),
    RuntimeInfo("openvino", True, "2025.1.0", devices=("CPU",)),
)


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    """model.onnx computing y = relu(x) + 1 over [N, 4] float32."""
    one = helper.make_tensor("one", TensorProto.FLOAT, [1], [1.0])
    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["r"]), helper.make_node("Add", ["r", "one"], ["y"])],
        "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4])],
        [one],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, tmp_path / "model.onnx")
    return tmp_path


def nvidia_candidates(model_dir: Path, **prefs) -> list[Candidate]:
    report = probe(SYSROOTS / "nvidia-1x", runtimes=NVIDIA_RUNTIMES)
    return select_candidates(report, model_dir, Preferences(**prefs))


def test_auto_falls_back_through_real_gpu_failures_to_cpu(model_dir):
    backend, signature, chosen, trail = load_with_fallback(nvidia_candidates(model_dir), model_dir)
    try:
        assert chosen.label == "onnxruntime[CPU]@cpu" and trail.chosen_label == chosen.label
        outcomes = [(e.label, e.outcome) for e in trail.entries if e.outcome is not Outcome.SKIPPED]
        assert outcomes == [
            ("tensorrt@nvidia:gpu:0", Outcome.FAILED),
            ("onnxruntime[Tensorrt,CUDA]@nvidia:gpu:0", Outcome.FAILED),
            ("onnxruntime[CUDA]@nvidia:gpu:0", Outcome.FAILED),
            ("onnxruntime[CPU]@cpu", Outcome.CHOSEN),
        ]
        assert "needs the Python module 'tensorrt'" in trail.entries[0].reason
        assert "no CUDAExecutionProvider" in trail.entries[2].reason
        assert trail.entries[-1].reason == "not tried: onnxruntime[CPU]@cpu loaded first"
        assert trail.chosen.load_seconds is not None and trail.chosen.load_seconds >= 0
        assert signature.inputs[0] == TensorSpec("x", "FP32", (-1, 4))
        out = backend.infer({"x": np.array([[-1, 0, 1, 2]], np.float32)})["y"]
        np.testing.assert_array_equal(out, [[1, 1, 2, 3]])
    finally:
        backend.unload()


def test_strict_leaves_the_model_unavailable_with_the_reason(model_dir):
    with pytest.raises(NoBackendLoadedError) as info:
        load_with_fallback(nvidia_candidates(model_dir), model_dir, strict=True)
    error = info.value
    assert isinstance(error, BackendLoadError) and error.code is ErrorCode.UNAVAILABLE
    assert "strict: tensorrt@nvidia:gpu:0 failed to load model.onnx" in str(error)
    assert "needs the Python module 'tensorrt'" in str(error)
    outcomes = [e.outcome for e in error.trail.entries]
    assert outcomes.count(Outcome.FAILED) == 1 and Outcome.CHOSEN not in outcomes
    assert error.trail.entries[1].reason == "strict: no fallback after tensorrt@nvidia:gpu:0 failed"
    assert error.trail.chosen_label == "none" and error.trail.strict


def test_nothing_viable_raises_with_every_skip_reason(model_dir):
    report = probe(SYSROOTS / "cpu-container-quota", runtimes=())
    with pytest.raises(NoBackendLoadedError, match="no backend could load") as info:
        load_with_fallback(select_candidates(report, model_dir), model_dir)
    assert all(e.outcome is Outcome.SKIPPED for e in info.value.trail.entries)
    assert "onnxruntime is not installed" in str(info.value)


def test_fastest_times_real_runtimes_and_keeps_one(model_dir):
    candidates = nvidia_candidates(model_dir, device="cpu")
    result = load_with_fallback(candidates, model_dir, selection="fastest", warmup_runs=5)
    try:
        timed = [e for e in result.trail.entries if e.outcome in (Outcome.TIMED, Outcome.CHOSEN)]
        assert {e.label for e in timed} == {"onnxruntime[CPU]@cpu", "openvino@cpu"}
        chosen = result.trail.chosen
        assert chosen.reason == f"fastest: median {chosen.infer_seconds * 1e3:.3g} ms"
        assert all(chosen.infer_seconds <= e.infer_seconds for e in timed)
        loser = next(e for e in timed if e is not chosen)
        assert loser.reason == f"median {loser.infer_seconds * 1e3:.3g} ms, slower than {chosen.label}"
        out = result.backend.infer({"x": np.full((2, 4), -3, np.float32)})["y"]
        np.testing.assert_allclose(out, np.ones((2, 4)))
    finally:
        result.backend.unload()


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class CostedBackend:
    """Stands in for a runtime whose speed we set: infer advances the injected clock."""

    def __init__(self, clock: FakeClock, cost: float, fail_load: Exception | None = None) -> None:
        self.name, self.clock, self.cost, self.fail_load = "fake", clock, cost, fail_load
        self.unloaded = False

    def load(self, artifact, options, device):
        self.clock.now += 0.5
        if self.fail_load:
            raise self.fail_load
        return ModelSignature((TensorSpec("x", "FP32", (-1, 4)),), (TensorSpec("y", "FP32", (-1, 4)),))

    def infer(self, inputs):
        assert inputs["x"].shape == (1, 4)
        self.clock.now += self.cost
        return {"y": inputs["x"]}

    def unload(self):
        self.unloaded = True


def cpu_candidates(*backends: str) -> list[Candidate]:
    return [Candidate(b, Device("cpu"), OnnxRuntimeOptions(), "model.onnx") for b in backends]


def test_fastest_keeps_the_lower_median_and_unloads_the_rest(tmp_path):
    clock = FakeClock()
    made = {"slow": CostedBackend(clock, 0.010), "quick": CostedBackend(clock, 0.002)}
    result = load_with_fallback(
        cpu_candidates("slow", "quick"), tmp_path, create_backend=made.__getitem__, selection="fastest", clock=clock
    )
    assert result.backend is made["quick"] and made["slow"].unloaded and not made["quick"].unloaded
    entries = {e.backend: e for e in result.trail.entries}
    assert entries["slow"].outcome is Outcome.TIMED and entries["slow"].infer_seconds == pytest.approx(0.010)
    assert entries["quick"].outcome is Outcome.CHOSEN and entries["quick"].infer_seconds == pytest.approx(0.002)
    assert entries["quick"].load_seconds == pytest.approx(0.5)


def test_unexpected_exception_fails_the_candidate_and_the_next_loads(tmp_path):
    clock = FakeClock()
    broken = CostedBackend(clock, 0.0, fail_load=RuntimeError("CUDA error: out of memory"))
    made = {"broken": broken, "good": CostedBackend(clock, 0.0)}
    result = load_with_fallback(
        cpu_candidates("broken", "good"), tmp_path, create_backend=made.__getitem__, clock=clock
    )
    assert result.candidate.backend == "good" and broken.unloaded
    # The runtime's words without the Python exception's name: clients read trail reasons.
    assert result.trail.entries[0].reason == "CUDA error: out of memory"
    assert result.trail.entries[0].load_seconds == pytest.approx(0.5)


def test_trail_is_json_for_get_model(model_dir):
    backend, _, _, trail = load_with_fallback(nvidia_candidates(model_dir), model_dir)
    backend.unload()
    data = json.loads(trail.to_json())
    assert data["chosen"] == "onnxruntime[CPU]@cpu" and data["strict"] is False
    assert data["entries"][0]["outcome"] == "failed"
    assert data["entries"][4]["skip"] == "no_device"  # the AMD route
    assert "onnxruntime[CPU]@cpu: chosen" in trail.summary()


def test_synthetic_inputs_follow_the_signature():
    sig = ModelSignature((TensorSpec("a", "INT64", (-1, 3)), TensorSpec("s", "BYTES", (2,))), ())
    inputs = synthetic_inputs(sig)
    assert inputs["a"].shape == (1, 3) and inputs["a"].dtype == np.int64
    assert inputs["s"].shape == (2,) and inputs["s"].dtype == object
