"""The observability families on a real server's /metrics: build info, process, stages, unknown models."""

from __future__ import annotations

import asyncio
import urllib.error
import urllib.request

import grpc
import numpy as np
import pytest

from clients import PredictError
from protos.inference import grpc_service_pb2 as oip
from protos.inference import grpc_service_pb2_grpc as oip_grpc
from service import __version__
from tests.conftest import write_model
from tests.fixtures import models
from tests.integration.conftest import make_settings, start_server
from tests.integration.test_metrics import scrape


@pytest.fixture(scope="module")
def observed_repo(tmp_path_factory):
    repo = tmp_path_factory.mktemp("observed_repo")
    write_model(repo, "add", models.add_model(), "backend: onnxruntime\n")
    write_model(repo, "misconfigured", models.add_model(), "backend: onnxruntime\nno_such_field: 1\n")
    return repo


def _samples(families, name: str, **labels) -> list:
    return [
        s for samples in families.values() for s in samples if s.name == name and labels.items() <= s.labels.items()
    ]


def _status(port: int, path: str) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as reply:
            return reply.status
    except urllib.error.HTTPError as exc:
        exc.close()
        return exc.code


async def test_build_process_stage_and_unknown_model_families(observed_repo):
    async for server in start_server(make_settings(observed_repo, metrics_port=0)):
        port = server.server.metrics.port
        pair = {"a": np.ones((2, 4), np.float32), "b": np.ones((2, 4), np.float32)}
        await server.client.predict("add", pair, timeout=30)
        for _ in range(2):
            with pytest.raises(PredictError) as err:
                await server.client.predict("nobody", pair, timeout=30)
            assert err.value.code == grpc.StatusCode.NOT_FOUND
        stub = oip_grpc.GRPCInferenceServiceStub(server.channel)
        with pytest.raises(grpc.aio.AioRpcError) as failed:
            await stub.ModelInfer(oip.ModelInferRequest(model_name="nobody"), timeout=30)
        assert failed.value.code() == grpc.StatusCode.NOT_FOUND
        families = await asyncio.to_thread(scrape, port)

        (build,) = _samples(families, "switchyard_build_info")
        assert build.value == 1 and build.labels["version"] == __version__
        assert build.labels["python"].count(".") == 2 and build.labels["onnxruntime"]
        assert _samples(families, "process_resident_memory_bytes")[0].value > 0
        assert _samples(families, "python_gc_collections_total")
        assert _samples(families, "python_info")

        unknown = "switchyard_unknown_model_requests_total"
        assert _samples(families, unknown, protocol="switchyard")[0].value == 2
        assert _samples(families, unknown, protocol="oip")[0].value == 1

        for stage in ("decode", "queue", "compute", "encode"):
            (count,) = _samples(families, "switchyard_stage_duration_seconds_count", model="add", stage=stage)
            assert count.value == 1, stage
        assert not _samples(families, "switchyard_stage_duration_seconds_count", model="nobody")


async def test_a_model_refused_for_its_config_is_in_model_state(observed_repo):
    async for server in start_server(make_settings(observed_repo, metrics_port=0)):
        families = await asyncio.to_thread(scrape, server.server.metrics.port)
        states = {
            s.labels["state"]: s.value for s in _samples(families, "switchyard_model_state", model="misconfigured")
        }
        assert states == {"READY": 0.0, "LOADING": 0.0, "UNAVAILABLE": 1.0}


async def test_the_metrics_port_answers_only_metrics(observed_repo):
    async for server in start_server(make_settings(observed_repo, metrics_port=0)):
        port = server.server.metrics.port
        statuses = await asyncio.gather(
            *(asyncio.to_thread(_status, port, path) for path in ("/metrics", "/", "/favicon.ico", "/metricsx", "/a"))
        )
        assert statuses == [200, 404, 404, 404, 404]
