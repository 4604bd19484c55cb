"""The repository's state for people: one log line per model, and the rows of the start-up table.

Both read the same entries, so the log and the table (`switchyard serve` prints it once the
first load is done) always agree.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable
from dataclasses import dataclass

from service.repository.entries import ModelEntry, ModelState, ModelVersion

COLUMNS = ("model", "version", "state", "backend", "device", "precision", "load s", "warmup s", "detail")


@dataclass(frozen=True)
class SummaryRow:
    model: str
    version: str  # "-" for a folder that has no loadable versions (no or broken config.yaml)
    state: str
    backend: str = ""
    device: str = ""
    load_seconds: float | None = None
    detail: str = ""
    warmup_seconds: float | None = None  # None: the config lists no warmup
    # Why the model's latest reload was refused (its rows still serve the versions before it).
    last_reload_error: str = ""
    precision: str = ""  # the effective one (fp32, fp16, bf16, int8) of a loaded version

    def cells(self) -> tuple[str, ...]:
        """The row as table cells, in COLUMNS order; the detail only up to its first " | " (the cause).

        The full reason (what also failed, what was skipped) is in the model's log line above the
        table and in ListModels; the table stays readable in a terminal.
        """
        seconds = "" if self.load_seconds is None else f"{self.load_seconds:.2f}"
        warmup = "" if self.warmup_seconds is None else f"{self.warmup_seconds:.2f}"
        cause = self.detail.partition(" | ")[0]
        if self.last_reload_error:
            cause = "; ".join(filter(None, (cause, f"reload refused: {self.last_reload_error}")))
        return (self.model, self.version, self.state, self.backend, self.device, self.precision, seconds, warmup, cause)

    def record(self) -> dict[str, object]:
        """The row as one JSON log record's fields (json log mode); last_reload_error only when set."""
        fields: dict[str, object] = {
            "model": self.model,
            "version": self.version,
            "state": self.state,
            "backend": self.backend,
            "device": self.device,
            "precision": self.precision,
            "load_seconds": self.load_seconds,
            "warmup_seconds": self.warmup_seconds,
            "detail": self.detail.partition(" | ")[0],
        }
        if self.last_reload_error:
            fields["last_reload_error"] = self.last_reload_error
        return fields


def model_rows(entry: ModelEntry) -> list[SummaryRow]:
    rows = _version_rows(entry)
    if entry.last_reload_error:
        rows = [dataclasses.replace(row, last_reload_error=entry.last_reload_error) for row in rows]
    return rows


def _version_rows(entry: ModelEntry) -> list[SummaryRow]:
    if entry.reason:
        return [SummaryRow(entry.name, "-", ModelState.UNAVAILABLE.value, detail=entry.reason)]
    rows = []
    for number in sorted(entry.versions):
        version = entry.versions[number]
        loaded = version.loaded
        if loaded is None:
            rows.append(SummaryRow(entry.name, str(number), version.state.value, detail=version.reason))
        else:
            rows.append(
                SummaryRow(
                    entry.name,
                    str(number),
                    version.state.value,
                    loaded.backend_name,
                    str(loaded.device),
                    loaded.load_seconds,
                    _fallback_note(version) or version.reason,
                    version.warmup_seconds,
                    precision=loaded.precision,
                )
            )
    return rows


def summary_rows(entries: Iterable[ModelEntry]) -> list[SummaryRow]:
    return [row for entry in entries for row in model_rows(entry)]


def model_line(entry: ModelEntry) -> str:
    """One line for the whole model: each version's state, backend, device and load time, or why it failed."""
    if entry.reason:
        return f"model {entry.name}: {ModelState.UNAVAILABLE.value}: {entry.reason}"
    parts = []
    for row in model_rows(entry):
        text = f"version {row.version} {row.state}"
        if row.backend:
            text += f" on {row.backend} ({row.device}), loaded in {row.load_seconds or 0:.2f}s"
            if row.warmup_seconds is not None:
                text += f", warmed up in {row.warmup_seconds:.2f}s"
        parts.append(text + (f": {row.detail}" if row.detail else ""))
    return f"model {entry.name}: " + ("; ".join(parts) or "no versions")


def line_level(entry: ModelEntry) -> int:
    """INFO when every version is READY, WARNING when only some are, ERROR when none is."""
    states = {v.state for v in entry.versions.values()}
    if entry.reason or not states or ModelState.READY not in states:
        return logging.ERROR
    return logging.INFO if states == {ModelState.READY} else logging.WARNING


def _fallback_note(version: ModelVersion) -> str:
    """For a READY version that got there by fallback: what failed before, cause first."""
    loaded = version.loaded
    failures = loaded.trail.failures if loaded else ()
    if not failures:
        return ""
    return "fell back after: " + "; ".join(f"{e.label}: {e.cause or e.reason}" for e in failures)


def tally(entries: Iterable[ModelEntry]) -> str:
    """One line after a load: how many models are in each state, naming the ones not READY."""
    names: dict[ModelState, list[str]] = {}
    for entry in entries:
        names.setdefault(entry.state, []).append(entry.name)
    if not names:
        return "the repository holds no models (folders with a config.yaml)"
    parts = [
        f"{len(found)} {state.value}" + ("" if state is ModelState.READY else f" ({', '.join(found)})")
        for state in ModelState
        if (found := names.get(state))
    ]
    return "models: " + ", ".join(parts)
