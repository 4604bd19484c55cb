#!/usr/bin/env bash
# Create .venv-ortgpu: onnxruntime-gpu (which installs the same `onnxruntime` module as the CPU
# wheel, so it needs its own environment) plus what backends/ imports. Idempotent: a second
# run only checks the environment. Used by tests/backends/test_ort_gpu_fallback.py.
#
# On a machine without CUDA libraries onnxruntime-gpu still lists the CUDA and TensorRT
# execution providers but fails to create them, which is the real failure the fallback test
# needs.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${ORTGPU_VENV:-$ROOT/.venv-ortgpu}"
PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3

check() {
    "$VENV/bin/python" - <<'PY'
import numpy, onnx, pydantic, onnxruntime, grpc, service.server
providers = onnxruntime.get_available_providers()
assert "CUDAExecutionProvider" in providers, providers
print("ortgpu env ok: onnxruntime", onnxruntime.__version__, providers)
PY
}

if [ -x "$VENV/bin/python" ] && check 2>/dev/null; then
    exit 0
fi

"$PYTHON" -m venv "$VENV"
# The server (and onnx for the test models) with onnxruntime-gpu, so a real server runs here
# too. Not the nvidia extra: its tensorrt and cuda-python come from NVIDIA's index.
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -e "$ROOT[server,models]" onnxruntime-gpu
check
