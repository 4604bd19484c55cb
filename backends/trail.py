"""The decision trail: what became of every candidate the selection considered, and why.

GetModel returns trail.to_dict(); trail.chosen_label ("onnxruntime[CPU]@cpu") is the metric
label of the chosen backend/device; failure_reason() is what ListModels and the log say when
nothing loaded. Built by backends/loading.py.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from protos.errors import BackendLoadError


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
