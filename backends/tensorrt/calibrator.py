"""INT8 calibration for TensorRT: an IInt8EntropyCalibrator2 over a model's calibration samples.

The pure parts - batching the samples into contiguous arrays, reading and writing the
calibration cache - are plain classes, tested without a GPU. entropy_calibrator() builds the
TensorRT subclass around them; device copies are the caller's (cuda-python), so this module
never imports CUDA itself.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from backends.precision.calibration import Sample, batches

# Copies a host batch to the device and returns the device pointer TensorRT reads.
ToDevice = Callable[[str, np.ndarray], int]


class CalibrationFeed:
    """The calibration samples as fixed-size batches, one per get_batch call, then None."""

    def __init__(self, samples: Sequence[Sample], batch_size: int) -> None:
        # TensorRT asks for full batches of the declared size: a short last batch is dropped.
        self._batches = [b for b in batches(samples, batch_size) if len(next(iter(b.values()))) == batch_size]
        if not self._batches:
            raise ValueError(f"calibration needs at least {batch_size} samples for batch size {batch_size}")
        self.batch_size = batch_size
        self._next = 0

    def __len__(self) -> int:
        return len(self._batches)

    def shapes(self) -> dict[str, tuple[int, ...]]:
        """Each input's batch shape (every batch has the same)."""
        return {name: tuple(array.shape) for name, array in self._batches[0].items()}

    def next_batch(self, names: Sequence[str]) -> dict[str, np.ndarray] | None:
        if self._next >= len(self._batches):
            return None
        batch = self._batches[self._next]
        self._next += 1
        return {name: np.ascontiguousarray(batch[name], dtype=np.float32) for name in names}


class CalibrationCacheFile:
    """TensorRT's calibration table on disk: read when present (no recalibration), written atomically.

    Without a path (no cache folder configured) the table lives for this build only.
    """

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._memory: bytes | None = None

    def read(self) -> bytes | None:
        if self.path is None:
            return self._memory
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return None
        return data or None

    def write(self, data: bytes) -> None:
        if self.path is None:
            self._memory = data
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}-", dir=self.path.parent)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, self.path)


def entropy_calibrator(trt: Any, feed: CalibrationFeed | None, cache: CalibrationCacheFile, to_device: ToDevice) -> Any:
    """A trt.IInt8EntropyCalibrator2 reading `feed` and keeping its table in `cache`.

    feed None: the cache already holds the table, which TensorRT reads instead of calibrating.
    """

    class EntropyCalibrator(trt.IInt8EntropyCalibrator2):
        def __init__(self) -> None:
            super().__init__()  # TensorRT's Python subclasses must initialise the C++ base

        def get_batch_size(self) -> int:
            return feed.batch_size if feed is not None else 1

        def get_batch(self, names: list[str]) -> list[int] | None:
            batch = feed.next_batch(names) if feed is not None else None
            return None if batch is None else [to_device(name, batch[name]) for name in names]

        def read_calibration_cache(self) -> bytes | None:
            return cache.read()

        def write_calibration_cache(self, data: Any) -> None:
            cache.write(bytes(data))

    return EntropyCalibrator()
