"""The fallback path end to end: a real server in .venv-ortgpu (onnxruntime-gpu, no CUDA
libraries) on a machine that looks like it has an NVIDIA GPU (the nvidia-1x sysroot).

auto: TensorRT and CUDA execution providers really fail, the model serves on the CPU and
GetModel shows why. strict: the same failure leaves the model UNAVAILABLE with that reason.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from clients import SwitchyardClient
from protos.switchyard.v1 import predict_pb2 as pb
from tests.conftest import start_serve_process, write_model
from tests.fixtures.models import add_model

ROOT = Path(__file__).resolve().parents[2]
VENV_PYTHON = Path(os.environ.get("ORTGPU_VENV", ROOT / ".venv-ortgpu")) / "bin" / "python"
SYSROOT = ROOT / "tests" / "fixtures" / "sysroots" / "nvidia-1x"

pytestmark = [
    pytest.mark.ortgpu,
    pytest.mark.skipif(
        not VENV_PYTHON.exists(), reason=f"{VENV_PYTHON.parent.parent.name} missing: run scripts/setup_ortgpu_env.sh"
    ),
]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    repo = tmp_path_factory.mktemp("ortgpu_repo")
    write_model(repo, "auto_model", add_model(), "backend: auto\n")
    write_model(repo, "strict_model", add_model(), "backend: auto\nstrict: true\n")
    proc, address = start_serve_process(str(VENV_PYTHON), repo, "--probe-sysroot", str(SYSROOT))
    try:
        with SwitchyardClient(address) as client:
            yield client
    finally:
        proc.terminate()
        assert proc.wait(timeout=30) == 0
        proc.stdout.close()


def test_auto_falls_back_to_cpu_and_says_why(server):
    info = server.get_model("auto_model")
    version = info.versions[0]
    assert version.state == pb.ModelVersionInfo.STATE_READY
    assert (version.backend, version.device) == ("onnxruntime", "cpu")
    failed = {s.label: s.reason for s in version.selection if s.outcome == "failed"}
    assert "onnxruntime[Tensorrt,CUDA]@nvidia:gpu:0" in failed and "onnxruntime[CUDA]@nvidia:gpu:0" in failed
    assert "cannot open shared object file" in failed["onnxruntime[CUDA]@nvidia:gpu:0"]
    out = server.predict("auto_model", {"a": np.ones((1, 4), np.float32), "b": np.ones((1, 4), np.float32)})
    np.testing.assert_array_equal(out["sum"], np.full((1, 4), 2, np.float32))


def test_strict_leaves_the_model_unavailable_with_the_reason(server):
    version = server.get_model("strict_model").versions[0]
    assert version.state == pb.ModelVersionInfo.STATE_UNAVAILABLE
    assert "strict" in version.reason and "TensorrtExecutionProvider" in version.reason
