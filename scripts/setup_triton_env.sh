#!/usr/bin/env bash
# Prepare the outside clients of the Open Inference Protocol tests (tests/service/oip/):
#   .venv-triton                      tritonclient[grpc,http] with its own protobuf<7 (the main venv
#                                     needs protobuf>=7, and tritonclient's `inference.*` protos
#                                     cannot share a process with ours anyway), numpy, and
#                                     nvidia-cuda-runtime-cu12 for perf_analyzer's libcudart.so.12
#   .cache/tools/perf_analyzer/       perf_analyzer taken from the tritonclient==2.41.0 wheel (the
#                                     registry's perf-analyzer wheel needs a newer glibc) and a
#                                     wrapper `run` that sets LD_LIBRARY_PATH
#   libb64-0d                         from apt when missing (perf_analyzer links it)
# Idempotent: a second run only checks. Every network step is bounded by a timeout.
# Prints the paths as KEY=VALUE lines at the end.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${TRITON_VENV:-$ROOT/.venv-triton}"
TOOLS="$ROOT/.cache/tools/perf_analyzer"
DOWNLOADS="$ROOT/.cache/downloads"
PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3

TRITONCLIENT_VERSION="2.73.0"       # the client library the tests drive
PERF_ANALYZER_WHEEL_VERSION="2.41.0" # last tritonclient wheel whose perf_analyzer runs on glibc 2.36
CUDART_VERSION="12.9.79"
PIP_TIMEOUT=(--timeout 60 --retries 2)

log() { printf '[setup_triton_env] %s\n' "$*" >&2; }

check_venv() {
    "$VENV/bin/python" - <<'PY' 2>/dev/null
import google.protobuf, numpy, tritonclient.grpc, tritonclient.grpc.aio, tritonclient.http  # noqa: F401
major = int(google.protobuf.__version__.split(".")[0])
assert major < 7, google.protobuf.__version__
PY
}

if [ -x "$VENV/bin/python" ] && check_venv; then
    log "venv ok: $VENV"
else
    log "creating $VENV"
    "$PYTHON" -m venv "$VENV"
    timeout 600 "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "${PIP_TIMEOUT[@]}" \
        "tritonclient[grpc,http]==$TRITONCLIENT_VERSION" "protobuf<7" "numpy>=1.26" \
        "nvidia-cuda-runtime-cu12==$CUDART_VERSION"
    check_venv || { log "tritonclient does not import in $VENV"; exit 1; }
fi

CUDART_DIR="$("$VENV/bin/python" - <<'PY'
import pathlib, nvidia.cuda_runtime as m
lib = next(pathlib.Path(list(m.__path__)[0]).rglob("libcudart.so.12*"))
print(lib.parent)
PY
)"

if ! ldconfig -p 2>/dev/null | grep -q 'libb64\.so\.0d'; then
    log "installing libb64-0d"
    if [ "$(id -u)" != 0 ]; then log "libb64-0d is missing and this is not root"; exit 1; fi
    export DEBIAN_FRONTEND=noninteractive
    timeout 300 apt-get install -y -q libb64-0d >/dev/null 2>&1 || {
        timeout 300 apt-get update -q >/dev/null
        timeout 300 apt-get install -y -q libb64-0d >/dev/null
    }
fi

if [ ! -x "$TOOLS/perf_analyzer" ]; then
    mkdir -p "$TOOLS" "$DOWNLOADS"
    WHEEL="$DOWNLOADS/tritonclient-$PERF_ANALYZER_WHEEL_VERSION-py3-none-manylinux1_x86_64.whl"
    if [ ! -f "$WHEEL" ]; then
        log "downloading tritonclient==$PERF_ANALYZER_WHEEL_VERSION (for perf_analyzer)"
        timeout 300 "$VENV/bin/python" -m pip download --quiet --disable-pip-version-check \
            "${PIP_TIMEOUT[@]}" --no-deps --only-binary=:all: --platform manylinux1_x86_64 \
            -d "$DOWNLOADS" "tritonclient==$PERF_ANALYZER_WHEEL_VERSION"
    fi
    "$VENV/bin/python" - "$WHEEL" "$TOOLS/perf_analyzer" "$PERF_ANALYZER_WHEEL_VERSION" <<'PY'
import os, sys, zipfile
wheel, dest, version = sys.argv[1:]
member = f"tritonclient-{version}.data/data/bin/perf_analyzer"
with zipfile.ZipFile(wheel) as z, open(dest + ".part", "wb") as out:
    out.write(z.read(member))
os.chmod(dest + ".part", 0o755)
os.replace(dest + ".part", dest)
PY
fi

# A wrapper so callers need not know where libcudart lives.
cat > "$TOOLS/run" <<WRAP
#!/usr/bin/env bash
export LD_LIBRARY_PATH="$CUDART_DIR\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}"
exec "$TOOLS/perf_analyzer" "\$@"
WRAP
chmod +x "$TOOLS/run"

if LD_LIBRARY_PATH="$CUDART_DIR" ldd "$TOOLS/perf_analyzer" | grep -q 'not found'; then
    log "perf_analyzer still misses libraries:"
    LD_LIBRARY_PATH="$CUDART_DIR" ldd "$TOOLS/perf_analyzer" | grep 'not found' >&2
    exit 1
fi

echo "TRITON_PYTHON=$VENV/bin/python"
echo "PERF_ANALYZER=$TOOLS/run"
echo "CUDART_DIR=$CUDART_DIR"
