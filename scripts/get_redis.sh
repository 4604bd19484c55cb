#!/usr/bin/env bash
# Makes sure redis-server is on PATH for the response cache's tests (idempotent).
# Installs the Debian package when it is missing and we are root; otherwise says why not
# and exits 0: the tests that need it then skip with that reason.
set -euo pipefail

if command -v redis-server >/dev/null 2>&1; then
  exit 0
fi
if [[ "$(id -u)" != "0" ]]; then
  echo "get_redis.sh: redis-server is missing and this is not root; run: apt-get install -y redis-server" >&2
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "get_redis.sh: redis-server is missing and there is no apt-get here; install redis-server yourself" >&2
  exit 0
fi
# The tests start their own redis-server on an ephemeral port; the package's service is not needed.
export DEBIAN_FRONTEND=noninteractive
if ! apt-get install -y --no-install-recommends redis-server >/dev/null 2>&1; then
  apt-get update >/dev/null
  apt-get install -y --no-install-recommends redis-server >/dev/null
fi
command -v redis-server >/dev/null
