"""Prometheus families of the observability layer: the build, request stages, unknown models.

Read at scrape time, like service/metrics.py's collectors: the hot path only bumps plain
counters (StageStats' histograms, UnknownModels' ints).
"""

from __future__ import annotations

import platform
import sys
from collections.abc import Iterator
from importlib import metadata

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric

from service.metrics import add_histogram
from service.observability.stages import StageStats

# Distributions whose versions the build info names when installed (label = name with _ for -).
RUNTIMES = ("grpcio", "protobuf", "numpy", "onnxruntime", "openvino")


class UnknownModels:
    """Requests that named a model (or version) the repository does not serve, per protocol.

    Counted by the observability interceptor from the call's NOT_FOUND status, so every RPC of
    both protocols is counted in one place; the names themselves are not labels (a client
    could make the series unbounded), they are in the request log.
    """

    def __init__(self) -> None:
        self.counts: dict[str, int] = {"switchyard": 0, "oip": 0, "rest": 0}  # all exported from the start, at 0

    def count(self, protocol: str) -> None:
        self.counts[protocol] = self.counts.get(protocol, 0) + 1


class ProtocolRequests:
    """Requests answered, per protocol (switchyard, oip, rest) and status code name: how each
    protocol is used, counted where each ends its calls (the gRPC interceptor, the REST layer)."""

    def __init__(self) -> None:
        self.counts: dict[tuple[str, str], int] = {}

    def count(self, protocol: str, code: str) -> None:
        key = (protocol, code)
        self.counts[key] = self.counts.get(key, 0) + 1


def build_labels(version: str) -> dict[str, str]:
    """switchyard_build_info's labels: our version, Python's and each installed runtime's."""
    labels = {"version": version, "python": platform.python_version(), "implementation": sys.implementation.name}
    for name in RUNTIMES:
        try:
            labels[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            labels[name] = ""
    return labels


class ObservabilityCollector:
    def __init__(
        self, stages: StageStats, unknown: UnknownModels, version: str, requests: ProtocolRequests | None = None
    ) -> None:
        self._stages = stages
        self._unknown = unknown
        self._requests = requests or ProtocolRequests()
        self._build = build_labels(version)  # read once: installed versions do not change under a running server

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        build = GaugeMetricFamily(
            "switchyard_build_info",
            "Always 1; the labels name the server's and its runtimes' versions.",
            labels=list(self._build),
        )
        build.add_metric(list(self._build.values()), 1.0)
        stages = HistogramMetricFamily(
            "switchyard_stage_duration_seconds",
            "Time of one stage of a request: decode, queue, compute, encode; image.decode, preprocess, postprocess.",
            labels=["model", "stage"],
        )
        for (model, stage), histogram in sorted(self._stages.items(), key=lambda item: item[0]):
            add_histogram(stages, [model, stage], histogram)
        unknown = CounterMetricFamily(
            "switchyard_unknown_model_requests",
            "Requests that named a model or version the repository does not serve (NOT_FOUND), by protocol.",
            labels=["protocol"],
        )
        for protocol, count in sorted(self._unknown.counts.items()):
            unknown.add_metric([protocol], count)
        requests = CounterMetricFamily(
            "switchyard_protocol_requests",
            "Calls answered, by protocol (switchyard, oip, rest) and gRPC status code name.",
            labels=["protocol", "code"],
        )
        for (protocol, code), count in sorted(dict(self._requests.counts).items()):
            requests.add_metric([protocol, code], count)
        yield from (build, stages, unknown, requests)
