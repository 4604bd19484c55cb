"""The monitor: bounded windows, sampling, dropping when behind, and the drifting flag's log lines."""

from __future__ import annotations

import logging
import random
import threading

import numpy as np

from service.drift.monitor import DriftMonitor, VersionDrift, Window
from service.drift.profile import Profile
from service.repository.config import DriftConfig


def test_the_window_keeps_only_the_newest_rows():
    window = Window(size=5, features=2)
    window.add(np.array([[1.0, 10.0], [2.0, 20.0], [3.0, 30.0]]))
    window.add(np.array([[4.0, 40.0], [5.0, 50.0], [6.0, 60.0], [np.nan, 70.0]]))
    assert window.filled == 5
    assert sorted(window.column(0)) == [3.0, 4.0, 5.0, 6.0]  # NaN is kept out of the scores
    assert sorted(window.column(1)) == [30.0, 40.0, 50.0, 60.0, 70.0]
    window.add(np.arange(20.0).reshape(10, 2))  # more than the window: rows spread over all of it
    assert sorted(window.column(0)) == [0.0, 4.0, 8.0, 12.0, 16.0]


def reference(rng: np.random.Generator) -> Profile:
    profile = Profile()
    profile.add({"x": rng.normal(0, 1, (5000, 2))}, {}, 64)
    return profile


def test_only_the_sampled_share_reaches_the_monitor():
    monitor = DriftMonitor(rng=random.Random(0))
    try:
        tracker = VersionDrift("m", 1, DriftConfig(sample_rate=0.25, window=100), reference(np.random.default_rng(0)))
        observe = monitor.observer(tracker)
        for _ in range(2000):
            observe({"x": np.zeros((1, 2))}, {})
        monitor.flush()
        assert 400 < tracker.sampled < 600
    finally:
        monitor.close()


class Blocking(VersionDrift):
    """Holds the monitor's worker until released, so the queue fills."""

    def __init__(self) -> None:
        super().__init__("m", 1, DriftConfig(sample_rate=1.0), None)
        self.started, self.release = threading.Event(), threading.Event()

    def update(self, inputs, outputs) -> None:
        self.started.set()
        self.release.wait(10)


def test_a_full_queue_drops_samples_instead_of_waiting():
    monitor = DriftMonitor(queue_size=2)
    blocking = Blocking()
    observe = monitor.observer(blocking)
    try:
        observe({}, {})
        assert blocking.started.wait(10)
        for _ in range(5):
            observe({}, {})
        assert monitor.dropped == 3
    finally:
        blocking.release.set()
        monitor.flush()
        monitor.close()


def test_samples_past_the_byte_budget_are_dropped():
    monitor = DriftMonitor(queue_bytes=1000)
    blocking = Blocking()
    observe = monitor.observer(blocking)
    try:
        observe({"x": np.zeros(100)}, {})  # 800 bytes: taken by the worker, which holds it
        assert blocking.started.wait(10)
        observe({"x": np.zeros(100)}, {})  # 800 more queued: within the budget once the first left the queue
        observe({"x": np.zeros(50)}, {})  # 400 more would pass 1000
        assert monitor.dropped == 1
    finally:
        blocking.release.set()
        monitor.flush()
        monitor.close()


def test_drifting_is_logged_once_on_crossing_and_once_on_recovery(caplog):
    rng = np.random.default_rng(1)
    tracker = VersionDrift("m", 1, DriftConfig(window=500), reference(rng))
    caplog.set_level(logging.INFO, logger="service.drift.monitor")
    for shift in (0.0, 3.0, 3.0, 0.0, 0.0):
        tracker.update({"x": rng.normal(0, 1, (500, 2)) + [shift, 0.0]}, {})
        tracker.rescore()
    messages = [r.getMessage() for r in caplog.records]
    assert sum("is drifting: x feature 0" in m for m in messages) == 1
    assert sum("no longer drifting" in m for m in messages) == 1
    assert not tracker.drifting


def test_scores_refresh_once_a_tenth_of_the_window_is_new_and_a_second_passed():
    now = [100.0]
    tracker = VersionDrift("m", 1, DriftConfig(window=100), reference(np.random.default_rng(2)), clock=lambda: now[0])
    tracker.update({"x": np.zeros((9, 2))}, {})
    assert not tracker.due
    tracker.update({"x": np.zeros((1, 2))}, {})
    assert tracker.due
    tracker.rescore()
    assert not tracker.due and len(tracker.scores) == 2
    tracker.update({"x": np.zeros((50, 2))}, {})
    assert not tracker.due  # a tenth is new, but the last scores are fresh
    now[0] += 1.0
    assert tracker.due
