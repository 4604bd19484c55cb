"""A real server with two models: `div` (isolation: process) dies of SIGFPE on INT_MIN / -1
inside ONNX Runtime; the crashing request gets UNAVAILABLE naming the signal, `add` keeps
answering throughout, and `div` is READY again after its restart and answers."""

from __future__ import annotations

import asyncio
import signal

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from clients import PredictError
from protos.switchyard.v1 import predict_pb2 as pb
from tests.conftest import write_model
from tests.fixtures import models
from tests.integration.conftest import make_settings, start_server

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING
ONES = {"a": np.ones((1, 4), np.float32), "b": np.ones((1, 4), np.float32)}


@pytest.fixture(scope="module")
def isolation_repo(tmp_path_factory):
    repo = tmp_path_factory.mktemp("isolation_repo")
    # The restart waits a full second, so the test reads the restarting state before it ends.
    div = "backend: onnxruntime\nisolation: process\nprocess: {restart_backoff_ms: 1000}\n"
    write_model(repo, "div", models.int_div_model(), div)
    write_model(repo, "add", models.add_model(), "backend: onnxruntime\n")
    plain = repo / "div" / "1" / "model.onnx"
    if models.plain_onnxruntime_exit_code(str(plain), models.INT_MIN_BY_MINUS_ONE) != -signal.SIGFPE:
        pytest.skip("INT_MIN / -1 does not trap on this CPU, so ONNX Runtime cannot be crashed this way")
    return repo


class Hammer:
    """Keeps predicting on `add` until stopped; every answer must be right."""

    def __init__(self, client) -> None:
        self.client = client
        self.answered = 0
        self.failures: list[str] = []
        self._stop = asyncio.Event()

    async def run(self) -> None:
        while not self._stop.is_set():
            try:
                out = await self.client.predict("add", ONES, timeout=30)
                assert out["sum"].tolist() == [[2.0] * 4]
                self.answered += 1
            except Exception as exc:  # recorded and asserted on: the test must see every failure
                self.failures.append(repr(exc))

    def stop(self) -> None:
        self._stop.set()


async def next_status(watch) -> int:
    return (await watch.read()).status


def restarts(registry: CollectorRegistry) -> float:
    for family in text_string_to_metric_families(generate_latest(registry).decode()):
        for sample in family.samples:
            if sample.name == "switchyard_model_restarts_total" and sample.labels["model"] == "div":
                return sample.value
    raise AssertionError("no switchyard_model_restarts_total for div")


async def test_a_crashing_model_restarts_while_the_other_keeps_serving(isolation_repo):
    async for server in start_server(make_settings(isolation_repo)):
        client = server.client
        benign = await client.predict("div", models.BENIGN_DIVISION, timeout=30)
        assert benign["q"].tolist() == [3, -3]
        health = health_pb2_grpc.HealthStub(server.channel)
        watch = health.Watch(health_pb2.HealthCheckRequest(service="model/div"))
        assert await next_status(watch) == SERVING

        hammer = Hammer(client)
        hammering = asyncio.create_task(hammer.run())
        with pytest.raises(PredictError) as crashed:
            await client.predict("div", models.INT_MIN_BY_MINUS_ONE, timeout=30)
        assert crashed.value.code == grpc.StatusCode.UNAVAILABLE
        assert crashed.value.details == "model 'div' backend process died (SIGFPE); restarting"
        answered_at_crash = hammer.answered

        assert await next_status(watch) == NOT_SERVING
        info = await client.get_model("div")
        assert info.versions[0].state == pb.ModelVersionInfo.STATE_UNAVAILABLE
        assert info.versions[0].reason == "backend process died (SIGFPE); restarting"
        with pytest.raises(PredictError) as refused:
            await client.predict("div", models.BENIGN_DIVISION, timeout=30)
        assert refused.value.code == grpc.StatusCode.UNAVAILABLE and "SIGFPE" in refused.value.details

        assert await next_status(watch) == SERVING
        answered_while_restarting = hammer.answered - answered_at_crash
        info = await client.get_model("div")
        assert info.versions[0].state == pb.ModelVersionInfo.STATE_READY and info.versions[0].reason == ""
        assert (await client.predict("div", models.BENIGN_DIVISION, timeout=30))["q"].tolist() == [3, -3]
        assert restarts(server.server.metrics.registry) == 1

        hammer.stop()
        await hammering
        watch.cancel()
        assert hammer.failures == []
        assert answered_while_restarting > 0, "add answered nothing while div restarted"
        assert (await client.predict("add", ONES, timeout=30))["diff"].tolist() == [[0.0] * 4]


async def test_an_isolated_model_answers_like_an_inline_one(tmp_path):
    write_model(tmp_path, "cnn", models.tiny_cnn(), "backend: onnxruntime\nisolation: process\n")
    write_model(tmp_path, "cnn_inline", models.tiny_cnn(), "backend: onnxruntime\n")
    x = np.random.default_rng(1).random((2, 3, 64, 64), dtype=np.float32)
    async for server in start_server(make_settings(tmp_path)):
        isolated = await server.client.predict("cnn", {"input": x}, timeout=30)
        inline = await server.client.predict("cnn_inline", {"input": x}, timeout=30)
        assert isolated.keys() == inline.keys()
        for name in inline:
            np.testing.assert_array_equal(isolated[name], inline[name])
