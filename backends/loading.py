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
  (warmup(signature), or zeros shaped by the signature) in interleaved rounds
  (backends/timing.py), the fastest is kept and the others are unloaded; the trail records
  each median ("timed"), and the medians are kept in the timing cache, so the next start
  with the same artifact, runtimes and CPU loads only the winner (reason "cached timing").
- selection="auto" (the default): "fastest" when two or more CPU runtimes could serve the
  model and nothing pins one (no backend, providers or GPU in the way), else "first". A model
  whose first runtime answers in under 1 ms keeps it: the others are not worth loading.
- Nothing loads: NoBackendLoadedError (a BackendLoadError, code UNAVAILABLE) whose .trail
  is the full trail and whose message leads with the cause (DecisionTrail.failure_reason):
  the first failure in the runtime's own words, the other failures, then the candidates
  skipped without being tried, grouped by reason.
- Reasons never show an absolute server path: paths below `relative_to` (the model
  repository) are shown relative to it, any other absolute path by its file name.

trail.to_dict() is what GetModel returns; trail.chosen_label ("onnxruntime[CPU]@cpu") is
the metric label of the chosen backend/device. The trail's types live in backends/trail.py
(re-exported here); timing and its cache in backends/timing.py.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np

from backends import registry
from backends.base import Backend, ModelSignature
from backends.selection import Candidate, auto_selection
from backends.timing import (
    FASTEST_FLOOR_SECONDS,
    TIMED_RUNS,
    CachedTiming,
    TimingCache,
    input_shapes,
    time_backends,
)
from backends.trail import DecisionTrail as DecisionTrail
from backends.trail import NoBackendLoadedError as NoBackendLoadedError
from backends.trail import Outcome as Outcome
from backends.trail import TrailEntry as TrailEntry
from protos.datatypes import numpy_dtype

log = logging.getLogger("switchyard.selection")

Warmup = Callable[[ModelSignature], Mapping[str, np.ndarray]]


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


def _remembered(
    candidates: Sequence[Candidate], artifact: Path, cache: TimingCache | None
) -> tuple[str | None, CachedTiming | None]:
    """(cache key, the timing kept under it when it covers every viable candidate)."""
    viable = [c for c in candidates if c.viable]
    if cache is None or len(viable) < 2:
        return None, None
    key = cache.key({c.label: _artifact_for(artifact, c) for c in viable}, viable)
    cached = cache.get(key)
    return key, cached if cached is not None and {c.label for c in viable} <= set(cached.medians) else None


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


@dataclass
class _Loaded:
    index: int  # in the candidate list, which orders the trail
    candidate: Candidate
    backend: Backend
    signature: ModelSignature
    load_seconds: float


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.3g} ms"


@dataclass
class _Timing:
    """What selection "fastest" needs: how to time, where to remember, and what is remembered."""

    warmup: Warmup | None
    runs: int
    cache: TimingCache | None
    floor_seconds: float | None  # selection auto: a first runtime under this is kept untimed
    key: str | None = None
    remembered: CachedTiming | None = None


def load_with_fallback(
    candidates: Sequence[Candidate],
    artifact: Path,
    *,
    create_backend: Callable[[str], Backend] = registry.create_backend,
    strict: bool = False,
    selection: str = "first",
    clock: Callable[[], float] = time.perf_counter,
    warmup: Warmup | None = None,
    warmup_runs: int = TIMED_RUNS,
    relative_to: Path | None = None,
    timing_cache: TimingCache | None = None,
    floor_seconds: float = FASTEST_FLOOR_SECONDS,
) -> LoadResult:
    """Load the first (or, with selection="fastest", the fastest) viable candidate; see the module doc.

    selection="auto": "fastest" where two or more CPU runtimes could serve and nothing pins
    one (backends.selection.auto_selection), else "first"; under auto, a model whose first
    runtime answers in less than floor_seconds keeps it without loading the others.
    relative_to: the folder reasons show paths relative to (the model repository).
    timing_cache: where the fastest selection's medians are kept, so a restart does not time again.
    """
    auto = selection == "auto"
    if auto:
        selection = auto_selection(candidates, strict)
    timing = _Timing(warmup, warmup_runs, timing_cache, floor_seconds if auto else None)
    run = _Selection(candidates, Path(artifact), create_backend, strict, selection, clock, relative_to)
    return run.load(timing)


class _Selection:
    """One load_with_fallback call: the candidates tried, loaded, and the trail entries so far."""

    def __init__(
        self,
        candidates: Sequence[Candidate],
        artifact: Path,
        create_backend: Callable[[str], Backend],
        strict: bool,
        selection: str,
        clock: Callable[[], float],
        relative_to: Path | None,
    ) -> None:
        self.candidates, self.artifact, self.create_backend = candidates, artifact, create_backend
        self.strict, self.selection, self.clock, self.relative_to = strict, selection, clock, relative_to
        self.entries: dict[int, TrailEntry] = {}
        self.loaded: list[_Loaded] = []
        self.waiting: list[int] = []  # viable candidates the fastest selection may still load
        self.tried_failed: Candidate | None = None

    def load(self, timing: _Timing) -> LoadResult:
        order = list(range(len(self.candidates)))
        if self.selection == "fastest":
            timing.key, timing.remembered = _remembered(self.candidates, self.artifact, timing.cache)
        if timing.remembered is not None:  # the remembered winner loads first; the others only to re-time
            best = next(i for i in order if self.candidates[i].label == timing.remembered.winner)
            order = [best, *(i for i in order if i != best)]
        for index in order:
            self._consider(index)
        if self.strict and self.tried_failed is not None:
            for item in self.loaded:
                _unload(item.backend)
            what = shown_path(_artifact_for(self.artifact, self.tried_failed), self.relative_to)
            raise NoBackendLoadedError(self.trail().failure_reason(what), self.trail())
        if not self.loaded:
            what = shown_path(self.artifact, self.relative_to)
            raise NoBackendLoadedError(self.trail().failure_reason(what), self.trail())
        first = self.loaded[0]
        winner = self._fastest(first, timing) if self.selection == "fastest" else self._keep(first)
        result = self.trail()
        log.debug("model %s runs on %s: %s", self.artifact, result.chosen_label, result.summary())
        return LoadResult(winner.backend, winner.signature, winner.candidate, result)

    def trail(self) -> DecisionTrail:
        return DecisionTrail(tuple(self.entries[i] for i in sorted(self.entries)), self.strict, self.selection)

    def _consider(self, index: int) -> None:
        candidate = self.candidates[index]
        if not candidate.viable:
            self.entries[index] = _entry(candidate, Outcome.SKIPPED, candidate.reason)
        elif self.strict and self.tried_failed is not None:
            why = f"strict: no fallback after {self.tried_failed.label} failed"
            self.entries[index] = _entry(candidate, Outcome.SKIPPED, why)
        elif self.loaded and self.selection == "fastest":
            self.waiting.append(index)
        elif self.loaded:
            why = f"not tried: {self.loaded[0].candidate.label} loaded first"
            self.entries[index] = _entry(candidate, Outcome.SKIPPED, why)
        else:
            self._attempt(index)

    def _attempt(self, index: int) -> None:
        """Load one candidate: into `loaded`, or a FAILED entry in the trail."""
        candidate = self.candidates[index]
        start = self.clock()
        backend: Backend | None = None
        try:
            backend = self.create_backend(candidate.backend)
            signature = backend.load(_artifact_for(self.artifact, candidate), candidate.options, candidate.device)
        except Exception as exc:
            reason, cause = _failure_texts(exc, self.relative_to)
            self.entries[index] = _entry(candidate, Outcome.FAILED, reason, self.clock() - start, cause=cause)
            # The repository logs one line per model with the outcome; this is the detail.
            log.debug("backend %s failed to load %s: %s", candidate.label, self.artifact, reason, exc_info=exc)
            if backend is not None:
                _unload(backend)
            if not self.loaded and self.tried_failed is None:
                self.tried_failed = candidate
            return
        self.loaded.append(_Loaded(index, candidate, backend, signature, self.clock() - start))

    def _keep(self, winner: _Loaded, reason: str = "", median: float | None = None) -> _Loaded:
        for item in self.loaded:
            if item is not winner:
                _unload(item.backend)
        self.entries[winner.index] = _entry(winner.candidate, Outcome.CHOSEN, reason, winner.load_seconds, median)
        return winner

    def _skip_waiting(self, why: str) -> None:
        for index in self.waiting:
            self.entries.setdefault(index, _entry(self.candidates[index], Outcome.SKIPPED, why))

    def _fastest(self, first: _Loaded, timing: _Timing) -> _Loaded:
        try:
            inputs = timing.warmup(first.signature) if timing.warmup else synthetic_inputs(first.signature)
            remembered = timing.remembered
            if remembered is not None and remembered.winner == first.candidate.label:
                if remembered.inputs == input_shapes(inputs):
                    return self._from_cache(first, remembered)
            if timing.floor_seconds is not None and remembered is None:
                (median,) = time_backends([first.backend], inputs, self.clock, timing.runs)
                if median < timing.floor_seconds:
                    label, floor = first.candidate.label, _ms(timing.floor_seconds)
                    self._skip_waiting(f"not timed: {label} answers in {_ms(median)}, under {floor}")
                    return self._keep(first, f"median {_ms(median)}: other runtimes not worth timing", median)
            for index in self.waiting:
                self._attempt(index)
            medians = time_backends([item.backend for item in self.loaded], inputs, self.clock, timing.runs)
        except Exception as exc:
            return self._untimed(first, exc)
        timings = list(zip(self.loaded, medians, strict=True))
        winner, median = min(timings, key=lambda pair: pair[1])
        for item, seconds in timings:
            if item is not winner:
                why = f"median {_ms(seconds)}, slower than {winner.candidate.label}"
                self.entries[item.index] = _entry(item.candidate, Outcome.TIMED, why, item.load_seconds, seconds)
        if timing.cache is not None and timing.key is not None and len(timings) > 1:
            timing.cache.put(timing.key, {item.candidate.label: seconds for item, seconds in timings}, inputs)
        return self._keep(winner, f"{'fastest: ' if len(timings) > 1 else ''}median {_ms(median)}", median)

    def _from_cache(self, winner: _Loaded, cached: CachedTiming) -> _Loaded:
        for index in self.waiting:
            label = self.candidates[index].label
            why = f"cached timing: median {_ms(cached.medians[label])}, slower than {winner.candidate.label}"
            self.entries[index] = _entry(self.candidates[index], Outcome.TIMED, why, None, cached.medians[label])
        where = shown_path(self.artifact, self.relative_to)
        log.info("%s: the runtimes' timings came from the cache: %s", where, cached.winner)
        median = cached.medians[cached.winner]
        return self._keep(winner, f"fastest: median {_ms(median)} (cached timing)", median)

    def _untimed(self, first: _Loaded, exc: Exception) -> _Loaded:
        """The timing inputs do not run: serve the policy's first choice, as "first" would."""
        why = f"not timed: the timing inputs failed ({_failure_texts(exc, self.relative_to)[0]})"
        log.warning("%s: %s; keeping %s", shown_path(self.artifact, self.relative_to), why, first.candidate.label)
        self._skip_waiting(why)
        for item in self.loaded:
            if item is not first:
                self.entries[item.index] = _entry(item.candidate, Outcome.SKIPPED, why, item.load_seconds)
        return self._keep(first, why)
