"""The drift monitor: samples successful requests, keeps bounded windows, scores them off the request path.

The runner hands each successful request's inputs and outputs to DriftMonitor.observe on the
event loop; observe only draws a random number and, for a sampled request, puts references to
the arrays on a bounded queue (a full queue drops the sample: monitoring never slows serving).
The image and video paths hand decoded pictures the same way (offer_frame); their statistics
(service/drift/frames.py) are computed on the worker. One worker thread per server folds
samples into each version's windows and, whenever the queue runs dry, recomputes that
version's scores, which /metrics reads.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from service.drift.frames import FRAME_SIDE, frame_statistics
from service.drift.profile import PROFILE_FILE, Profile, feature_matrix, read_profile
from service.drift.scores import ks, psi
from service.repository.config import DriftConfig
from service.repository.entries import ModelEntry, ModelState, ModelVersion
from service.scheduling.runner import ModelRunner

log = logging.getLogger(__name__)

QUEUE_SIZE = 1024
# Scores are recomputed at most this often (a scrape every 15 s sees fresh ones); sorting a
# 10,000-value window per feature costs milliseconds.
RESCORE_SECONDS = 1.0
# Put on the queue by flush(): score every window now, however few values are new.
_RESCORE = object()
# Queued samples hold their requests' arrays alive: past this many bytes a sample is dropped too.
QUEUE_BYTES = 256 * 1024 * 1024
KINDS = ("nan", "inf", "out_of_range")


class Window:
    """The last `size` rows of one tensor's (values, features) matrix; NaN marks a non-finite value."""

    def __init__(self, size: int, features: int) -> None:
        self.values = np.full((size, features), np.nan)
        self.position = 0
        self.filled = 0

    def add(self, matrix: np.ndarray) -> None:
        size, features = self.values.shape
        if matrix.shape[0] > size:
            # Evenly spaced rows, not the last ones: an image's rows run in (item, y, x) order, and
            # its last rows alone would be the bottom of the picture.
            matrix = matrix[:: -(-matrix.shape[0] // size)]
        rows = matrix[:, :features]
        n = rows.shape[0]
        end = self.position + n
        if end <= size:
            self.values[self.position : end, : rows.shape[1]] = rows
        else:
            split = size - self.position
            self.values[self.position :, : rows.shape[1]] = rows[:split]
            self.values[: end - size, : rows.shape[1]] = rows[split:]
        self.position = end % size
        self.filled = min(size, self.filled + n)

    def column(self, feature: int) -> np.ndarray:
        values = self.values[: self.filled, feature]
        return values[np.isfinite(values)]


@dataclass(frozen=True)
class FeatureScore:
    tensor: str
    feature: int
    psi: float
    ks: float


class VersionDrift:
    """One model version's reference, windows, scores and data-quality counts."""

    def __init__(
        self,
        model: str,
        version: int,
        config: DriftConfig,
        reference: Profile | None,
        profile_dir: Path | None = None,
        clock: Callable[[], float] = time.monotonic,
        subject: str = "",
    ) -> None:
        self.model, self.version, self.config = model, version, config
        # Who the drifting log lines name: the version, or one stream of it.
        self.subject = subject or f"model {model} version {version}"
        self.reference = reference
        self.baseline = Profile() if reference is None else None
        # Read on the monitor's thread with the first sample, never on the event loop.
        self._profile_dir = profile_dir
        self.baseline_seen = 0
        self.windows: dict[tuple[str, str], Window] = {}
        # Read by /metrics on another thread: replaced whole, never mutated in place.
        self.scores: tuple[FeatureScore, ...] = ()
        self.violations: dict[tuple[str, str], int] = {}
        self.drifting = False
        self.sampled = 0
        self.frames_sampled = 0
        # Window rows added since the scores were computed, and when they were: rescoring waits
        # for a tenth of a window and RESCORE_SECONDS (flush() scores at once).
        self._fresh = 0
        self._scored_at = float("-inf")
        self._now = clock

    @property
    def has_reference(self) -> bool:
        return self.reference is not None

    def _load(self) -> None:
        if self._profile_dir is not None:
            self.reference = load_reference(self._profile_dir)
            self.baseline = Profile() if self.reference is None else None
            self._profile_dir = None

    def update(self, inputs: Mapping[str, np.ndarray], outputs: Mapping[str, np.ndarray]) -> None:
        """On the monitor's thread: fold one sampled request in."""
        self._load()
        self.sampled += 1
        if self.reference is None:
            if self.baseline is None or not self.config.baseline_requests:
                return
            self.baseline.add(inputs, outputs, self.config.max_features)
            self.baseline_seen += 1
            if self.baseline_seen >= self.config.baseline_requests:
                self.reference, self.baseline = self.baseline, None
                log.info("%s: drift reference taken from %d requests", self.subject, self.baseline_seen)
            return
        rows = [
            self._add(side, name, array)
            for side, tensors in (("input", inputs), ("output", outputs))
            for name, array in tensors.items()
        ]
        self._fresh += max(rows, default=0)

    def update_frame(self, statistics: Mapping[str, np.ndarray]) -> None:
        """On the monitor's thread: fold one sampled picture's statistics in (a baseline takes them too)."""
        self._load()
        self.frames_sampled += 1
        if self.reference is None:
            if self.baseline is not None and self.config.baseline_requests:
                self.baseline.add_frame(statistics)
            return
        self._fresh += max((self._add(FRAME_SIDE, name, values) for name, values in statistics.items()), default=0)

    @property
    def due(self) -> bool:
        """Whether enough new values arrived to be worth rescoring (sorting every window is not free)."""
        return self._fresh >= max(1, self.config.window // 10) and self._now() - self._scored_at >= RESCORE_SECONDS

    def _add(self, side: str, name: str, array: np.ndarray) -> int:
        """Fold one tensor into its window; returns the rows it added."""
        assert self.reference is not None
        reference = self.reference.tensors().get((side, name))
        matrix = feature_matrix(array, self.config.max_features)
        if reference is None or matrix is None or not reference.features:
            return 0
        matrix = matrix[:, : len(reference.features)]
        nan, inf = np.isnan(matrix), np.isinf(matrix)
        lows = np.array([f.min for f in reference.features[: matrix.shape[1]]])
        highs = np.array([f.max for f in reference.features[: matrix.shape[1]]])
        with np.errstate(invalid="ignore"):
            outside = (matrix < lows) | (matrix > highs)
        counts = self.violations.copy()
        for kind, mask in (("nan", nan), ("inf", inf), ("out_of_range", outside & ~inf)):
            hits = int(mask.sum())
            if hits:
                counts[(name, kind)] = counts.get((name, kind), 0) + hits
        self.violations = counts
        window = self.windows.get((side, name))
        if window is None:
            window = self.windows[(side, name)] = Window(self.config.window, matrix.shape[1])
        window.add(np.where(nan | inf, np.nan, matrix))
        return min(matrix.shape[0], self.config.window)

    def rescore(self) -> None:
        """On the monitor's thread: PSI and KS of every window against the reference."""
        if not self._fresh or self.reference is None:
            return
        self._fresh = 0
        self._scored_at = self._now()
        tensors = self.reference.tensors()
        scores = []
        for (side, name), window in self.windows.items():
            for index, feature in enumerate(tensors[(side, name)].features[: window.values.shape[1]]):
                live = window.column(index)
                scores.append(FeatureScore(name, index, psi(feature.sketch, live), ks(feature.sketch, live)))
        self.scores = tuple(scores)
        drifting = any(s.psi > self.config.psi_alert for s in scores)
        if drifting != self.drifting:
            self.drifting = drifting
            if drifting:
                worst = max(scores, key=lambda s: s.psi)
                log.warning(
                    "%s is drifting: %s feature %d has PSI %.3f (alert at %.3f)",
                    self.subject,
                    worst.tensor,
                    worst.feature,
                    worst.psi,
                    self.config.psi_alert,
                )
            else:
                log.info("%s no longer drifting: every PSI is below %.3f", self.subject, self.config.psi_alert)


def load_reference(version_dir: Path) -> Profile | None:
    path = version_dir / PROFILE_FILE
    if not path.is_file():
        return None
    try:
        return read_profile(path)
    except (OSError, ValueError, KeyError) as exc:
        log.warning("%s: not a usable drift profile (%s); drift waits for a baseline from traffic", path.name, exc)
        return None


class StreamFold(Protocol):
    """One stream's frame summary (service/drift/streams.py), fed and scored on the monitor's thread."""

    model: VersionDrift

    def fold(self, statistics: Mapping[str, np.ndarray]) -> None: ...

    def rescore(self) -> None: ...

    @property
    def scores(self) -> tuple[FeatureScore, ...]: ...

    @property
    def drifting(self) -> bool: ...


class DriftMonitor:
    """One queue and one worker thread per server; versions register a VersionDrift each."""

    def __init__(
        self, queue_size: int = QUEUE_SIZE, rng: random.Random | None = None, queue_bytes: int = QUEUE_BYTES
    ) -> None:
        self._queue: queue.Queue = queue.Queue(maxsize=queue_size)
        self._max_bytes = queue_bytes
        self._queued_bytes = 0
        self._bytes_lock = threading.Lock()
        self._random = (rng or random.Random()).random
        self._versions: dict[tuple[str, int], VersionDrift] = {}
        self._attached: dict[int, tuple[ModelVersion, VersionDrift]] = {}
        # Open video streams of monitored models; read by /metrics on another thread (copied first).
        self.streams: set[StreamFold] = set()
        self.dropped = 0
        self._thread = threading.Thread(target=self._work, name="drift-monitor", daemon=True)
        self._thread.start()

    def versions(self) -> list[VersionDrift]:
        return list(self._versions.values())

    def track(self, model: str, version: int, config: DriftConfig, version_dir: Path) -> VersionDrift:
        tracker = VersionDrift(model, version, config, None, version_dir)
        self._versions[(model, version)] = tracker
        return tracker

    def on_model_change(self, entry: ModelEntry) -> None:
        """A repository listener: watch each READY version whose config asks for drift; forget unloaded ones."""
        for number, version in entry.versions.items():
            key = id(version)
            gone = version.unloaded or version.successor is not None or version.runner is None
            if gone:
                attached = self._attached.pop(key, None)
                if attached is not None and self._versions.get((entry.name, number)) is attached[1]:
                    del self._versions[(entry.name, number)]
                continue
            config = version.config.drift if version.config is not None else None
            if config is None or version.state is not ModelState.READY or key in self._attached:
                continue
            tracker = self.track(entry.name, number, config, entry.path / str(number))
            assert version.runner is not None
            version.runner.observer = self.observer(tracker)
            # The version is kept with its tracker so its id is not reused while it is attached.
            self._attached[key] = (version, tracker)

    def observer(self, tracker: VersionDrift) -> DriftObserver:
        """What the runner calls with a successful request's inputs and outputs (on the event loop)."""
        return DriftObserver(self, tracker)

    def offer(self, tracker: VersionDrift, inputs: Mapping[str, np.ndarray], outputs: Mapping[str, np.ndarray]) -> None:
        """Queue a sample unless the tracker's sample rate, the queue or the byte budget says no."""
        if self._sampled(tracker):
            size = sum(a.nbytes for a in inputs.values()) + sum(a.nbytes for a in outputs.values())
            self._put(tracker, lambda: tracker.update(inputs, outputs), size)

    def offer_frame(self, tracker: VersionDrift, image: np.ndarray, stream: StreamFold | None = None) -> None:
        """Like offer, for one decoded picture: its statistics are computed on the worker, not here."""
        if self._sampled(tracker):
            self._put(tracker, lambda: _fold_frame(tracker, image, stream), image.nbytes)

    def _sampled(self, tracker: VersionDrift) -> bool:
        rate = tracker.config.sample_rate
        return rate > 0.0 and (rate >= 1.0 or self._random() < rate)

    def _put(self, tracker: VersionDrift, fold: Callable[[], None], size: int) -> None:
        with self._bytes_lock:
            if self._queued_bytes + size > self._max_bytes:
                self.dropped += 1
                return
            self._queued_bytes += size
        try:
            self._queue.put_nowait((tracker, fold, size))
        except queue.Full:
            self._release(size)
            self.dropped += 1

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is None:
                    return
                if item is _RESCORE:
                    for tracker in self.versions():
                        tracker.rescore()
                    for stream in list(self.streams):
                        stream.rescore()
                    continue
                tracker, fold, size = item
                self._release(size)
                fold()
                if tracker.due:
                    tracker.rescore()
            except Exception:  # a bad sample must not stop monitoring
                log.exception("drift monitor: a sample could not be processed")
            finally:
                self._queue.task_done()

    def _release(self, size: int) -> None:
        with self._bytes_lock:
            self._queued_bytes -= size

    def flush(self) -> None:
        """Block until every queued sample is folded in, then score what is not scored yet."""
        self._queue.put(_RESCORE)
        self._queue.join()

    async def drain(self) -> None:
        await asyncio.to_thread(self.flush)

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=5)


class DriftObserver:
    """A runner's observer: hands samples to the monitor, and names the version's tracker (GetModel)."""

    def __init__(self, monitor: DriftMonitor, tracker: VersionDrift) -> None:
        self.monitor, self.tracker = monitor, tracker

    def __call__(self, inputs: Mapping[str, np.ndarray], outputs: Mapping[str, np.ndarray]) -> None:
        self.monitor.offer(self.tracker, inputs, outputs)

    def frame(self, image: np.ndarray, stream: StreamFold | None = None) -> None:
        """A decoded picture on its way to the model (image Predict, StreamVideo); on the event loop."""
        self.monitor.offer_frame(self.tracker, image, stream)


def drift_observer(runner: ModelRunner) -> DriftObserver | None:
    """The runner's drift observer, None when its model is not monitored."""
    observer = runner.observer
    return observer if isinstance(observer, DriftObserver) else None


def _fold_frame(tracker: VersionDrift, image: np.ndarray, stream: StreamFold | None) -> None:
    statistics = frame_statistics(image)
    tracker.update_frame(statistics)
    if stream is not None:
        stream.fold(statistics)
