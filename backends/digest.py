"""What identifies a model's bytes: the file, and for an OpenVINO IR (.xml) its weights (.bin) too.

An IR's .xml is only the graph; a new .bin with the same .xml is a different model, so
anything remembered per model (fastest-runtime timings, quantized artifacts) keys on both.
"""

from __future__ import annotations

import hashlib
from pathlib import Path


def model_digest(path: Path) -> str:
    """sha256 of a model file, with an OpenVINO IR's weights (.bin beside the .xml)."""
    h = hashlib.sha256()
    for part in model_files(path):
        with part.open("rb") as f:
            h.update(hashlib.file_digest(f, "sha256").digest())
    return h.hexdigest()


def model_files(path: Path) -> list[Path]:
    """The files a model is made of: itself, and an IR's weights when they are there."""
    weights = path.with_suffix(".bin")
    return [path, weights] if path.suffix == ".xml" and weights.is_file() else [path]
