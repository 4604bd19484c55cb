"""The stages of one request (decode, queue, compute, encode; image.decode, preprocess, postprocess
for pictures): a duration histogram per model and stage, and a child span when tracing is on.

A stage is measured after the fact: `started = stage_start()` before it, `stage_end(...)` after,
so the hot path holds no span object and pays one `if` for tracing. The histograms live in the
server's StageStats, which the gRPC layer puts in the request context (no global registry).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from typing import Any

from service.observability.logging import current_request
from service.observability.tracing import TRACING, epoch_ns, record_span
from service.scheduling.stats import Histogram, latency_histogram

STAGES = ("decode", "queue", "compute", "encode", "image.decode", "preprocess", "postprocess")

stage_start = time.time_ns


class StageStats:
    """Per (model, stage) latency histograms, filled on the event loop, read at scrape time."""

    def __init__(self) -> None:
        self._histograms: dict[tuple[str, str], Histogram] = {}

    def observe(self, model: str, stage: str, seconds: float) -> None:
        key = (model, stage)
        histogram = self._histograms.get(key)
        if histogram is None:
            histogram = self._histograms[key] = latency_histogram()
        histogram.observe(seconds)

    def items(self) -> Iterator[tuple[tuple[str, str], Histogram]]:
        yield from list(self._histograms.items())  # a snapshot: the loop may add a key meanwhile


def stage_end(name: str, started_ns: int, model: str = "", attributes: Mapping[str, Any] | None = None) -> None:
    """Close the stage begun at `started_ns` (stage_start()): its histogram and, tracing, its span."""
    stage_record(name, started_ns, time.time_ns(), model, attributes)


def stage_record(
    name: str, started_ns: int, ended_ns: int, model: str = "", attributes: Mapping[str, Any] | None = None
) -> None:
    """A stage measured elsewhere (e.g. in a worker thread), recorded on the request's own task."""
    request = current_request()
    if request is not None and request.stages is not None:
        request.stages.observe(model or request.model, name, (ended_ns - started_ns) / 1e9)
    if TRACING.tracer is not None:
        record_span(name, started_ns, ended_ns, attributes or {})


def record_runner_stages(runner: Any, request: Any, queued_at: float, started: float, compute_ns: int) -> None:
    """The queue and compute stages of a request the runner finished (times on the runner's clock).

    The compute span (named "infer") links to every other request of its batch.
    """
    context = current_request()
    stats = context.stages if context is not None else None
    if stats is not None:
        stats.observe(runner.name, "queue", max(started - queued_at, 0.0))
        stats.observe(runner.name, "compute", compute_ns / 1e9)
    if TRACING.tracer is None:
        return
    queued_ns, started_ns = epoch_ns(queued_at), epoch_ns(started)
    record_span("queue", queued_ns, started_ns, {"switchyard.model": runner.name})
    batch, gathered, companions = request.batch_trace or (0, started, ())
    compute_start = epoch_ns(gathered)
    attributes = {
        "switchyard.model": runner.name,
        "switchyard.model_version": str(runner.version),
        "switchyard.backend": getattr(runner.backend, "name", ""),
        "switchyard.device": runner.device,
        "switchyard.batch_size": batch,
        "switchyard.batch_requests": len(companions) or 1,
    }
    links = [c for c in companions if c is not request.trace]
    record_span("infer", compute_start, compute_start + compute_ns, attributes, links)
