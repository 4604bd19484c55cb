"""Prometheus families for drift: read at scrape time from the monitor's latest scores (docs/drift.md)."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from service.drift.monitor import DriftMonitor


class DriftCollector:
    def __init__(self, monitor: DriftMonitor) -> None:
        self._monitor = monitor

    def describe(self) -> list[Metric]:
        return []  # families vary with the models monitored: collect on every scrape

    def collect(self) -> Iterator[Metric]:
        feature_labels = ["model", "version", "tensor", "feature"]
        psi = GaugeMetricFamily(
            "switchyard_drift_psi",
            "Population stability index of the live window against the reference, per channel or feature.",
            labels=feature_labels,
        )
        ks = GaugeMetricFamily(
            "switchyard_drift_ks",
            "Kolmogorov-Smirnov statistic of the live window against the reference, per channel or feature.",
            labels=feature_labels,
        )
        violations = CounterMetricFamily(
            "switchyard_data_quality_violations",
            "Sampled values that were NaN, Inf, or outside the reference's [min, max].",
            labels=["model", "version", "tensor", "kind"],
        )
        drifting = GaugeMetricFamily(
            "switchyard_model_drifting",
            "1 while any feature's PSI exceeds the model's psi_alert.",
            labels=["model", "version"],
        )
        for tracker in self._monitor.versions():
            version = str(tracker.version)
            for score in tracker.scores:
                labels = [tracker.model, version, score.tensor, str(score.feature)]
                psi.add_metric(labels, score.psi)
                ks.add_metric(labels, score.ks)
            for (tensor, kind), count in sorted(tracker.violations.items()):
                violations.add_metric([tracker.model, version, tensor, kind], count)
            if tracker.has_reference:
                drifting.add_metric([tracker.model, version], 1.0 if tracker.drifting else 0.0)
        stream_psi = GaugeMetricFamily(
            "switchyard_drift_stream_psi_max",
            "Largest PSI of one frame statistic among the open video streams, each scored on its own frames.",
            labels=["model", "version", "tensor"],
        )
        streams_drifting = GaugeMetricFamily(
            "switchyard_drift_streams_drifting",
            "Open video streams whose own frame statistics drifted (a PSI over the model's psi_alert).",
            labels=["model", "version"],
        )
        worst: dict[tuple[str, str, str], float] = {}
        counts: dict[tuple[str, str], int] = {}
        for stream in list(self._monitor.streams):
            key = (stream.model.model, str(stream.model.version))
            counts[key] = counts.get(key, 0) + int(stream.drifting)
            for score in stream.scores:
                worst[(*key, score.tensor)] = max(worst.get((*key, score.tensor), 0.0), score.psi)
        for stat, value in sorted(worst.items()):
            stream_psi.add_metric(list(stat), value)
        for key, count in sorted(counts.items()):
            streams_drifting.add_metric(list(key), count)
        dropped = CounterMetricFamily(
            "switchyard_drift_samples_dropped",
            "Sampled requests the drift monitor dropped because its queue was full (it fell behind).",
        )
        dropped.add_metric([], self._monitor.dropped)
        yield from (psi, ks, violations, drifting, stream_psi, streams_drifting, dropped)
