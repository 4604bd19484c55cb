"""Per model version numbers, the one source for GetModel, OIP ModelStatistics and /metrics.

Every record_* call happens on the event loop thread (the runner records when a batch's
result comes back), so the hot path takes no lock; readers on other threads (the
metrics endpoint) see plain ints and lists that are only ever incremented. Histograms
are fixed bucket arrays filled with bisect: cheaper per request than prometheus-client's
own histograms, and the metrics collector turns them into Prometheus histograms at scrape.
"""

from __future__ import annotations

import time
from bisect import bisect_left
from dataclasses import dataclass, field

# Latency bucket upper bounds in seconds (Prometheus convention: base units, `le` inclusive).
LATENCY_BUCKETS: tuple[float, ...] = (
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)
BATCH_BUCKETS: tuple[float, ...] = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
_LATENCY_NS = tuple(int(b * 1e9) for b in LATENCY_BUCKETS)


@dataclass
class Histogram:
    """Cumulative-free bucket counts (the last slot is +Inf) and the sum, Prometheus style."""

    bounds: tuple[float, ...]
    _keys: tuple[float, ...] = ()
    counts: list[int] = field(default_factory=list)
    total: float = 0.0
    count: int = 0

    def __post_init__(self) -> None:
        self.counts = [0] * (len(self.bounds) + 1)
        if not self._keys:
            self._keys = self.bounds

    def observe(self, value: float, key: float | None = None) -> None:
        self.counts[bisect_left(self._keys, value if key is None else key)] += 1
        self.total += value
        self.count += 1


def latency_histogram() -> Histogram:
    return Histogram(LATENCY_BUCKETS, _LATENCY_NS)


@dataclass
class RunnerStats:
    success_count: int = 0
    failure_count: int = 0
    # Requests' items inferred (a request of batch 4 counts 4), and backend executions
    # (a batch counts once).
    inference_count: int = 0
    execution_count: int = 0
    # Sums over successful requests (ns): total in the runner, waiting in the queue,
    # and the compute of the batch each request rode in (split in input gather,
    # backend call, output scatter).
    cumulative_total_ns: int = 0
    cumulative_queue_ns: int = 0
    cumulative_infer_ns: int = 0
    cumulative_compute_input_ns: int = 0
    cumulative_compute_output_ns: int = 0
    cumulative_failure_ns: int = 0
    # Executions run on the event loop rather than the executor (service/scheduling/inline.py).
    inline_execution_count: int = 0
    # Wall-clock time of the last inference, ms since the epoch (OIP's last_inference).
    last_inference_ms: int = 0
    # Request outcomes by status code name ("OK", "DEADLINE_EXCEEDED", ...).
    by_code: dict[str, int] = field(default_factory=dict)
    # Per batch size: [executions, compute input ns, compute infer ns, compute output ns]
    # (OIP batch_stats), and the batch-size histogram.
    batch_executions: dict[int, list[int]] = field(default_factory=dict)
    batch_size: Histogram = field(default_factory=lambda: Histogram(BATCH_BUCKETS))
    queue_seconds: Histogram = field(default_factory=latency_histogram)
    compute_seconds: Histogram = field(default_factory=latency_histogram)
    total_seconds: Histogram = field(default_factory=latency_histogram)
    # Response cache lookups (service/cache/answers.py): a hit never reaches the runner, so it
    # counts in none of the numbers above; the ns sums cover key, lookup and decode.
    cache_hit_count: int = 0
    cache_miss_count: int = 0
    cumulative_cache_hit_ns: int = 0
    cumulative_cache_miss_ns: int = 0

    def record_success(self, batch: int, total_ns: int, queue_ns: int = 0, compute_ns: int = 0) -> None:
        self.success_count += 1
        self.inference_count += batch
        self.cumulative_total_ns += total_ns
        self.cumulative_queue_ns += queue_ns
        self.by_code["OK"] = self.by_code.get("OK", 0) + 1
        self.total_seconds.observe(total_ns / 1e9, total_ns)
        self.queue_seconds.observe(queue_ns / 1e9, queue_ns)
        self.compute_seconds.observe(compute_ns / 1e9, compute_ns)

    def record_cache(self, hit: bool, ns: int) -> None:
        if hit:
            self.cache_hit_count += 1
            self.cumulative_cache_hit_ns += ns
        else:
            self.cache_miss_count += 1
            self.cumulative_cache_miss_ns += ns

    def record_failure(self, code: str = "INTERNAL", total_ns: int = 0) -> None:
        self.failure_count += 1
        self.cumulative_failure_ns += total_ns
        self.by_code[code] = self.by_code.get(code, 0) + 1

    def record_execution(self, batch: int, requests: int, input_ns: int, infer_ns: int, output_ns: int) -> None:
        """One backend call that served `requests` requests holding `batch` items."""
        self.execution_count += 1
        per_size = self.batch_executions.setdefault(batch, [0, 0, 0, 0])
        per_size[0] += 1
        per_size[1] += input_ns
        per_size[2] += infer_ns
        per_size[3] += output_ns
        self.batch_size.observe(batch)
        # Each request is charged the whole batch's compute, as Triton does.
        self.cumulative_compute_input_ns += input_ns * requests
        self.cumulative_infer_ns += infer_ns * requests
        self.cumulative_compute_output_ns += output_ns * requests
        self.last_inference_ms = int(time.time() * 1000)
