"""Prometheus metrics: read at scrape time from the same RunnerStats that GetModel and OIP use.

Nothing is observed twice: the hot path only bumps RunnerStats (plain ints and bucket
arrays), and this collector turns them into Prometheus families when /metrics is
scraped. The registry is injected (tests make their own; no global state), and the
endpoint is prometheus-client's WSGI app on its own port (optional TLS and bearer token:
service/security/http.py). Names: docs/metrics.md.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, GCCollector, PlatformCollector, ProcessCollector, make_wsgi_app
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric

from service.repository.repository import ModelRepository, ModelState
from service.scheduling.isolation import IsolatedBackend
from service.scheduling.stats import Histogram
from service.security.http import MetricsHTTPServer, WsgiApp, start_metrics_http
from service.security.tls import CertificateFiles
from service.video.stats import OUTCOMES, VideoStats

log = logging.getLogger(__name__)

LABELS = ["model", "version", "backend", "device"]


class RepositoryCollector:
    """Per model/version/backend/device families for every version in the repository."""

    def __init__(self, repository: ModelRepository) -> None:
        self._repository = repository

    def describe(self) -> list[Metric]:
        return []  # families vary with the repository: collect on every scrape

    def collect(self) -> Iterator[Metric]:
        requests = CounterMetricFamily(
            "switchyard_requests", "Inference requests finished, by gRPC status code.", labels=[*LABELS, "code"]
        )
        inferences = CounterMetricFamily(
            "switchyard_inferences", "Items inferred (a request of batch 4 counts 4).", labels=LABELS
        )
        executions = CounterMetricFamily(
            "switchyard_executions", "Backend executions (a batch of requests counts once).", labels=LABELS
        )
        inline = CounterMetricFamily(
            "switchyard_inline_executions",
            "Backend executions run on the event loop instead of the executor (--inline-compute-us).",
            labels=LABELS,
        )
        queue = HistogramMetricFamily(
            "switchyard_request_queue_duration_seconds", "Time a successful request waited in the queue.", labels=LABELS
        )
        compute = HistogramMetricFamily(
            "switchyard_request_compute_duration_seconds",
            "Backend time of the batch a successful request rode in.",
            labels=LABELS,
        )
        total = HistogramMetricFamily(
            "switchyard_request_duration_seconds",
            "Time a successful request spent in the runner (queue + compute + split).",
            labels=LABELS,
        )
        batch = HistogramMetricFamily("switchyard_batch_size", "Items per backend execution.", labels=LABELS)
        depth = GaugeMetricFamily("switchyard_queue_depth", "Requests waiting in the queue.", labels=LABELS)
        in_flight = GaugeMetricFamily(
            "switchyard_requests_in_flight", "Requests inside the runner (queued or running).", labels=LABELS
        )
        load = GaugeMetricFamily(
            "switchyard_model_load_duration_seconds", "How long the version took to load.", labels=LABELS
        )
        state = GaugeMetricFamily(
            "switchyard_model_state", "1 for the version's current state, 0 for the others.", labels=[*LABELS, "state"]
        )
        restarts = CounterMetricFamily(
            "switchyard_model_restarts",
            "Backend processes of an isolated model (isolation: process) restarted after they died.",
            labels=LABELS,
        )
        warmup = GaugeMetricFamily(
            "switchyard_model_warmup_duration_seconds",
            "How long the version's config.yaml warmup took before it became READY.",
            labels=LABELS,
        )
        precision = GaugeMetricFamily(
            "switchyard_model_precision",
            "1 for the precision a loaded version serves at (after the accuracy gate and any fallback).",
            labels=[*LABELS, "precision"],
        )
        reload_failures = CounterMetricFamily(
            "switchyard_model_reload_failures",
            "Reloads refused because the new version failed (config, artifact or warmup); the old one kept serving.",
            labels=["model"],
        )
        for name, count in sorted(self._repository.reload_failures.items()):
            reload_failures.add_metric([name], count)
        for entry in self._repository.entries():
            if not entry.versions:  # refused before any version (e.g. its config.yaml): the model's own state
                for s in ModelState:
                    state.add_metric([entry.name, "", "", "", s.value], 1.0 if entry.state is s else 0.0)
            for number in sorted(entry.versions):
                version = entry.versions[number]
                loaded = version.loaded
                labels = [
                    entry.name,
                    str(number),
                    loaded.backend_name if loaded else "",
                    str(loaded.device) if loaded else "",
                ]
                for s in ModelState:
                    state.add_metric([*labels, s.value], 1.0 if version.state is s else 0.0)
                if version.warmup_seconds is not None:
                    warmup.add_metric(labels, version.warmup_seconds)
                if loaded is not None:
                    load.add_metric(labels, loaded.load_seconds)
                    precision.add_metric([*labels, loaded.precision], 1.0)
                    if isinstance(loaded.backend, IsolatedBackend):
                        restarts.add_metric(labels, loaded.backend.restarts)
                runner = version.runner
                if runner is None:
                    continue
                stats = runner.stats
                for code, count in sorted(stats.by_code.items()):
                    requests.add_metric([*labels, code], count)
                inferences.add_metric(labels, stats.inference_count)
                executions.add_metric(labels, stats.execution_count)
                inline.add_metric(labels, stats.inline_execution_count)
                add_histogram(queue, labels, stats.queue_seconds)
                add_histogram(compute, labels, stats.compute_seconds)
                add_histogram(total, labels, stats.total_seconds)
                add_histogram(batch, labels, stats.batch_size)
                depth.add_metric(labels, runner.queue_depth)
                in_flight.add_metric(labels, runner.in_flight)
        yield from (requests, inferences, executions, queue, compute, total, batch, depth, in_flight, load, state)
        yield from (restarts, warmup, reload_failures, precision, inline)


def add_histogram(family: HistogramMetricFamily, labels: list[str], histogram: Histogram) -> None:
    counts = list(histogram.counts)  # a snapshot: the loop thread may be adding to it
    buckets, running = [], 0
    for bound, count in zip(histogram.bounds, counts[:-1], strict=True):  # the last count is +Inf
        running += count
        buckets.append((_le(bound), running))
    running += counts[-1]
    buckets.append(("+Inf", running))
    family.add_metric(labels, buckets, histogram.total)


def _le(bound: float) -> str:
    return str(int(bound)) if float(bound).is_integer() and bound >= 1 else repr(float(bound))


def metrics_path_only(app: WsgiApp) -> WsgiApp:
    """404 for every path but /metrics: the port answers one question (prometheus_client serves any)."""

    def only(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO", "") in ("/metrics", "/metrics/"):
            return app(environ, start_response)
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"404 Not Found: metrics are at /metrics\n"]

    return only


class VideoCollector:
    """StreamVideo: streams opened and open now, frames answered by outcome, per model."""

    def __init__(self, stats: VideoStats) -> None:
        self._stats = stats

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        opened = CounterMetricFamily("switchyard_video_streams", "StreamVideo streams opened.", labels=["model"])
        active = GaugeMetricFamily("switchyard_video_streams_active", "StreamVideo streams open now.", labels=["model"])
        frames = CounterMetricFamily(
            "switchyard_video_frames",
            "Frames answered, by outcome (result, error, dropped).",
            labels=["model", "outcome"],
        )
        for model in self._stats.models():
            opened.add_metric([model], self._stats.streams_opened[model])
            active.add_metric([model], self._stats.streams_active[model])
            for outcome in OUTCOMES:
                frames.add_metric([model, outcome], self._stats.frames[(model, outcome)])
        yield from (opened, active, frames)


class Metrics:
    """The registry (injected or fresh) with the repository's collector, and its HTTP endpoint."""

    def __init__(
        self, repository: ModelRepository, registry: CollectorRegistry | None = None, video: VideoStats | None = None
    ) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.registry.register(RepositoryCollector(repository))
        # The process (CPU, memory, fds, start time), the interpreter and its GC, as every exporter has.
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        if video is not None:
            self.registry.register(VideoCollector(video))
        self._httpd: MetricsHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    def serve(
        self, host: str, port: int, certificates: CertificateFiles | None = None, token_sha256: str | None = None
    ) -> int:
        """Serve /metrics on host:port (0 = any free port); returns the bound port.

        certificates: serve HTTPS with them (re-read when they change); token_sha256: answer
        401 unless the scrape carries `Authorization: Bearer <token>` with this SHA-256.
        """
        app = metrics_path_only(make_wsgi_app(self.registry))
        self._httpd, self._thread = start_metrics_http(app, host, port, certificates, token_sha256)
        self.port = self._httpd.server_port
        scheme = "https" if certificates else "http"
        guard = ", bearer token required" if token_sha256 else ""
        log.info("serving Prometheus metrics on %s://%s:%d/metrics%s", scheme, host, self.port, guard)
        if token_sha256 and not certificates:
            log.warning("the metrics bearer token crosses the network in plaintext: add --metrics-tls")
        return self.port

    def close(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
