"""Load a model on the first candidate that works, and say why: the decision trail.

The repository calls, once per model version:

    candidates = select_candidates(report, version_dir, prefs)
    backend, signature, chosen, trail = load_with_fallback(
        candidates, version_dir, strict=prefs.strict, selection=prefs.selection)

- Candidates are tried in order; a candidate that raises while loading is recorded as
  "failed" (with the error) and the next is tried. Skipped candidates (no device, no
  runtime, wrong format, ...) are recorded as "skipped" with their reason.
- strict=True: only the first viable candidate is tried; its failure raises.
- selection="fastest": every viable candidate is loaded and timed on warmup inputs
  (warmup(signature), or zeros shaped by the signature), the fastest is kept and the others
  are unloaded; the trail records each timing.
- Nothing loads: NoBackendLoadedError (a BackendLoadError, code UNAVAILABLE) whose message
  carries the trail summary and whose .trail is the full trail.

trail.to_dict() is what GetModel returns; trail.chosen_label ("onnxruntime[CPU]@cpu") is
the metric label of the chosen backend/device.
"""

from __future__ import annotations

import enum
import json
import logging
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from backends import registry
from backends.base import Backend, ModelSignature
from backends.selection import Candidate
from protos.datatypes import numpy_dtype
from protos.errors import BackendLoadError

log = logging.getLogger("switchyard.selection")

Warmup = Callable[[ModelSignature], Mapping[str, np.ndarray]]


class Outcome(enum.Enum):
    CHOSEN = "chosen"
    SKIPPED = "skipped"
    FAILED = "failed"
    TIMED = "timed"


@dataclass(frozen=True)
class TrailEntry:
    label: str  # onnxruntime[CUDA]@nvidia:gpu:0
    backend: str
    device: str
    providers: tuple[str, ...]
    outcome: Outcome
    reason: str = ""
    load_seconds: float | None = None
    infer_seconds: float | None = None  # median warmup inference, selection "fastest" only
    skip: str | None = None  # the SkipReason code for skipped candidates

    def to_dict(self) -> dict[str, Any]:
        return asdict(self) | {"outcome": self.outcome.value}

    def line(self) -> str:
        timing = f" load {self.load_seconds:.3f}s" if self.load_seconds is not None else ""
        if self.infer_seconds is not None:
            timing += f" infer {self.infer_seconds * 1e3:.3f}ms"
        return f"{self.label}: {self.outcome.value}{timing}" + (f" ({self.reason})" if self.reason else "")


@dataclass(frozen=True)
class DecisionTrail:
    entries: tuple[TrailEntry, ...]
    strict: bool = False
    selection: str = "first"

    @property
    def chosen(self) -> TrailEntry | None:
        return next((e for e in self.entries if e.outcome is Outcome.CHOSEN), None)

    @property
    def chosen_label(self) -> str:
        return self.chosen.label if self.chosen else "none"

    def summary(self) -> str:
        """One line per candidate, for logs and error messages."""
        return "; ".join(e.line() for e in self.entries)

    def to_dict(self) -> dict[str, Any]:
        return {
            "strict": self.strict,
            "selection": self.selection,
            "chosen": self.chosen_label,
            "entries": [e.to_dict() for e in self.entries],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict())


class NoBackendLoadedError(BackendLoadError):
    """No candidate loaded (or strict mode's first choice failed); .trail says why."""

    def __init__(self, message: str, trail: DecisionTrail) -> None:
        super().__init__(f"{message}: {trail.summary()}")
        self.trail = trail


class LoadResult(NamedTuple):
    backend: Backend
    signature: ModelSignature
    candidate: Candidate
    trail: DecisionTrail


def _entry(
    c: Candidate,
    outcome: Outcome,
    reason: str = "",
    load_seconds: float | None = None,
    infer_seconds: float | None = None,
) -> TrailEntry:
    return TrailEntry(
        c.label,
        c.backend,
        str(c.device),
        c.providers,
        outcome,
        reason,
        None if load_seconds is None else round(load_seconds, 6),
        None if infer_seconds is None else round(infer_seconds, 9),
        c.skip.value if c.skip else None,
    )


def synthetic_inputs(signature: ModelSignature) -> dict[str, np.ndarray]:
    """Zeros shaped by the signature, dynamic dims as 1: warmup inputs when none are given."""
    inputs: dict[str, np.ndarray] = {}
    for spec in signature.inputs:
        shape = tuple(1 if d < 0 else d for d in spec.shape)
        if spec.datatype == "BYTES":
            inputs[spec.name] = np.full(shape, b"", dtype=object)
        else:
            inputs[spec.name] = np.zeros(shape, dtype=numpy_dtype(spec.datatype))
    return inputs


def _artifact_for(artifact: Path, candidate: Candidate) -> Path:
    return artifact / candidate.artifact_name if artifact.is_dir() and candidate.artifact_name else artifact


def _unload(backend: Backend) -> None:
    try:
        backend.unload()
    except Exception:
        log.exception("unloading %s failed", getattr(backend, "name", backend))


def load_with_fallback(
    candidates: Sequence[Candidate],
    artifact: Path,
    *,
    create_backend: Callable[[str], Backend] = registry.create_backend,
    strict: bool = False,
    selection: str = "first",
    clock: Callable[[], float] = time.perf_counter,
    warmup: Warmup | None = None,
    warmup_runs: int = 3,
) -> LoadResult:
    """Load the first (or, with selection="fastest", the fastest) viable candidate; see the module doc."""
    artifact = Path(artifact)
    entries: list[tuple[Candidate, TrailEntry]] = []
    loaded: list[tuple[Candidate, Backend, ModelSignature, float, float | None]] = []
    tried_failed: Candidate | None = None

    for candidate in candidates:
        if not candidate.viable:
            entries.append((candidate, _entry(candidate, Outcome.SKIPPED, candidate.reason)))
            continue
        if (loaded and selection != "fastest") or (strict and tried_failed is not None):
            why = (
                f"strict: no fallback after {tried_failed.label} failed"
                if strict and tried_failed
                else f"not tried: {loaded[0][0].label} loaded first"
            )
            entries.append((candidate, _entry(candidate, Outcome.SKIPPED, why)))
            continue
        start = clock()
        backend: Backend | None = None
        try:
            backend = create_backend(candidate.backend)
            signature = backend.load(_artifact_for(artifact, candidate), candidate.options, candidate.device)
            load_seconds = clock() - start
            infer_seconds = (
                _time_inference(backend, signature, clock, warmup, warmup_runs) if selection == "fastest" else None
            )
        except Exception as exc:
            reason = str(exc) if isinstance(exc, BackendLoadError) else f"{type(exc).__name__}: {exc}"
            entries.append((candidate, _entry(candidate, Outcome.FAILED, reason, clock() - start)))
            log.warning("backend %s failed to load %s: %s", candidate.label, artifact, reason)
            if backend is not None:
                _unload(backend)
            if not loaded and tried_failed is None:
                tried_failed = candidate
            continue
        loaded.append((candidate, backend, signature, load_seconds, infer_seconds))
        entries.append(
            (
                candidate,
                _entry(
                    candidate,
                    Outcome.TIMED if selection == "fastest" else Outcome.CHOSEN,
                    "",
                    load_seconds,
                    infer_seconds,
                ),
            )
        )

    if strict and tried_failed is not None:
        for _, backend, *_ in loaded:
            _unload(backend)
        trail = DecisionTrail(tuple(e for _, e in entries), strict, selection)
        what = _artifact_for(artifact, tried_failed).name
        raise NoBackendLoadedError(f"strict: {tried_failed.label} failed to load {what}", trail)
    if not loaded:
        trail = DecisionTrail(tuple(e for _, e in entries), strict, selection)
        raise NoBackendLoadedError(f"no backend could load {artifact.name}", trail)

    winner = min(loaded, key=lambda item: item[4] or 0.0) if selection == "fastest" else loaded[0]
    for item in loaded:
        if item is not winner:
            _unload(item[1])
    final = []
    for candidate, entry in entries:
        if candidate is winner[0]:
            reason = "fastest" if selection == "fastest" and len(loaded) > 1 else ""
            entry = TrailEntry(**{**entry.__dict__, "outcome": Outcome.CHOSEN, "reason": reason})
        elif entry.outcome is Outcome.TIMED:
            entry = TrailEntry(**{**entry.__dict__, "reason": f"slower than {winner[0].label}"})
        final.append(entry)
    trail = DecisionTrail(tuple(final), strict, selection)
    log.info("model %s runs on %s: %s", artifact, trail.chosen_label, trail.summary())
    return LoadResult(winner[1], winner[2], winner[0], trail)


def _time_inference(
    backend: Backend, signature: ModelSignature, clock: Callable[[], float], warmup: Warmup | None, runs: int
) -> float:
    inputs = warmup(signature) if warmup else synthetic_inputs(signature)
    backend.infer(inputs)  # first run pays one-off costs (allocation, lazy compilation)
    samples = []
    for _ in range(max(1, runs)):
        start = clock()
        backend.infer(inputs)
        samples.append(clock() - start)
    return statistics.median(samples)
