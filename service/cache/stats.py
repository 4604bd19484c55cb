"""What the cache did, per model and tier: read by /metrics (service/cache/metrics.py)."""

from __future__ import annotations

from dataclasses import dataclass, field

from service.scheduling.stats import Histogram, latency_histogram

TIERS = ("local", "redis")


@dataclass
class CacheStats:
    hits: dict[tuple[str, str], int] = field(default_factory=dict)  # (model, tier) -> count
    misses: dict[str, int] = field(default_factory=dict)  # model -> count
    lookup_seconds: dict[tuple[str, str], Histogram] = field(default_factory=dict)

    def record_lookup(self, model: str, tier: str, seconds: float) -> None:
        histogram = self.lookup_seconds.get((model, tier))
        if histogram is None:
            histogram = self.lookup_seconds[(model, tier)] = latency_histogram()
        histogram.observe(seconds, int(seconds * 1e9))

    def record_hit(self, model: str, tier: str) -> None:
        self.hits[(model, tier)] = self.hits.get((model, tier), 0) + 1

    def record_miss(self, model: str) -> None:
        self.misses[model] = self.misses.get(model, 0) + 1
