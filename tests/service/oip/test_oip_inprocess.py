"""The OIP servicer through our own stubs: parity with Predict, wire rules, admin RPCs, UNIMPLEMENTED."""

from __future__ import annotations

import asyncio
import shutil

import grpc
import numpy as np
import onnx
import pytest
import pytest_asyncio
from grpc_health.v1 import health_pb2, health_pb2_grpc

from protos.inference import grpc_service_pb2 as pb
from protos.inference import grpc_service_pb2_grpc
from protos.switchyard.v1 import predict_pb2, predict_pb2_grpc
from tests.fixtures import models
from tests.service.oip import model_repo
from tests.service.oip.conftest import start_server

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(loop_scope="module")
async def channel(oip_url):
    async with grpc.aio.insecure_channel(oip_url) as chan:
        yield chan


def add_sub_request(model: str, dtype, shape=(2, 16), raw: bool = True, **fields) -> pb.ModelInferRequest:
    rng = np.random.default_rng(5)
    request = pb.ModelInferRequest(model_name=model, **fields)
    datatype = {np.float32: "FP32", np.int64: "INT64", np.float16: "FP16"}[dtype]
    for name in ("INPUT0", "INPUT1"):
        array = rng.integers(-9, 9, size=shape).astype(dtype)
        tensor = request.inputs.add(name=name, datatype=datatype, shape=shape)
        if raw:
            request.raw_input_contents.append(array.tobytes())
        else:
            field = {"FP32": "fp32_contents", "INT64": "int64_contents"}[datatype]
            getattr(tensor.contents, field).extend(array.ravel().tolist())
    return request


@pytest.mark.parametrize(
    "model,dtype", [("simple_fp32", np.float32), ("simple_int64", np.int64), ("simple_fp16", np.float16)]
)
async def test_predict_and_model_infer_give_byte_identical_outputs(channel, model, dtype):
    shape = (1, 16) if model == "simple_int64" else (3, 16)
    oip_request = add_sub_request(model, dtype, shape)
    predict = predict_pb2.PredictRequest(model=model, raw_output=True)
    for tensor, raw in zip(oip_request.inputs, oip_request.raw_input_contents, strict=True):
        predict.inputs.add(name=tensor.name, datatype=tensor.datatype, shape=tensor.shape, raw_contents=raw)
    oip_reply = await grpc_service_pb2_grpc.GRPCInferenceServiceStub(channel).ModelInfer(oip_request)
    predict_reply = await predict_pb2_grpc.PredictStub(channel).Predict(predict)
    ours = {o.name: raw for o, raw in zip(oip_reply.outputs, oip_reply.raw_output_contents, strict=True)}
    theirs = {o.name: o.raw_contents for o in predict_reply.outputs}
    assert ours == theirs and len(ours) == 2


async def test_bytes_parity(channel):
    words = [b"a", b"", "žluť\x00".encode()]  # the ORT backend needs UTF-8 text
    raw = b"".join(len(w).to_bytes(4, "little") + w for w in words)
    oip = pb.ModelInferRequest(model_name="simple_bytes", raw_input_contents=[raw])
    oip.inputs.add(name="INPUT0", datatype="BYTES", shape=[3])
    predict = predict_pb2.PredictRequest(model="simple_bytes", raw_output=True)
    predict.inputs.add(name="INPUT0", datatype="BYTES", shape=[3], raw_contents=raw)
    oip_reply = await grpc_service_pb2_grpc.GRPCInferenceServiceStub(channel).ModelInfer(oip)
    predict_reply = await predict_pb2_grpc.PredictStub(channel).Predict(predict)
    assert oip_reply.raw_output_contents[0] == predict_reply.outputs[0].raw_contents == raw


async def test_binary_data_output_parameter_picks_the_output_form(channel):
    stub = grpc_service_pb2_grpc.GRPCInferenceServiceStub(channel)
    typed = add_sub_request("simple_fp32", np.float32, raw=False)
    typed.parameters["binary_data_output"].bool_param = True
    reply = await stub.ModelInfer(typed)
    assert len(reply.raw_output_contents) == 2 and not reply.outputs[0].contents.fp32_contents
    raw = add_sub_request("simple_fp32", np.float32)
    for name in ("OUTPUT0", "OUTPUT1"):
        raw.outputs.add(name=name).parameters["binary_data"].bool_param = False
    reply = await stub.ModelInfer(raw)
    assert not reply.raw_output_contents and len(reply.outputs[1].contents.fp32_contents) == 32
    # FP16 has no typed form: it comes back raw even when typed output is asked for.
    fp16 = add_sub_request("simple_fp16", np.float16)
    fp16.parameters["binary_data_output"].bool_param = False
    reply = await stub.ModelInfer(fp16)
    assert len(reply.raw_output_contents) == 2


@pytest.mark.parametrize(
    "mutate,needle",
    [
        (lambda r: r.inputs[0].contents.fp32_contents.append(1.0), "INPUT0"),  # raw and typed mixed
        (lambda r: r.raw_input_contents.append(b"x"), "raw_input_contents"),  # 3 raw entries, 2 inputs
        (lambda r: r.raw_input_contents.__setitem__(1, b"\x00" * 7), "INPUT1"),  # wrong byte count
        (lambda r: setattr(r.inputs[1], "datatype", "FP99"), "INPUT1"),  # unknown datatype
    ],
)
async def test_malformed_requests_are_invalid_argument_naming_the_problem(channel, mutate, needle):
    request = add_sub_request("simple_fp32", np.float32)
    mutate(request)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await grpc_service_pb2_grpc.GRPCInferenceServiceStub(channel).ModelInfer(request)
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT and needle in caught.value.details()


async def test_unknown_model_and_version_are_not_found(channel):
    stub = grpc_service_pb2_grpc.GRPCInferenceServiceStub(channel)
    for call in (
        stub.ModelConfig(pb.ModelConfigRequest(name="nope")),
        stub.ModelStatistics(pb.ModelStatisticsRequest(name="nope")),
        stub.ModelInfer(add_sub_request("simple_fp32", np.float32, model_version="9")),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call
        assert caught.value.code() is grpc.StatusCode.NOT_FOUND


UNIMPLEMENTED = {
    "CudaSharedMemoryStatus": pb.CudaSharedMemoryStatusRequest(),
    "CudaSharedMemoryRegister": pb.CudaSharedMemoryRegisterRequest(name="r"),
    "CudaSharedMemoryUnregister": pb.CudaSharedMemoryUnregisterRequest(),
    "LogSettings": pb.LogSettingsRequest(),
}


async def test_unimplemented_rpcs_say_so(channel):
    stub = grpc_service_pb2_grpc.GRPCInferenceServiceStub(channel)
    for name, request in UNIMPLEMENTED.items():
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await getattr(stub, name)(request)
        assert caught.value.code() is grpc.StatusCode.UNIMPLEMENTED, name
        assert "not implemented" in caught.value.details()
    # A shared-memory input that does not say where it is is refused, not ignored.
    request = add_sub_request("simple_fp32", np.float32)
    request.inputs[0].parameters["shared_memory_region"].string_param = "r"
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.ModelInfer(request)
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "shared_memory_byte_size" in caught.value.details()


async def test_trace_setting_answers_the_settings_and_refuses_an_update_without_admin(channel):
    stub = grpc_service_pb2_grpc.GRPCInferenceServiceStub(channel)
    reply = await stub.TraceSetting(pb.TraceSettingRequest())
    assert set(reply.settings) == {"trace_rate", "trace_slow_ms", "otel_endpoint", "trace_mode"}
    request = pb.TraceSettingRequest()
    request.settings["trace_rate"].value.append("0.5")
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.TraceSetting(request)
    assert caught.value.code() is grpc.StatusCode.PERMISSION_DENIED


async def test_repository_rpcs_are_off_by_default(channel):
    stub = grpc_service_pb2_grpc.GRPCInferenceServiceStub(channel)
    for call in (
        stub.RepositoryIndex(pb.RepositoryIndexRequest()),
        stub.RepositoryModelUnload(pb.RepositoryModelUnloadRequest(model_name="simple_fp32")),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call
        assert caught.value.code() is grpc.StatusCode.PERMISSION_DENIED
        assert "--allow-repository-admin" in caught.value.details()
    assert await stub.ModelReady(pb.ModelReadyRequest(name="simple_fp32")) == pb.ModelReadyResponse(ready=True)


async def test_health_and_stream_order(channel):
    health = health_pb2_grpc.HealthStub(channel)
    reply = await health.Check(health_pb2.HealthCheckRequest(service="inference.GRPCInferenceService"))
    assert reply.status == health_pb2.HealthCheckResponse.SERVING
    stub = grpc_service_pb2_grpc.GRPCInferenceServiceStub(channel)
    requests = [add_sub_request("simple_fp32", np.float32, shape=(1 + i % 3, 16), id=str(i)) for i in range(20)]
    requests[7].inputs[0].shape[:] = [1, 99]
    replies = [r async for r in stub.ModelStreamInfer(iter(requests))]
    assert [r.infer_response.id for r in replies] == [str(i) for i in range(20)]
    assert [bool(r.error_message) for r in replies] == [i == 7 for i in range(20)]


async def test_admin_index_unload_drains_and_load_rereads_config(tmp_path):
    repo = model_repo.build(tmp_path / "repo")
    (repo / "slow" / "1").mkdir(parents=True)
    onnx.save(models.slow_model(), str(repo / "slow" / "1" / "model.onnx"))
    (repo / "slow" / "config.yaml").write_text("backend: onnxruntime\n")
    shutil.rmtree(repo / "simple_fp16")
    server = await start_server(repo, allow_repository_admin=True)
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as chan:
            stub = grpc_service_pb2_grpc.GRPCInferenceServiceStub(chan)
            metadata = await stub.ServerMetadata(pb.ServerMetadataRequest())
            assert "model_repository" in metadata.extensions
            index = await stub.RepositoryIndex(pb.RepositoryIndexRequest())
            assert {(m.name, m.version, m.state) for m in index.models} >= {
                ("simple_fp32", "1", "READY"),
                ("slow", "1", "READY"),
            }

            # Unload waits for the in-flight request, which completes.
            slow = pb.ModelInferRequest(
                model_name="slow", raw_input_contents=[np.ones((384, 384), np.float32).tobytes()]
            )
            slow.inputs.add(name="x", datatype="FP32", shape=[384, 384])
            in_flight = asyncio.ensure_future(stub.ModelInfer(slow))
            runner = server.repository.get("slow").runner
            while runner.in_flight == 0:
                await asyncio.sleep(0)  # yield until the request is inside the runner
            await stub.RepositoryModelUnload(pb.RepositoryModelUnloadRequest(model_name="slow"))
            assert in_flight.done() and len((await in_flight).raw_output_contents) == 1
            assert not (await stub.ModelReady(pb.ModelReadyRequest(name="slow"))).ready
            index = await stub.RepositoryIndex(pb.RepositoryIndexRequest())
            assert ("slow", "", "UNAVAILABLE") in {(m.name, m.version, m.state) for m in index.models}

            # Load re-reads config.yaml.
            (repo / "simple_int64" / "config.yaml").write_text(
                "backend: onnxruntime\nmax_batch_size: 0\ninstances: 2\n"
            )
            await stub.RepositoryModelLoad(pb.RepositoryModelLoadRequest(model_name="simple_int64"))
            config = (await stub.ModelConfig(pb.ModelConfigRequest(name="simple_int64"))).config
            assert config.instance_group[0].count == 2
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await stub.RepositoryModelLoad(pb.RepositoryModelLoadRequest(model_name="not_there"))
            assert caught.value.code() is grpc.StatusCode.NOT_FOUND
    finally:
        await server.stop(grace=1.0)


async def test_model_config_carries_the_hardware_decision(channel):
    import json

    stub = grpc_service_pb2_grpc.GRPCInferenceServiceStub(channel)
    config = (await stub.ModelConfig(pb.ModelConfigRequest(name="simple_fp32"))).config
    assert config.parameters["switchyard.selected"].string_value == "onnxruntime[CPU]@cpu"
    trail = json.loads(config.parameters["switchyard.selection_trail"].string_value)
    assert [s["outcome"] for s in trail].count("chosen") == 1
    assert all(s["reason"] for s in trail if s["outcome"] == "skipped")  # every skip says why


async def test_statistics_break_executions_down_by_batch_size(channel):
    stub = grpc_service_pb2_grpc.GRPCInferenceServiceStub(channel)
    for _ in range(3):
        await stub.ModelInfer(add_sub_request("simple_fp32", np.float32, shape=(2, 16)))
    stats = (await stub.ModelStatistics(pb.ModelStatisticsRequest(name="simple_fp32"))).model_stats[0]
    assert stats.batch_stats, "batch_stats is empty"
    assert sum(b.compute_infer.count for b in stats.batch_stats) == stats.execution_count
    assert sum(b.batch_size * b.compute_infer.count for b in stats.batch_stats) == stats.inference_count
    assert all(b.compute_infer.ns > 0 for b in stats.batch_stats)
