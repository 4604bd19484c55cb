"""Counters of StreamVideo per model: streams opened and open now, frames by outcome.

Plain ints bumped on the event loop; the metrics collector reads them at scrape time.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

OUTCOMES = ("result", "error", "dropped")


@dataclass
class VideoStats:
    streams_opened: Counter = field(default_factory=Counter)  # model -> streams
    streams_active: Counter = field(default_factory=Counter)  # model -> open now
    frames: Counter = field(default_factory=Counter)  # (model, outcome) -> frames

    def opened(self, model: str) -> None:
        self.streams_opened[model] += 1
        self.streams_active[model] += 1

    def closed(self, model: str) -> None:
        self.streams_active[model] -= 1

    def answered(self, model: str, outcome: str | None) -> None:
        if outcome in OUTCOMES:
            self.frames[(model, outcome)] += 1

    def models(self) -> Iterator[str]:
        yield from sorted(self.streams_opened)
