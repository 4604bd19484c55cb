"""/metrics on its own port, scraped over HTTP: counters match the requests sent."""

from __future__ import annotations

import asyncio
import urllib.request

import grpc
import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families

from clients import PredictError
from tests.conftest import write_model
from tests.fixtures import models
from tests.integration.conftest import make_settings, start_server


@pytest.fixture(scope="module")
def metrics_repo(tmp_path_factory):
    repo = tmp_path_factory.mktemp("metrics_repo")
    write_model(
        repo,
        "add",
        models.add_model(),
        "max_batch_size: 8\ndynamic_batching: {max_queue_delay_us: 1000}\nbackend: onnxruntime\n",
    )
    return repo


def scrape(port: int) -> dict[str, list]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as reply:
        assert reply.headers["Content-Type"].startswith("text/plain")
        text = reply.read().decode()
    families: dict[str, list] = {}
    for family in text_string_to_metric_families(text):
        families.setdefault(family.name, []).extend(family.samples)
    return families


def value(families, sample_name: str, **labels) -> float:
    family = max((f for f in families if sample_name.startswith(f)), key=len)
    found = [s.value for s in families[family] if s.name == sample_name and labels.items() <= s.labels.items()]
    assert len(found) == 1, (sample_name, labels, found)
    return found[0]


async def test_scraped_counters_match_the_requests_sent(metrics_repo):
    async for server in start_server(make_settings(metrics_repo, metrics_port=0)):
        port = server.server.metrics.port
        assert port > 0
        ok = 25
        good = {"a": np.ones((2, 4), np.float32), "b": np.ones((2, 4), np.float32)}
        await asyncio.gather(*(server.client.predict("add", good, timeout=30) for _ in range(ok)))
        for _ in range(3):
            with pytest.raises(PredictError) as err:
                await server.client.predict("add", {"a": np.ones((9, 4), np.float32), "b": np.ones((9, 4), np.float32)})
            assert err.value.code == grpc.StatusCode.INVALID_ARGUMENT
        families = await asyncio.to_thread(scrape, port)
        labels = {"model": "add", "version": "1", "backend": "onnxruntime", "device": "cpu"}
        assert value(families, "switchyard_requests_total", code="OK", **labels) == ok
        assert value(families, "switchyard_requests_total", code="INVALID_ARGUMENT", **labels) == 3
        assert value(families, "switchyard_inferences_total", **labels) == 2 * ok
        for name in ("queue", "compute"):
            assert value(families, f"switchyard_request_{name}_duration_seconds_count", **labels) == ok
            assert value(families, f"switchyard_request_{name}_duration_seconds_bucket", le="+Inf", **labels) == ok
        assert value(families, "switchyard_request_duration_seconds_count", **labels) == ok
        executions = value(families, "switchyard_executions_total", **labels)
        assert 1 <= executions <= ok
        assert value(families, "switchyard_batch_size_count", **labels) == executions
        assert value(families, "switchyard_batch_size_sum", **labels) == 2 * ok
        assert value(families, "switchyard_queue_depth", **labels) == 0
        assert value(families, "switchyard_requests_in_flight", **labels) == 0
        assert value(families, "switchyard_model_state", state="READY", **labels) == 1
        assert value(families, "switchyard_model_state", state="UNAVAILABLE", **labels) == 0
        assert value(families, "switchyard_model_load_duration_seconds", **labels) > 0
        # GetModel shows the same numbers.
        info = await server.client.get_model("add")
        assert (info.statistics.success_count, info.statistics.failure_count) == (ok, 3)
    with pytest.raises(OSError):  # stopped with the server
        scrape(port)


async def test_metrics_endpoint_is_off_with_port_minus_one(metrics_repo):
    async for server in start_server(make_settings(metrics_repo, metrics_port=-1)):
        assert server.server.metrics.port == 0
