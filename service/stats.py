"""Per model version counters, shared by GetModel, ModelStatistics and the metrics endpoint."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field


@dataclass
class RunnerStats:
    success_count: int = 0
    failure_count: int = 0
    # Requests (items) inferred, and backend executions (a batch counts once).
    inference_count: int = 0
    execution_count: int = 0
    cumulative_total_ns: int = 0
    cumulative_queue_ns: int = 0
    cumulative_infer_ns: int = 0
    last_inference_ms: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record_success(self, batch: int, total_ns: int) -> None:
        with self._lock:
            self.success_count += 1
            self.inference_count += batch
            self.cumulative_total_ns += total_ns

    def record_failure(self) -> None:
        with self._lock:
            self.failure_count += 1

    def record_execution(self, batch: int, queue_ns: int, infer_ns: int) -> None:
        with self._lock:
            self.execution_count += 1
            self.cumulative_queue_ns += queue_ns * batch
            self.cumulative_infer_ns += infer_ns

    def mean_latency_ms(self) -> float:
        return self.cumulative_total_ns / self.success_count / 1e6 if self.success_count else 0.0

    def mean_queue_ms(self) -> float:
        return self.cumulative_queue_ns / self.inference_count / 1e6 if self.inference_count else 0.0
