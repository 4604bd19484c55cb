"""The response cache's Prometheus families, read at scrape time (names: docs/cache.md)."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric

from service.cache.tiered import ResponseCache
from service.metrics import add_histogram


class CacheCollector:
    def __init__(self, cache: ResponseCache) -> None:
        self._cache = cache

    def describe(self) -> list[Metric]:
        return []  # the model labels vary: collect on every scrape

    def collect(self) -> Iterator[Metric]:
        cache, stats = self._cache, self._cache.stats
        hits = CounterMetricFamily(
            "switchyard_cache_hits", "Requests answered from the cache.", labels=["model", "tier"]
        )
        for (model, tier), count in list(stats.hits.items()):
            hits.add_metric([model, tier], count)
        misses = CounterMetricFamily(
            "switchyard_cache_misses", "Requests of cached models that the cache could not answer.", labels=["model"]
        )
        for model, count in list(stats.misses.items()):
            misses.add_metric([model], count)
        lookups = HistogramMetricFamily(
            "switchyard_cache_lookup_duration_seconds",
            "Time one tier took to answer a lookup.",
            labels=["model", "tier"],
        )
        for (model, tier), histogram in list(stats.lookup_seconds.items()):
            add_histogram(lookups, [model, tier], histogram)
        entries = GaugeMetricFamily("switchyard_cache_entries", "Entries in the in-process tier.")
        size = GaugeMetricFamily("switchyard_cache_bytes", "Bytes the in-process tier holds (with overhead).")
        evictions = CounterMetricFamily("switchyard_cache_evictions", "Entries the in-process tier evicted for room.")
        errors = CounterMetricFamily(
            "switchyard_cache_errors", "Redis lookups and stores that failed or timed out (each a miss or a drop)."
        )
        if cache.local is not None:
            entries.add_metric([], cache.local.entries)
            size.add_metric([], cache.local.bytes)
            evictions.add_metric([], cache.local.evictions)
        errors.add_metric([], cache.shared.errors if cache.shared is not None else 0)
        yield from (hits, misses, lookups, entries, size, evictions, errors)
