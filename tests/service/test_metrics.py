"""The collector turns RunnerStats into Prometheus families on an injected registry."""

from __future__ import annotations

from types import SimpleNamespace

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from backends.base import Device
from service.metrics import Metrics
from service.repository.repository import ModelEntry, ModelState, ModelVersion
from service.scheduling.stats import RunnerStats


class OneModel:
    def __init__(self, stats: RunnerStats) -> None:
        runner = SimpleNamespace(stats=stats, queue_depth=3, in_flight=5)
        loaded = SimpleNamespace(
            backend=None, backend_name="openvino", device=Device("cpu"), load_seconds=0.25, precision="fp32"
        )
        version = ModelVersion("m", 2, state=ModelState.READY, loaded=loaded, runner=runner)
        self.entry = ModelEntry("m", path=None, versions={2: version})
        self.reload_failures: dict[str, int] = {}

    def entries(self):
        return [self.entry]


def samples(registry) -> dict[tuple, float]:
    out = {}
    for family in text_string_to_metric_families(generate_latest(registry).decode()):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_histograms_counters_and_gauges_follow_the_stats():
    stats = RunnerStats()
    stats.record_success(batch=2, total_ns=3_000_000, queue_ns=200_000, compute_ns=1_000_000)
    stats.record_success(batch=1, total_ns=30_000_000, queue_ns=20_000_000, compute_ns=1_000_000)
    stats.record_failure("DEADLINE_EXCEEDED")
    stats.record_execution(batch=3, requests=2, input_ns=10, infer_ns=1_000_000, output_ns=10)
    registry = CollectorRegistry()
    Metrics(OneModel(stats), registry)  # injected registry: nothing global
    got = samples(registry)
    base = (("backend", "openvino"), ("device", "cpu"), ("model", "m"), ("version", "2"))

    def at(name, **extra):
        return got[(name, tuple(sorted(base + tuple(extra.items()))))]

    assert at("switchyard_requests_total", code="OK") == 2
    assert at("switchyard_requests_total", code="DEADLINE_EXCEEDED") == 1
    assert at("switchyard_inferences_total") == 3
    assert at("switchyard_request_queue_duration_seconds_bucket", le="0.00025") == 1
    assert at("switchyard_request_queue_duration_seconds_bucket", le="0.01") == 1
    assert at("switchyard_request_queue_duration_seconds_bucket", le="0.025") == 2
    assert at("switchyard_request_queue_duration_seconds_sum") == 0.0202
    assert at("switchyard_request_duration_seconds_bucket", le="+Inf") == 2
    assert at("switchyard_batch_size_bucket", le="2") == 0
    assert at("switchyard_batch_size_bucket", le="4") == 1
    assert at("switchyard_queue_depth") == 3 and at("switchyard_requests_in_flight") == 5
    assert at("switchyard_model_load_duration_seconds") == 0.25
    assert at("switchyard_model_state", state="READY") == 1 and at("switchyard_model_state", state="LOADING") == 0


def test_two_registries_do_not_share_state():
    first, second = CollectorRegistry(), CollectorRegistry()
    Metrics(OneModel(RunnerStats()), first)
    stats = RunnerStats()
    stats.record_failure("INTERNAL")
    Metrics(OneModel(stats), second)
    assert not any(name == "switchyard_requests_total" for name, _ in samples(first))
    assert any(name == "switchyard_requests_total" for name, _ in samples(second))
