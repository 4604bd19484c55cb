"""Per-model precision end to end: real INT8 quantization, the FP32 gate, fallback, the cache, GetModel."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from backends.probe import probe
from protos.errors import BackendLoadError
from protos.inference import grpc_service_pb2 as oip
from protos.inference import grpc_service_pb2_grpc
from service.repository.config import load_model_config
from service.repository.loader import ModelLoader
from tests.fixtures.calibrated import calibrated_tiny_cnn, smooth_images
from tests.integration.conftest import make_settings, start_server
from tests.service.cli.conftest import switchyard

ROOT = Path(__file__).resolve().parents[2]
# A CPU without VNNI or BF16, so fallback from int8 goes straight to fp32 on any machine.
PLAIN_CPU = ROOT / "tests" / "fixtures" / "sysroots" / "cpu-container-quota"


def _load(model: Path, cache: Path):
    settings = make_settings(model.parent, cache_dir=cache)
    loader = ModelLoader(settings, report=probe(PLAIN_CPU))
    config = load_model_config(model / "config.yaml")
    return loader.load("tiny_cnn", config, model / "1")


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.dot(a.ravel(), b.ravel()) / (np.linalg.norm(a) * np.linalg.norm(b)))


def test_int8_serves_agrees_with_fp32_and_reuses_the_cache(tmp_path: Path) -> None:
    model = calibrated_tiny_cnn(tmp_path, "backend: onnxruntime\nprecision: int8\nmax_batch_size: 8\n")
    loaded = _load(model, tmp_path / "cache")
    fp32 = _load(calibrated_tiny_cnn(tmp_path / "ref", "backend: onnxruntime\nmax_batch_size: 8\n"), tmp_path / "cache")
    try:
        assert loaded.precision == "int8" and fp32.precision == "fp32"
        assert loaded.trail.precision[0].startswith("int8: serves [cosine")
        assert "built" in loaded.trail.precision[0]
        fresh = smooth_images(4, 99)
        quantized = loaded.backend.infer({"input": fresh})["logits"]
        exact = fp32.backend.infer({"input": fresh})["logits"]
        assert not np.array_equal(quantized, exact)  # really a different (INT8) model
        assert _cosine(quantized, exact) >= 0.99
        artifacts = list((tmp_path / "cache" / "precision").rglob("model.onnx"))
        assert len(artifacts) == 1
        mtime = artifacts[0].stat().st_mtime_ns
    finally:
        loaded.backend.unload()
        fp32.backend.unload()
    again = _load(model, tmp_path / "cache")
    try:
        assert again.precision == "int8"
        assert "reused the cached artifact" in again.trail.precision[0]
        assert artifacts[0].stat().st_mtime_ns == mtime
    finally:
        again.backend.unload()


IMPOSSIBLE = "precision: int8\nprecision_gate: {min_cosine: 1.0, max_abs_error: 0}\n"


def test_impossible_gate_falls_back_to_fp32_and_says_why(tmp_path: Path) -> None:
    loaded = _load(calibrated_tiny_cnn(tmp_path, IMPOSSIBLE), tmp_path / "cache")
    try:
        assert loaded.precision == "fp32"
        rejected, effective = loaded.trail.precision
        assert rejected.startswith("int8: rejected [cosine 0.9")
        assert "gate failed: cosine" in rejected and "< min_cosine 1.0" in rejected
        assert "max_abs_error" in rejected and "> 0.0" in rejected
        assert effective == "effective fp32"
        assert "precision int8: rejected" in loaded.trail.summary()
    finally:
        loaded.backend.unload()


def test_strict_impossible_gate_leaves_the_model_unavailable(tmp_path: Path) -> None:
    with pytest.raises(BackendLoadError, match="strict: int8 requested and rejected.*max_abs_error"):
        _load(calibrated_tiny_cnn(tmp_path, IMPOSSIBLE + "strict: true\n"), tmp_path / "cache")


def test_int8_without_calibration_data_falls_back(tmp_path: Path) -> None:
    model = calibrated_tiny_cnn(tmp_path, "precision: int8\n")
    shutil.rmtree(model / "calibration")
    loaded = _load(model, tmp_path / "cache")
    try:
        assert loaded.precision == "fp32"
        assert loaded.trail.precision[0] == "int8: rejected (no calibration folder 'calibration')"
    finally:
        loaded.backend.unload()


def test_quantize_command_builds_what_the_server_then_reuses(tmp_path: Path) -> None:
    model = calibrated_tiny_cnn(tmp_path, "precision: int8\n")
    cache = tmp_path / "cache"
    done = switchyard("quantize", str(model), "--cache-dir", str(cache))
    assert done.returncode == 0, done.stderr
    assert "int8: serves [cosine 0.99" in done.stdout and "gate passed; built" in done.stdout
    assert "quantizing model.onnx to int8 with onnxruntime over 16 calibration samples" in done.stderr
    loaded = _load(model, cache)
    try:
        assert loaded.precision == "int8" and "reused the cached artifact" in loaded.trail.precision[0]
    finally:
        loaded.backend.unload()
    (model / "config.yaml").write_text(IMPOSSIBLE)
    rejected = switchyard("quantize", str(model), "--cache-dir", str(cache))
    assert rejected.returncode == 1
    assert "int8 not built: onnxruntime gate failed: cosine" in rejected.stderr and "Traceback" not in rejected.stderr


async def test_get_model_reports_the_effective_precision_and_its_figures(tmp_path: Path) -> None:
    model = calibrated_tiny_cnn(tmp_path, "precision: int8\nmax_batch_size: 4\n")
    settings = make_settings(model.parent, cache_dir=tmp_path / "cache")
    async for running in start_server(settings):
        (version,) = (await running.client.get_model("tiny_cnn")).versions
        assert version.precision == "int8"
        assert version.precision_steps[0].startswith("int8: serves [cosine 0.99")
        assert version.precision_steps[-1] == "effective int8"
        oip_stub = grpc_service_pb2_grpc.GRPCInferenceServiceStub(running.channel)
        config = (await oip_stub.ModelConfig(oip.ModelConfigRequest(name="tiny_cnn"))).config
        assert config.parameters["switchyard.precision"].string_value == "int8"
        steps = json.loads(config.parameters["switchyard.precision_steps"].string_value)
        assert steps[0].startswith("int8: serves [cosine")


def _cpu(*flags: str):
    report = probe(PLAIN_CPU)
    return dataclasses.replace(report, cpu=dataclasses.replace(report.cpu, flags=flags))


@pytest.mark.parametrize(
    ("flags", "gate", "precision", "first_step"),
    [
        (("avx512_vnni",), "", "int8", "int8: serves [cosine"),  # VNNI and the gate passes
        (("amx_int8",), "precision_gate: {min_cosine: 1.0, max_abs_error: 0}\n", "fp32", "int8: rejected [cosine"),
        ((), "", "fp32", "effective fp32"),  # no VNNI/AMX: int8 is not even built
    ],
)
def test_auto_takes_int8_only_with_vnni_and_a_passing_gate(tmp_path: Path, flags, gate, precision, first_step) -> None:
    model = calibrated_tiny_cnn(tmp_path, "precision: auto\n" + gate)
    loader = ModelLoader(make_settings(model.parent, cache_dir=tmp_path / "cache"), report=_cpu(*flags))
    loaded = loader.load("tiny_cnn", load_model_config(model / "config.yaml"), model / "1")
    try:
        assert loaded.precision == precision
        assert loaded.trail.precision[0].startswith(first_step)
        assert loaded.trail.precision[-1] == f"effective {precision}"
        built = list((tmp_path / "cache").rglob("model.onnx"))
        assert len(built) == (1 if flags else 0)
    finally:
        loaded.backend.unload()


def test_a_validation_folder_is_what_the_gate_measures(tmp_path: Path) -> None:
    model = calibrated_tiny_cnn(tmp_path, "backend: onnxruntime\nprecision: int8\n")
    (model / "validation").mkdir()
    np.savez(model / "validation" / "held_out.npz", input=smooth_images(5, 123))
    loaded = _load(model, tmp_path / "cache")
    try:
        assert loaded.precision == "int8"
        assert loaded.trail.precision[0].endswith("gate passed; built; on 5 validation samples)")
    finally:
        loaded.backend.unload()
    # Without it the gate measures the calibration set, and the artifact (keyed by that set) is reused.
    shutil.rmtree(model / "validation")
    again = _load(model, tmp_path / "cache")
    try:
        assert again.trail.precision[0].endswith("reused the cached artifact; on 16 calibration samples)")
    finally:
        again.backend.unload()


def _load_on(model: Path, cache: Path, report):
    loader = ModelLoader(make_settings(model.parent, cache_dir=cache), report=report)
    return loader.load("tiny_cnn", load_model_config(model / "config.yaml"), model / "1")


def test_bf16_is_gated_against_exact_fp32_on_openvino(tmp_path: Path) -> None:
    model = calibrated_tiny_cnn(tmp_path, "backend: openvino\nprecision: bf16\n")
    loaded = _load_on(model, tmp_path / "cache", _cpu("avx512_bf16"))
    try:
        assert (loaded.backend_name, loaded.precision) == ("openvino", "bf16")
        assert loaded.trail.precision[0].startswith("bf16: serves [cosine ")
        assert loaded.trail.precision[0].endswith("(openvino gate passed; on 16 calibration samples)")
    finally:
        loaded.backend.unload()


def test_int8_then_bf16_rejected_serves_fp32_with_both_figures(tmp_path: Path) -> None:
    if not probe().cpu.supports_bf16:
        pytest.skip("this CPU has no BF16: OpenVINO's bf16 hint would run f32 and pass an exact gate")
    model = calibrated_tiny_cnn(tmp_path, "backend: openvino\n" + IMPOSSIBLE)
    loaded = _load_on(model, tmp_path / "cache", _cpu("avx512_vnni", "avx512_bf16"))
    try:
        int8, bf16, effective = loaded.trail.precision
        assert int8.startswith("int8: rejected [cosine") and "openvino gate failed" in int8
        assert bf16.startswith("bf16: rejected [cosine") and "openvino gate failed: cosine" in bf16
        assert (effective, loaded.precision, loaded.backend_name) == ("effective fp32", "fp32", "openvino")
    finally:
        loaded.backend.unload()


def test_fp16_on_the_openvino_cpu_is_gated_and_falls_back(tmp_path: Path) -> None:
    fp16_cpu = _cpu("avx512_fp16")
    passing = _load_on(
        calibrated_tiny_cnn(tmp_path / "a", "backend: openvino\nprecision: fp16\n"), tmp_path / "cache", fp16_cpu
    )
    try:
        assert passing.precision == "fp16"
        assert passing.trail.precision[0].startswith("fp16: serves [cosine ")
    finally:
        passing.backend.unload()
    if not probe().cpu.supports_fp16:
        pytest.skip("this CPU has no FP16: OpenVINO's f16 hint would run f32 and pass an exact gate")
    strict_gate = "backend: openvino\nprecision: fp16\nprecision_gate: {max_abs_error: 0}\n"
    rejected = _load_on(calibrated_tiny_cnn(tmp_path / "b", strict_gate), tmp_path / "cache", fp16_cpu)
    try:
        fp16, effective = rejected.trail.precision
        assert fp16.startswith("fp16: rejected [cosine") and "openvino gate failed: max_abs_error" in fp16
        assert (effective, rejected.precision) == ("effective fp32", "fp32")
    finally:
        rejected.backend.unload()
    with pytest.raises(BackendLoadError, match="strict: fp16 rejected, no fallback: openvino gate failed"):
        _load_on(calibrated_tiny_cnn(tmp_path / "c", strict_gate + "strict: true\n"), tmp_path / "cache", fp16_cpu)
