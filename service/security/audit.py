"""switchyard_auth_requests_total{identity, group, outcome}: every guarded call, counted at scrape time.

The labels are bounded by the auth config: identity is a configured name, "anonymous", or ""
for a caller that could not be identified; group is infer, metadata, admin or "none".
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, Metric


class AuthStats:
    """Plain counts the interceptor bumps on the event loop; the collector copies them when scraped."""

    def __init__(self) -> None:
        self.requests: Counter[tuple[str, str, str]] = Counter()

    def count(self, identity: str, group: str, outcome: str) -> None:
        self.requests[(identity, group, outcome)] += 1


class AuthCollector:
    def __init__(self, stats: AuthStats) -> None:
        self._stats = stats

    def describe(self) -> list[Metric]:
        return []

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily(
            "switchyard_auth_requests",
            "Calls checked by the auth layer: identity, the RPC's group, outcome (allowed, denied, unauthenticated).",
            labels=["identity", "group", "outcome"],
        )
        for labels, count in sorted(dict(self._stats.requests).items()):  # a copy: the loop may be adding
            family.add_metric(list(labels), count)
        yield family
