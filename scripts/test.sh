#!/usr/bin/env bash
# One command from a fresh clone to a passing test suite:
#   bash scripts/test.sh [pytest args...]
# Sets up .venv with the test tools, checks the generated protobuf code is current, runs the
# house checks (ruff, mypy, buf lint / breaking), fetches the default models, prepares the
# outside tools the tests drive (helm, buf, redis-server, tritonclient + perf_analyzer in
# .venv-triton, onnxruntime-gpu in .venv-ortgpu), then runs pytest.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

step() { printf '\n== %s\n' "$*"; }

step "setup (.venv with the cpu and dev extras, default models)"
bash scripts/setup.sh cpu,dev
step "generated protobuf code is current"
.venv/bin/python -m protos.generate --check
step "ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
step "mypy"
.venv/bin/mypy
step "buf lint / breaking"
BUF="$(bash scripts/get_buf.sh)"
"$BUF" lint protos
"$BUF" breaking protos --against protos/api-baseline.binpb
step "outside tools (helm, redis-server, tritonclient, perf_analyzer, onnxruntime-gpu)"
bash scripts/get_helm.sh >/dev/null
bash scripts/get_redis.sh
bash scripts/setup_triton_env.sh >/dev/null
bash scripts/setup_ortgpu_env.sh >/dev/null
step "pytest"
exec .venv/bin/python -m pytest "$@"
