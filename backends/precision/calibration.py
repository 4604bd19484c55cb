"""Calibration samples: a model's `calibration/` folder read into input dicts.

.npz files map input names to arrays; a .npy file feeds a single-input model; images
(.jpg/.png/...) go through a preprocess callable the caller supplies (the server passes the
model's vision preprocess - backends never import service).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

Sample = dict[str, np.ndarray]
ImagePreprocess = Callable[[bytes], np.ndarray]

CALIBRATION_FOLDER = "calibration"
# Optional held-out samples (same formats): the precision gate runs on them instead of the calibration set.
VALIDATION_FOLDER = "validation"
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp"})
DEFAULT_LIMIT = 64


class CalibrationError(ValueError):
    pass


def sample_folder(version_dir: Path, name: str) -> Path:
    """calibration/ (or validation/) in the version folder, else in the model folder (shared by its versions)."""
    own = version_dir / name
    return own if own.is_dir() else version_dir.parent / name


def load_calibration(
    folder: Path,
    input_names: Sequence[str],
    preprocess: ImagePreprocess | None = None,
    limit: int = DEFAULT_LIMIT,
) -> list[Sample]:
    """Up to `limit` samples, in file-name order (so the set, and its digest, are stable)."""
    if not folder.is_dir():
        raise CalibrationError(f"no calibration folder '{folder.name}'")
    samples: list[Sample] = []
    for path in sorted(folder.iterdir()):
        if len(samples) >= limit:
            break
        suffix = path.suffix.lower()
        if suffix == ".npz":
            samples.extend(_from_npz(path, input_names))
        elif suffix == ".npy":
            samples.extend(_split_batch({_single(input_names, path): np.load(path, allow_pickle=False)}))
        elif suffix in IMAGE_SUFFIXES:
            if preprocess is None:
                raise CalibrationError(f"{path.name}: images need the model's preprocess (config.yaml preprocess:)")
            samples.append({_single(input_names, path): preprocess(path.read_bytes())})
    if not samples:
        raise CalibrationError(f"calibration folder '{folder.name}' holds no .npy, .npz or image files")
    return samples[:limit]


def _single(input_names: Sequence[str], path: Path) -> str:
    if len(input_names) != 1:
        raise CalibrationError(f"{path.name}: a model with inputs {list(input_names)} needs .npz files keyed by name")
    return input_names[0]


def _from_npz(path: Path, input_names: Sequence[str]) -> list[Sample]:
    with np.load(path, allow_pickle=False) as data:
        missing = [n for n in input_names if n not in data.files]
        if missing:
            raise CalibrationError(f"{path.name}: missing inputs {missing} (has {data.files})")
        return _split_batch({n: data[n] for n in input_names})


def _split_batch(batch: Sample) -> list[Sample]:
    """One sample per row of the leading dimension, each keeping a batch dimension of 1."""
    count = min(len(a) for a in batch.values())
    return [{n: np.ascontiguousarray(a[i : i + 1]) for n, a in batch.items()} for i in range(count)]


def batches(samples: Sequence[Sample], batch_size: int) -> list[Sample]:
    """Samples concatenated into batches of `batch_size` (the last one may be shorter)."""
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    out = []
    for start in range(0, len(samples), batch_size):
        chunk = samples[start : start + batch_size]
        out.append({n: np.concatenate([s[n] for s in chunk]) for n in chunk[0]})
    return out


def digest(samples: Sequence[Sample]) -> str:
    """sha256 of the set: names, dtypes, shapes and bytes, in order."""
    h = hashlib.sha256()
    for sample in samples:
        for name in sorted(sample):
            array = np.ascontiguousarray(sample[name])
            h.update(f"{name}|{array.dtype.str}|{array.shape}".encode())
            h.update(array.tobytes())
    return h.hexdigest()
