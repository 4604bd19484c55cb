#!/usr/bin/env bash
# One command from a fresh clone to a running server on port 8001 (CPU):
#   bash scripts/serve.sh [switchyard serve flags...]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/setup.sh" cpu
exec "$ROOT/.venv/bin/switchyard" serve "$@"
