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
- Nothing loads: NoBackendLoadedError (a BackendLoadError, code UNAVAILABLE) whose .trail
  is the full trail and whose message leads with the cause (DecisionTrail.failure_reason):
  the first failure in the runtime's own words, the other failures, then the candidates
  skipped without being tried, grouped by reason.
- Reasons never show an absolute server path: paths below `relative_to` (the model
  repository) are shown relative to it, any other absolute path by its file name.

trail.to_dict() is what GetModel returns; trail.chosen_label ("onnxruntime[CPU]@cpu") is
the metric label of the chosen backend/device.
"""

from __future__ import annotations

import enum
import json
import logging
import re
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
    # A failed candidate's error in the runtime's own words (reason minus our "could not load X: " wrapper).
    cause: str = ""

    @property
    def context(self) -> str:
        """What our wrapper said around the runtime's words, e.g. "onnxruntime could not load model.onnx"."""
        if self.cause and self.reason != self.cause and self.reason.endswith(self.cause):
            return self.reason[: -len(self.cause)].rstrip(": ")
        return ""

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
    # The precision decision, one line per precision tried (int8 gate figures included).
    precision: tuple[str, ...] = ()

    @property
    def chosen(self) -> TrailEntry | None:
        return next((e for e in self.entries if e.outcome is Outcome.CHOSEN), None)

    @property
    def chosen_label(self) -> str:
        return self.chosen.label if self.chosen else "none"

    def summary(self) -> str:
        """One line per candidate, for logs and error messages."""
        return "; ".join([*(f"precision {line}" for line in self.precision), *(e.line() for e in self.entries)])

    @property
    def failures(self) -> tuple[TrailEntry, ...]:
        return tuple(e for e in self.entries if e.outcome is Outcome.FAILED)

    def failure_reason(self, what: str) -> str:
        """Why `what` did not load, cause first: what a person reads in ListModels and the log.

        The first failure leads, in the runtime's own words and then which candidate said it;
        the other failures follow; the candidates skipped without trying (no such GPU, runtime
        not installed) come last, grouped by reason.
        """
        failures = self.failures
        if failures:
            first = failures[0]
            where = f"strict: {first.label} failed to load {what}; no fallback" if self.strict else first.label
            if first.context:
                where += f": {first.context}"
            parts = [f"{first.cause or first.reason} ({where})"]
            if len(failures) > 1:
                parts.append("also failed: " + "; ".join(f"{e.label}: {e.cause or e.reason}" for e in failures[1:]))
        else:
            parts = [f"no backend could load {what} here"]
        skipped = [e for e in self.entries if e.outcome is Outcome.SKIPPED]
        if skipped:
            parts.append("skipped: " + _grouped(skipped))
        return " | ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "strict": self.strict,
            "selection": self.selection,
            "chosen": self.chosen_label,
            "precision": list(self.precision),
            "entries": [e.to_dict() for e in self.entries],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict())


class NoBackendLoadedError(BackendLoadError):
    """No candidate loaded (or strict mode's first choice failed); .trail says why."""

    def __init__(self, message: str, trail: DecisionTrail) -> None:
        super().__init__(message)
        self.trail = trail


def _grouped(entries: Sequence[TrailEntry]) -> str:
    """'a, b (no AMD GPU found); c (tensorrt is not installed)': one reason per group, first-seen order."""
    labels: dict[str, list[str]] = {}
    for e in entries:
        labels.setdefault(e.reason, []).append(e.label)
    return "; ".join(", ".join(names) + (f" ({reason})" if reason else "") for reason, names in labels.items())


# OpenVINO prefixes its messages with C++ source locations ("Exception from src/...cpp:84:").
_SOURCE_FRAME = re.compile(r"Exception from \S+:\d+:\s*")
# An absolute path: a "/" that does not continue a word, a relative path or a URL.
_ABSOLUTE_PATH = re.compile(r"(?<![\w.~:/-])/[^\s\"'`()<>:;,]+")


def shown_text(text: str, relative_to: Path | None = None) -> str:
    """A runtime's message as a client may see it: one line, no source frames, no absolute paths.

    Paths below relative_to (the model repository) become relative to it
    ("tiny_cnn/1/model.onnx"); any other absolute path is reduced to its file name.
    """
    if relative_to is not None:
        for root in dict.fromkeys((relative_to.as_posix(), relative_to.resolve().as_posix())):
            if root.strip("/"):  # a repository at "/" would turn every path relative
                text = text.replace(root.rstrip("/") + "/", "")
    text = _ABSOLUTE_PATH.sub(lambda m: m.group().rstrip("/").rsplit("/", 1)[-1], text)
    return " ".join(_SOURCE_FRAME.sub("", text).split())


def shown_path(path: Path, relative_to: Path | None = None) -> str:
    """path relative to relative_to when it lies below it, else just its name."""
    if relative_to is not None:
        for root in (relative_to, relative_to.resolve()):
            if path.is_relative_to(root):
                return path.relative_to(root).as_posix()
    return path.name


def _failure_texts(exc: BaseException, relative_to: Path | None) -> tuple[str, str]:
    """(reason, cause): our message, and the runtime's own words inside it when it wraps them."""
    # No Python exception names: a client reads this (an empty message says only that it failed).
    reason = shown_text(str(exc), relative_to) or "failed without a message"
    inner = exc.__cause__
    cause = shown_text(str(inner), relative_to) if inner is not None else ""
    return reason, (cause if cause and reason.endswith(cause) else reason)


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
    cause: str = "",
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
        cause,
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
    relative_to: Path | None = None,
) -> LoadResult:
    """Load the first (or, with selection="fastest", the fastest) viable candidate; see the module doc.

    relative_to: the folder reasons show paths relative to (the model repository).
    """
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
            reason, cause = _failure_texts(exc, relative_to)
            entries.append((candidate, _entry(candidate, Outcome.FAILED, reason, clock() - start, cause=cause)))
            # The repository logs one line per model with the outcome; this is the detail.
            log.debug("backend %s failed to load %s: %s", candidate.label, artifact, reason, exc_info=exc)
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
        what = shown_path(_artifact_for(artifact, tried_failed), relative_to)
        raise NoBackendLoadedError(trail.failure_reason(what), trail)
    if not loaded:
        trail = DecisionTrail(tuple(e for _, e in entries), strict, selection)
        raise NoBackendLoadedError(trail.failure_reason(shown_path(artifact, relative_to)), trail)

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
    log.debug("model %s runs on %s: %s", artifact, trail.chosen_label, trail.summary())
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
