#!/usr/bin/env bash
# Create .venv (Python 3.11), install Switchyard with the given extras, fetch the default models.
#   bash scripts/setup.sh            # server on CPU (cpu extra: the server + ONNX Runtime + OpenVINO)
#   bash scripts/setup.sh cpu,dev    # the same + test tools
# The models extra (onnx) always comes along: fetch_models.py builds tiny_cnn with it.
# Idempotent: a second run only installs what changed.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
EXTRAS="${1:-cpu}"
PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
cd "$ROOT"

if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
    .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
fi
# shellcheck disable=SC1091
source .venv/bin/activate
export PIP_DISABLE_PIP_VERSION_CHECK=1
# The same install and fetch steps as docker/Dockerfile.cpu (editable here, so the
# checkout is what runs).
EXTRAS="${EXTRAS},models"
python -m pip install --quiet -e ".[${EXTRAS}]"
python scripts/fetch_models.py --repository model_repository
