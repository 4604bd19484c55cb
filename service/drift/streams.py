"""Per-stream frame statistics: one camera going dark or out of focus among many that are fine.

A model's own frame windows mix every stream it serves, so one bad camera among twenty moves
them little. Each StreamVideo session of a monitored model therefore keeps a small summary of
its own sampled frames: how many, their mean brightness, contrast and blur, and PSI/KS of its
own (smaller) windows against the model's reference. It is fed on the monitor's thread
(DriftMonitor.offer_frame) and read by /metrics, which exports bounded per-model aggregates
(service/drift/collector.py), never a label per stream.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Mapping

import numpy as np

from service.drift.frames import FRAME_TENSORS
from service.drift.monitor import DriftObserver, FeatureScore, VersionDrift, drift_observer
from service.scheduling.runner import ModelRunner

log = logging.getLogger(__name__)
# Frames a stream's windows keep per statistic (at most the model's window): a few minutes of a
# camera at the default sample rate, 24 KB per stream.
STREAM_WINDOW = 1000
_numbers = itertools.count(1)


class StreamDrift:
    """One open stream's running frame summary and drift scores."""

    def __init__(self, observer: DriftObserver) -> None:
        self.observer, self.model = observer, observer.tracker
        self.number = next(_numbers)  # names the stream in log lines; never a metric label
        # (frames sampled, sum of each statistic): replaced whole, as another thread reads it.
        self._totals: tuple[int, np.ndarray] = (0, np.zeros(len(FRAME_TENSORS)))
        # Built once the model's reference exists (it is read on the monitor's thread).
        self.windows: VersionDrift | None = None

    @classmethod
    def open(cls, runner: ModelRunner) -> StreamDrift | None:
        """A registered summary for a new stream of the runner's model; None when it is not monitored."""
        observer = drift_observer(runner)
        if observer is None:
            return None
        stream = cls(observer)
        observer.monitor.streams.add(stream)
        return stream

    def offer(self, image: np.ndarray) -> None:
        """On the event loop: hand a decoded picture to the monitor (sampled there)."""
        self.observer.frame(image, self)

    def close(self) -> None:
        """The stream ended: its summary leaves /metrics, and one log line keeps it."""
        self.observer.monitor.streams.discard(self)
        means = self.means
        if means:
            worst = max(self.scores, key=lambda s: s.psi, default=None)
            log.info(
                "%s stream %d ended: %d frames sampled, mean brightness %.1f, contrast %.1f, blur %.1f%s",
                self.model.subject,
                self.number,
                self.sampled,
                *means.values(),
                f"; largest PSI {worst.psi:.3f} ({worst.tensor})" if worst is not None else "",
            )

    @property
    def sampled(self) -> int:
        return self._totals[0]

    @property
    def means(self) -> dict[str, float]:
        """Mean of each statistic over the frames sampled so far (empty before the first)."""
        count, sums = self._totals
        if not count:
            return {}
        return {name: float(total / count) for name, total in zip(FRAME_TENSORS, sums, strict=True)}

    @property
    def scores(self) -> tuple[FeatureScore, ...]:
        return self.windows.scores if self.windows is not None else ()

    @property
    def drifting(self) -> bool:
        return self.windows is not None and self.windows.drifting

    def fold(self, statistics: Mapping[str, np.ndarray]) -> None:
        """On the monitor's thread, after the model's tracker took the same statistics."""
        count, sums = self._totals
        self._totals = (count + 1, sums + [float(statistics[name][0, 0]) for name in FRAME_TENSORS])
        reference = self.model.reference
        if reference is None:
            return
        if self.windows is None:
            config = self.model.config.model_copy(update={"window": min(self.model.config.window, STREAM_WINDOW)})
            subject = f"{self.model.subject} stream {self.number}"
            self.windows = VersionDrift(self.model.model, self.model.version, config, reference, subject=subject)
        self.windows.update_frame(statistics)
        if self.windows.due:
            self.windows.rescore()

    def rescore(self) -> None:
        if self.windows is not None:
            self.windows.rescore()
