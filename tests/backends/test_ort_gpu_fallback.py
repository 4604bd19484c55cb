"""The fallback path for real: onnxruntime-gpu offers the TensorRT and CUDA EPs here and fails
to start them (no CUDA libraries), so auto mode must fall back to CPU with the failures in
the trail, and strict mode must leave the model unavailable with that reason.

onnxruntime-gpu installs the same `onnxruntime` module as the CPU wheel, so it lives in its
own environment (.venv-ortgpu, made by scripts/setup_ortgpu_env.sh, ~20 s); the check runs
there as a subprocess. The hardware is the nvidia-1x sysroot fixture; the runtimes are the
real ones of that environment.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
VENV_PYTHON = Path(os.environ.get("ORTGPU_VENV", ROOT / ".venv-ortgpu")) / "bin" / "python"

pytestmark = [
    pytest.mark.ortgpu,
    pytest.mark.skipif(
        not VENV_PYTHON.exists(), reason=f"{VENV_PYTHON.parent.parent.name} missing: run scripts/setup_ortgpu_env.sh"
    ),
]

SCRIPT = r"""
import json, sys, tempfile
from pathlib import Path
import onnx
from onnx import TensorProto, helper
from backends.probe import probe
from backends.selection import Preferences, select_candidates
from backends.loading import NoBackendLoadedError, load_with_fallback

strict = sys.argv[1] == "strict"
model_dir = Path(tempfile.mkdtemp())
graph = helper.make_graph(
    [helper.make_node("Relu", ["x"], ["y"])], "tiny",
    [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
    [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])])
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
model.ir_version = 8
onnx.save(model, model_dir / "model.onnx")

report = probe(Path(sys.argv[2]))  # fixture hardware, real runtimes of this environment
prefs = Preferences(strict=strict)
candidates = select_candidates(report, model_dir, prefs)
ort = report.runtime("onnxruntime")
result = {"flavour": ort.flavour, "providers": list(ort.providers)}
try:
    backend, signature, chosen, trail = load_with_fallback(candidates, model_dir, strict=prefs.strict)
    import numpy as np
    result["output"] = backend.infer({"x": np.array([[-1, 0, 1, 2]], np.float32)})["y"].tolist()
    result["runtime_detail"] = signature.runtime_detail
except NoBackendLoadedError as exc:
    trail = exc.trail
    result["error"] = {"message": str(exc), "code": exc.code.value}
result["trail"] = trail.to_dict()
print(json.dumps(result))
"""


def run(mode: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [str(VENV_PYTHON), "-c", SCRIPT, mode, str(ROOT / "tests/fixtures/sysroots/nvidia-1x")],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def entries(result: dict) -> dict[str, dict]:
    return {e["label"]: e for e in result["trail"]["entries"]}


def test_auto_mode_falls_back_to_cpu_with_the_gpu_failures_in_the_trail():
    result = run("auto")
    assert result["flavour"] == "onnxruntime-gpu"
    assert {"TensorrtExecutionProvider", "CUDAExecutionProvider"} <= set(result["providers"])
    trail = entries(result)
    assert trail["tensorrt@nvidia:gpu:0"]["outcome"] == "skipped"
    assert "tensorrt is not installed" in trail["tensorrt@nvidia:gpu:0"]["reason"]
    trt_ep = trail["onnxruntime[Tensorrt,CUDA]@nvidia:gpu:0"]
    cuda_ep = trail["onnxruntime[CUDA]@nvidia:gpu:0"]
    assert trt_ep["outcome"] == "failed" and "could not start TensorrtExecutionProvider" in trt_ep["reason"]
    assert cuda_ep["outcome"] == "failed" and "could not start CUDAExecutionProvider" in cuda_ep["reason"]
    # The dynamic loader's own message says what is missing (e.g. libcublasLt.so.13).
    assert "cannot open shared object file" in cuda_ep["reason"], cuda_ep["reason"]
    assert result["trail"]["chosen"] == "onnxruntime[CPU]@cpu"
    assert result["runtime_detail"] == "CPUExecutionProvider"
    assert result["output"] == [[0.0, 0.0, 1.0, 2.0]]


def test_strict_mode_leaves_the_model_unavailable_with_the_reason():
    result = run("strict")
    assert "output" not in result
    error = result["error"]
    assert error["code"] == "unavailable"
    # The cause leads; which candidate and that strict mode stopped there follow it.
    assert error["message"].startswith("onnxruntime could not start TensorrtExecutionProvider")
    strict_note = "(strict: onnxruntime[Tensorrt,CUDA]@nvidia:gpu:0 failed to load model.onnx; no fallback)"
    assert strict_note in error["message"]
    trail = entries(result)
    assert trail["onnxruntime[CPU]@cpu"]["outcome"] == "skipped"
    assert trail["onnxruntime[CPU]@cpu"]["reason"].startswith("strict: no fallback")
    assert result["trail"]["chosen"] == "none"
