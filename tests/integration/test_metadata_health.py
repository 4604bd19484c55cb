"""ListModels / GetModel / GetServerInfo and grpc.health.v1, per service and per model."""

from __future__ import annotations

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from protos.switchyard.v1 import predict_pb2 as pb

READY = pb.ModelVersionInfo.STATE_READY
UNAVAILABLE = pb.ModelVersionInfo.STATE_UNAVAILABLE


async def health(running, service: str) -> int:
    stub = health_pb2_grpc.HealthStub(running.channel)
    return (await stub.Check(health_pb2.HealthCheckRequest(service=service))).status


async def test_list_models_reports_each_with_state(running):
    models = {m.name: m for m in await running.client.list_models()}
    assert models["add"].versions[0].state == READY
    assert models["add"].versions[0].backend == "onnxruntime"
    assert models["add"].versions[0].device == "cpu"
    assert models["add_ov"].versions[0].backend == "openvino"
    assert models["corrupt"].versions[0].state == UNAVAILABLE
    assert "INVALID_PROTOBUF" in models["corrupt"].versions[0].reason
    assert models["bad_config"].versions[0].state == UNAVAILABLE
    assert "config.yaml: field 'batching'" in models["bad_config"].versions[0].reason


async def test_get_model_signature_and_selection_trail(running):
    info = await running.client.get_model("tiny_cnn")
    assert [(t.name, t.datatype, list(t.shape)) for t in info.inputs] == [("input", "FP32", [-1, 3, 64, 64])]
    assert {t.name for t in info.outputs} == {"probabilities", "logits"}
    trail = info.versions[0].selection
    chosen = [s for s in trail if s.outcome == "chosen"]
    assert len(chosen) == 1 and chosen[0].backend == "onnxruntime"
    assert (chosen[0].device, chosen[0].label) == ("cpu", "onnxruntime[CPU]@cpu")
    # The config asked for onnxruntime, so OpenVINO on the CPU is listed as skipped, with why.
    skipped = [s for s in trail if s.backend == "openvino"]
    assert skipped and skipped[0].outcome == "skipped" and skipped[0].reason


async def test_get_model_counts_requests(running):
    before = (await running.client.get_model("add")).statistics.success_count
    for _ in range(3):
        await running.client.predict("add", {"a": np.ones((1, 4), np.float32), "b": np.ones((1, 4), np.float32)})
    after = (await running.client.get_model("add")).statistics
    assert after.success_count == before + 3
    assert after.mean_latency_ms > 0


async def test_get_model_versions(running):
    info = await running.client.get_model("versioned")
    assert [v.version for v in info.versions] == ["1", "2"]
    only = await running.client.get_model("versioned", version="1")
    assert [v.version for v in only.versions] == ["1"]


async def test_get_unknown_model_is_not_found(running):
    from clients import PredictError

    with pytest.raises(PredictError) as info:
        await running.client.get_model("nope")
    assert info.value.code == grpc.StatusCode.NOT_FOUND


async def test_server_info(running):
    info = await running.client.server_info()
    assert info.name == "switchyard" and info.version
    assert {"onnxruntime", "openvino"} <= set(info.backends)
    assert "CPU" in info.hardware_summary
    assert info.hardware["cpu"]["usable_cpus"] >= 1
    assert any(r["name"] == "onnxruntime" and r["importable"] for r in info.hardware["runtimes"])


async def test_health_per_service_and_model(running):
    assert await health(running, "") == health_pb2.HealthCheckResponse.SERVING
    assert await health(running, "switchyard.v1.Predict") == health_pb2.HealthCheckResponse.SERVING
    assert await health(running, "model/add") == health_pb2.HealthCheckResponse.SERVING
    assert await health(running, "model/corrupt") == health_pb2.HealthCheckResponse.NOT_SERVING
    assert await health(running, "model/bad_config") == health_pb2.HealthCheckResponse.NOT_SERVING


async def test_unload_flips_model_health_and_requests_fail(fresh):
    await fresh.server.repository.unload("add")
    await fresh.server.health.settle()
    assert await health(fresh, "model/add") == health_pb2.HealthCheckResponse.NOT_SERVING
    with pytest.raises(grpc.aio.AioRpcError) as info:
        await fresh.client._stub.Predict(pb.PredictRequest(model="add"))
    assert info.value.code() == grpc.StatusCode.NOT_FOUND


async def test_shutdown_flips_everything_to_not_serving(fresh):
    await fresh.server.health.shutdown()
    for name in ("", "switchyard.v1.Predict", "model/add"):
        assert await health(fresh, name) == health_pb2.HealthCheckResponse.NOT_SERVING
