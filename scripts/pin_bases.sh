#!/usr/bin/env bash
# Resolve the digest of every base image a Dockerfile names, at release time:
#   docker build $(scripts/pin_bases.sh nvidia) -f docker/Dockerfile.nvidia -t ...:0.1.0-nvidia .
# prints one `--build-arg <NAME>_DIGEST=@sha256:<digest>` per `ARG <NAME>_IMAGE=<tag>` of
# docker/Dockerfile.<flavor>, so the build uses exactly the image the tag named when it was
# resolved (FROM ${<NAME>_IMAGE}${<NAME>_DIGEST}). Record the printed line with the release.
#
# The digest comes from the registry: `crane digest` when crane is installed, else
# `docker buildx imagetools inspect`. PIN_RESOLVER overrides both (a command that takes the
# image reference and prints its sha256:... digest).
set -euo pipefail

flavor=${1:?usage: scripts/pin_bases.sh cpu|nvidia|amd|intel}
dockerfile="$(dirname "$0")/../docker/Dockerfile.${flavor}"
[[ -f "$dockerfile" ]] || { echo "no $dockerfile" >&2; exit 2; }

resolve() {
  if [[ -n "${PIN_RESOLVER:-}" ]]; then
    ${PIN_RESOLVER} "$1"
  elif command -v crane >/dev/null; then
    crane digest "$1"
  elif command -v docker >/dev/null; then
    docker buildx imagetools inspect --format '{{json .Manifest.Digest}}' "$1" | tr -d '"'
  else
    echo "need crane or docker buildx to resolve $1" >&2
    return 1
  fi
}

args=()
while IFS='=' read -r name image; do
  digest=$(resolve "$image")
  if [[ ! "$digest" =~ ^sha256:[0-9a-f]{64}$ ]]; then
    echo "$image: not a digest: $digest" >&2
    exit 1
  fi
  args+=("--build-arg" "${name%_IMAGE}_DIGEST=@${digest}")
done < <(sed -n 's/^ARG \([A-Z_]*_IMAGE\)=\(.*\)$/\1=\2/p' "$dockerfile")
echo "${args[@]}"
