"""The on-disk engine cache: an engine is only valid for one model, TensorRT version, GPU and
build settings, so its key hashes all of them."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

from backends.tensorrt.profiles import Profile


def file_sha256(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def engine_cache_key(
    model_sha256: str,
    tensorrt_version: str,
    gpu_name: str,
    compute_capability: str,
    precision: str,
    profiles: Mapping[str, Profile],
    extra: Mapping[str, str] | None = None,
) -> str:
    """A hex key; any change of model bytes, TensorRT, GPU, precision, profiles or extra changes it."""
    material = {
        "model": model_sha256,
        "tensorrt": tensorrt_version,
        "gpu": gpu_name,
        "sm": compute_capability,
        "precision": precision,
        "profiles": {name: profiles[name].as_key() for name in sorted(profiles)},
        "extra": dict(sorted((extra or {}).items())),
    }
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()[:32]


class EngineCache:
    """<dir>/<key>.engine plus <key>.json describing what it was built from."""

    def __init__(self, directory: Path | str) -> None:
        self.directory = Path(directory)

    def path(self, key: str) -> Path:
        return self.directory / f"{key}.engine"

    def load(self, key: str) -> bytes | None:
        try:
            return self.path(key).read_bytes()
        except FileNotFoundError:
            return None

    def store(self, key: str, engine: bytes, description: Mapping[str, object]) -> Path:
        """Write atomically, so a concurrent reader sees the old state or the whole engine."""
        self.directory.mkdir(parents=True, exist_ok=True)
        for suffix, data in ((".json", json.dumps(dict(description), indent=2).encode()), (".engine", engine)):
            fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=f".{key}", suffix=suffix)
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(tmp, self.directory / f"{key}{suffix}")
        return self.path(key)
