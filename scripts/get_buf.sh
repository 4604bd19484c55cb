#!/usr/bin/env bash
# Installs buf (proto lint and breaking-change checks) into <repo>/.cache/tools/buf
# (idempotent) and prints the path of the binary.
#
# buf is published to npm as @bufbuild/buf, whose platform packages
# (@bufbuild/buf-linux-x64, ...) carry the prebuilt binary. The wrapper's postinstall
# script only links that binary, and npm may refuse to run it, so scripts are skipped
# and the platform binary is used directly.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUF_VERSION="1.75.0"
PREFIX="${REPO_ROOT}/.cache/tools/buf"

case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) PLATFORM="linux-x64" ;;
  Linux-aarch64 | Linux-arm64) PLATFORM="linux-aarch64" ;;
  Darwin-x86_64) PLATFORM="darwin-x64" ;;
  Darwin-arm64) PLATFORM="darwin-arm64" ;;
  *) echo "get_buf: no @bufbuild/buf binary for $(uname -s)-$(uname -m)" >&2; exit 1 ;;
esac
BUF="${PREFIX}/node_modules/@bufbuild/buf-${PLATFORM}/bin/buf"

if [[ -x "${BUF}" ]] && [[ "$("${BUF}" --version 2>/dev/null)" == "${BUF_VERSION}" ]]; then
  echo "${BUF}"
  exit 0
fi

if ! command -v npm >/dev/null 2>&1; then
  echo "get_buf: npm is needed to install buf (apt-get install npm)" >&2
  exit 1
fi
mkdir -p "${PREFIX}"
npm install --prefix "${PREFIX}" --ignore-scripts --no-audit --no-fund --loglevel=error \
  "@bufbuild/buf@${BUF_VERSION}" >&2

if [[ "$("${BUF}" --version)" != "${BUF_VERSION}" ]]; then
  echo "get_buf: ${BUF} is not buf ${BUF_VERSION}" >&2
  exit 1
fi
echo "${BUF}"
