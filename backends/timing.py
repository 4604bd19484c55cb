"""Which loaded runtime answers a model fastest: timed on the model's own inputs, and remembered.

Selection "fastest" (and "auto" on a CPU-only route list, backends/selection.py) loads each
viable candidate and times it here: one untimed call each (first-call costs), then a few
timed calls in interleaved rounds, so a burst of load on a shared machine falls on every
candidate alike; the median decides. The medians are kept in a small JSON file per key in
the cache folder, the key covering everything the outcome depends on that is known before
anything loads: the artifacts' bytes, the candidates and their options, the runtimes'
versions and the CPU (model, ISA flags, how many cores this process may use). The file also
records the input shapes timed, checked once the remembered winner has loaded (an image
model's shapes follow its config). A restart on the same machine loads only the winner;
any of those changing means timing again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import statistics
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from backends.base import Backend
from backends.digest import model_digest
from backends.probe.report import HardwareReport
from backends.selection import Candidate

log = logging.getLogger("switchyard.selection")

# Timed calls per candidate after its untimed first call.
TIMED_RUNS = 5
# Selection "auto": a first runtime answering in less than this keeps the model without the
# others being loaded; below a millisecond the RPC costs more than any runtime difference.
FASTEST_FLOOR_SECONDS = 1e-3


def cache_root(cache_dir: Path | None) -> Path:
    """The server's cache folder (timings, quantized models): --cache-dir, else ~/.cache/switchyard."""
    return Path(cache_dir or Path.home() / ".cache" / "switchyard")


def timing_cache_dir(cache_dir: Path | None) -> Path:
    """Where decisions are kept: <cache_dir>/timings, by default under ~/.cache/switchyard."""
    return cache_root(cache_dir) / "timings"


def time_backends(
    backends: Sequence[Backend], inputs: Mapping[str, np.ndarray], clock: Callable[[], float], runs: int = TIMED_RUNS
) -> list[float]:
    """Median seconds per call of each backend on the same inputs, in interleaved rounds."""
    for backend in backends:
        backend.infer(inputs)  # allocation, lazy compilation: not what serving pays per call
    samples: list[list[float]] = [[] for _ in backends]
    for _ in range(max(1, runs)):
        for backend, taken in zip(backends, samples, strict=True):
            start = clock()
            backend.infer(inputs)
            taken.append(clock() - start)
    return [statistics.median(taken) for taken in samples]


def input_shapes(inputs: Mapping[str, np.ndarray]) -> dict[str, list]:
    """name -> [shape, dtype]: what a remembered timing was measured on."""
    return {name: [list(array.shape), str(array.dtype)] for name, array in sorted(inputs.items())}


@dataclass(frozen=True)
class CachedTiming:
    medians: dict[str, float]  # candidate label -> median seconds per call
    inputs: dict[str, list]  # input_shapes() of the inputs timed

    @property
    def winner(self) -> str:
        return min(self.medians, key=self.medians.__getitem__)


@dataclass(frozen=True)
class TimingCache:
    """Medians per candidate label, one JSON file per key below `directory`."""

    directory: Path
    report: HardwareReport

    def key(self, artifacts: Mapping[str, Path], candidates: Sequence[Candidate]) -> str:
        """artifacts: label -> the file that candidate loads."""
        cpu = self.report.cpu
        versions = {c.backend: getattr(self.report.runtime(c.backend), "version", None) for c in candidates}
        digests = {path: model_digest(path) for path in set(artifacts.values())}  # runtimes often share a file
        parts = {
            "candidates": {
                c.label: [digests[artifacts[c.label]], c.options.model_dump(mode="json")] for c in candidates
            },
            "runtimes": versions,
            "cpu": [cpu.model, list(cpu.flags), cpu.logical_cpus, cpu.usable_cpus],
        }
        return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:32]

    def get(self, key: str) -> CachedTiming | None:
        path = self.directory / f"{key}.json"
        try:
            raw = json.loads(path.read_text())
            medians = {str(label): float(seconds) for label, seconds in raw["medians"].items()}
            return CachedTiming(medians, {str(name): list(shape) for name, shape in raw["inputs"].items()})
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            log.warning("ignoring unreadable runtime timing %s (%s); timing again", path.name, exc)
            return None

    def put(self, key: str, medians: Mapping[str, float], inputs: Mapping[str, np.ndarray]) -> None:
        """Written to a temporary file renamed into place: a reader never sees half a file."""
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            handle, name = tempfile.mkstemp(prefix=f".{key}-", suffix=".json", dir=self.directory)
            with os.fdopen(handle, "w") as f:
                json.dump({"medians": dict(medians), "inputs": input_shapes(inputs)}, f)
            os.replace(name, self.directory / f"{key}.json")
        except OSError as exc:  # a read-only cache costs a re-timing at the next start, nothing more
            log.warning("could not keep the runtime timing in %s: %s", self.directory, exc)
