"""Quantized artifacts on disk, keyed by what makes them: model bytes, calibration set, precision, runtime."""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from backends.digest import model_digest, model_files


def artifact_key(artifact: Path, calibration_digest: str, precision: str, runtime_version: str) -> str:
    with artifact.open("rb") as f:
        h = hashlib.file_digest(f, "sha256")
    for weights in model_files(artifact)[1:]:  # an OpenVINO IR's .bin: new weights, a new INT8 model
        h.update(model_digest(weights).encode())
    h.update(f"|{calibration_digest}|{precision}|{runtime_version}".encode())
    return h.hexdigest()[:32]


def cached_artifact(cache_dir: Path, key: str, file_name: str, build: Callable[[Path], None]) -> tuple[Path, bool]:
    """(path, built): the cached file, calling build(tmp_path) only when it is absent.

    The build writes into a private folder renamed into place, so a concurrent loader or a
    crash mid-build never leaves a half-written artifact under the key.
    """
    final_dir = cache_dir / key
    final = final_dir / file_name
    if final.is_file():
        return final, False
    cache_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=cache_dir))
    try:
        build(work / file_name)
        try:
            os.rename(work, final_dir)
        except OSError:  # another loader finished first: keep theirs
            if not final.is_file():
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return final, True
