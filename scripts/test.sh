#!/usr/bin/env bash
# One command from a fresh clone to a passing test suite:
#   bash scripts/test.sh [pytest args...]
# Sets up .venv with the test tools, checks the generated protobuf code is current,
# fetches the default models, prepares the outside tools the tests drive (helm,
# tritonclient + perf_analyzer in .venv-triton, onnxruntime-gpu in .venv-ortgpu),
# then runs pytest.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

bash scripts/setup.sh cpu,dev
.venv/bin/python -m protos.generate --check
bash scripts/get_helm.sh >/dev/null
bash scripts/setup_triton_env.sh >/dev/null
bash scripts/setup_ortgpu_env.sh >/dev/null
exec .venv/bin/python -m pytest "$@"
