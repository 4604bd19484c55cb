"""INT8 served by real servers: OpenVINO's NNCF model, and one cache shared by two server processes."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from clients import SwitchyardClient
from service.metrics import RepositoryCollector
from service.repository.summary import summary_rows
from tests.conftest import serving
from tests.fixtures.calibrated import TINY_CNN, calibrated_tiny_cnn, smooth_images
from tests.integration.conftest import make_settings, start_server


def _repo(root: Path, config: str) -> Path:
    return calibrated_tiny_cnn(root, config).parent


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.dot(a.ravel(), b.ravel()) / (np.linalg.norm(a) * np.linalg.norm(b)))


async def test_openvino_serves_the_nncf_int8_model(tmp_path: Path) -> None:
    import openvino

    repo = _repo(tmp_path, "backend: openvino\nprecision: int8\nmax_batch_size: 4\n")
    cache = tmp_path / "cache"
    fresh = smooth_images(4, 99)
    async for running in start_server(make_settings(repo, cache_dir=cache)):
        (version,) = (await running.client.get_model("tiny_cnn")).versions
        assert (version.backend, version.precision) == ("openvino", "int8")
        assert version.precision_steps[0].startswith("int8: serves [cosine 0.99")
        assert "openvino gate passed; built" in version.precision_steps[0]
        served = (await running.client.predict("tiny_cnn", {"input": fresh}))["logits"]
        # The start-up table and the metrics say the same.
        (row,) = summary_rows(running.server.repository.entries())
        assert (row.backend, row.precision) == ("openvino", "int8") and "int8" in row.cells()
        (family,) = [
            f for f in RepositoryCollector(running.server.repository).collect() if f.name.endswith("precision")
        ]
        assert [(s.labels["backend"], s.labels["precision"], s.value) for s in family.samples] == [
            ("openvino", "int8", 1.0)
        ]
    (ir,) = (cache / "precision" / "int8-openvino").rglob("model.xml")
    assert (ir.parent / "model.bin").is_file()
    ops = {op.get_type_name() for op in openvino.Core().read_model(str(ir)).get_ops()}
    assert "FakeQuantize" in ops  # NNCF's INT8 marks: the server loaded a quantized IR
    exact = openvino.Core().compile_model(str(TINY_CNN), "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    reference = exact({"input": fresh})["logits"]
    assert not np.array_equal(served, reference)  # really a different (INT8) model
    assert _cosine(served, reference) >= 0.99  # and within the gate on inputs it never saw


def test_a_second_server_process_reuses_the_cached_int8_model(tmp_path: Path) -> None:
    repo = _repo(tmp_path, "backend: onnxruntime\nprecision: int8\nmax_batch_size: 4\n")
    flags = ("--cache-dir", str(tmp_path / "cache"))
    steps, artifacts, logs = [], [], []
    for run in range(2):
        log = tmp_path / f"server-{run}.log"
        with log.open("w") as stderr, serving(sys.executable, repo, *flags, stderr=stderr) as (_, address):
            with SwitchyardClient(address) as client:
                (version,) = client.get_model("tiny_cnn").versions
            assert version.precision == "int8"
            steps.append(version.precision_steps[0])
        artifacts.append({p: p.stat().st_mtime_ns for p in (tmp_path / "cache").rglob("model.onnx")})
        logs.append(log.read_text())
    # The build announces itself in the log; the second server only gates the cached model.
    assert "tiny_cnn version 1: quantizing model.onnx to int8" in logs[0]
    assert "quantizing" not in logs[1] and "tiny_cnn version 1: gating int8 model.onnx" in logs[1]
    assert "gate passed; built" in steps[0]
    assert "gate passed; reused the cached artifact" in steps[1]
    # The second process measured the same model with the same figures: nothing was rebuilt.
    assert steps[0].partition(" (")[0] == steps[1].partition(" (")[0]
    assert len(artifacts[0]) == 1 and artifacts[1] == artifacts[0]


def test_an_openvino_int8_build_in_json_mode_writes_only_json_lines(tmp_path: Path) -> None:
    import json

    from tests.conftest import start_serve_process

    repo = _repo(tmp_path, "backend: openvino\nprecision: int8\nmax_batch_size: 4\n")
    log = tmp_path / "server.log"
    with log.open("w") as stderr:
        proc, address = start_serve_process(
            sys.executable, repo, "--cache-dir", str(tmp_path / "cache"), "--log-format", "json", stderr=stderr
        )
        try:
            with SwitchyardClient(address) as client:
                assert client.get_model("tiny_cnn").versions[0].precision == "int8"
        finally:
            proc.terminate()
            stdout, _ = proc.communicate(timeout=60)
    lines = [line for line in (stdout + log.read_text()).splitlines() if line.strip()]
    # NNCF's progress bars and its own logger would otherwise land here as plain text.
    records = [json.loads(line) for line in lines]
    assert all(isinstance(record, dict) for record in records)
    assert any("quantizing" in record.get("message", "") for record in records)
