"""System shared memory end to end: tritonclient (its own process) against a real server, and
the server's switch (--shared-memory) seen through the wire."""

from __future__ import annotations

from multiprocessing import shared_memory

import grpc
import numpy as np
import pytest
import pytest_asyncio

from protos.inference import grpc_service_pb2 as pb
from protos.inference import grpc_service_pb2_grpc
from tests.conftest import write_model
from tests.fixtures.models import tiny_cnn
from tests.service.oip.conftest import start_server
from tests.service.oip.outside import run_client

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
def cnn_repository(tmp_path_factory):
    root = tmp_path_factory.mktemp("shm_repository")
    write_model(root, "tiny_cnn", tiny_cnn(), "backend: onnxruntime\n")
    return root


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def report(cnn_repository):
    server = await start_server(cnn_repository)  # 127.0.0.1: shared memory is on by default
    try:
        yield (await run_client("tritonclient_shm.py", "--url", f"127.0.0.1:{server.port}", timeout=120)).json()
    finally:
        await server.stop(grace=1.0)


@pytest.mark.tritonclient
async def test_outputs_written_to_shared_memory_match_a_normal_infer(report):
    shm = report["shm"]
    np.testing.assert_allclose(shm["probabilities"], report["raw"]["probabilities"], rtol=0, atol=0)
    np.testing.assert_allclose(shm["logits"], report["raw"]["logits"], rtol=0, atol=0)
    assert abs(sum(shm["probabilities"][0]) - 1.0) < 1e-5  # a softmax, so the region was really written
    # The outputs travel without contents: one empty raw entry each, keeping positions as Triton does.
    assert shm["raw_lengths"] == [0, 0]
    assert shm["outputs"]["logits"]["shape"] == [1, 10]
    assert shm["outputs"]["logits"]["parameters"] == {
        "shared_memory_region": "output_data",
        "shared_memory_offset": "64",
        "shared_memory_byte_size": "40",
    }


@pytest.mark.tritonclient
async def test_status_lists_the_regions_and_unregister_removes_them(report):
    keys = report["keys"]
    regions = report["status_all"]["regions"]
    assert {name: (r["key"], int(r.get("byte_size", 0)), int(r.get("offset", 0))) for name, r in regions.items()} == {
        "input_data": (keys["input"], report["input_bytes"], 0),
        "output_data": (keys["output"], 104, 0),
    }
    assert list(report["status_one"]["regions"]) == ["output_data"]
    assert list(report["status_after_unregister"].get("regions", {})) == ["output_data"]
    assert report["status_after_unregister_all"].get("regions", {}) == {}
    assert "system_shared_memory" in report["extensions"]


@pytest.mark.tritonclient
@pytest.mark.parametrize(
    ("case", "status", "words"),
    [
        ("wrong_size", "INVALID_ARGUMENT", ["input 'input'", "shared_memory_byte_size is 49148, expected 49152"]),
        ("unknown_region", "NOT_FOUND", ["input 'input'", "no shared memory region 'no_such_region'"]),
        ("offset_past_end", "INVALID_ARGUMENT", ["input 'input'", "shared_memory_offset 16", "'input_data'"]),
        ("register_past_end", "INVALID_ARGUMENT", ["'too_big'", "runs past the end", "holds 49152 bytes"]),
        ("register_unknown_key", "NOT_FOUND", ["'nowhere'", "no shared memory object '/sy_no_such_key'"]),
        ("register_twice", "ALREADY_EXISTS", ["'input_data' is already registered"]),
        ("status_unknown", "NOT_FOUND", ["no shared memory region 'no_such_region'"]),
        ("cuda_register", "UNIMPLEMENTED", ["CUDA shared memory", "not implemented"]),
        ("after_unregister", "NOT_FOUND", ["no shared memory region 'input_data'"]),
    ],
)
async def test_mistakes_get_a_status_and_a_message_that_names_them(report, case, status, words):
    error = report["errors"][case]
    assert error["status"] == status, error
    for word in words:
        assert word in error["message"], error


async def test_shared_memory_off_answers_unimplemented_and_is_not_advertised(cnn_repository):
    server = await start_server(cnn_repository, shared_memory="off")
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            stub = grpc_service_pb2_grpc.GRPCInferenceServiceStub(channel)
            metadata = await stub.ServerMetadata(pb.ServerMetadataRequest())
            assert "system_shared_memory" not in metadata.extensions
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await stub.SystemSharedMemoryRegister(pb.SystemSharedMemoryRegisterRequest(name="r", key="/k"))
            assert caught.value.code() is grpc.StatusCode.UNIMPLEMENTED
            assert "--shared-memory system" in caught.value.details()
            request = pb.ModelInferRequest(model_name="tiny_cnn")
            tensor = request.inputs.add(name="input", datatype="FP32", shape=[1, 3, 64, 64])
            tensor.parameters["shared_memory_region"].string_param = "r"
            tensor.parameters["shared_memory_byte_size"].int64_param = 49152
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await stub.ModelInfer(request)
            assert caught.value.code() is grpc.StatusCode.UNIMPLEMENTED
            assert "tensor 'input'" in caught.value.details() and "shared memory is off" in caught.value.details()
    finally:
        await server.stop(grace=1.0)


async def test_a_stream_reads_and_writes_shared_memory_and_answers_a_bad_region_in_band(cnn_repository):
    frame = np.random.default_rng(5).standard_normal((1, 3, 64, 64)).astype(np.float32)
    block = shared_memory.SharedMemory(create=True, size=frame.nbytes + 64)
    server = await start_server(cnn_repository)
    try:
        np.ndarray(frame.shape, np.float32, buffer=block.buf)[:] = frame
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            stub = grpc_service_pb2_grpc.GRPCInferenceServiceStub(channel)
            key = "/" + block.name.lstrip("/")
            await stub.SystemSharedMemoryRegister(
                pb.SystemSharedMemoryRegisterRequest(name="frame", key=key, byte_size=frame.nbytes + 64)
            )

            def request(region: str, request_id: str) -> pb.ModelInferRequest:
                message = pb.ModelInferRequest(model_name="tiny_cnn", id=request_id)
                tensor = message.inputs.add(name="input", datatype="FP32", shape=list(frame.shape))
                tensor.parameters["shared_memory_region"].string_param = region
                tensor.parameters["shared_memory_byte_size"].int64_param = frame.nbytes
                wanted = message.outputs.add(name="probabilities")
                wanted.parameters["shared_memory_region"].string_param = "frame"
                wanted.parameters["shared_memory_byte_size"].int64_param = 40
                wanted.parameters["shared_memory_offset"].int64_param = frame.nbytes
                return message

            replies = [r async for r in stub.ModelStreamInfer(iter([request("frame", "a"), request("gone", "b")]))]
            plain = pb.ModelInferRequest(model_name="tiny_cnn", raw_input_contents=[frame.tobytes()])
            plain.inputs.add(name="input", datatype="FP32", shape=list(frame.shape))
            plain.outputs.add(name="probabilities")
            expected = np.frombuffer((await stub.ModelInfer(plain)).raw_output_contents[0], np.float32)
        assert not replies[0].error_message and replies[0].infer_response.id == "a"
        written = np.frombuffer(block.buf, np.float32, count=10, offset=frame.nbytes).copy()
        np.testing.assert_array_equal(written, expected)
        assert "input 'input'" in replies[1].error_message and "'gone'" in replies[1].error_message
        assert replies[1].infer_response.id == "b"
    finally:
        await server.stop(grace=1.0)
        block.close()
        block.unlink()
