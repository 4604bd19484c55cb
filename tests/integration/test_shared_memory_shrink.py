"""A same-host client that shrinks its shared memory object while its requests run costs only
those requests: the server answers OK or FAILED_PRECONDITION and keeps serving.

The server runs in its own process, so a fault there (SIGBUS, what touching a mapped page past
the end of a shrunk object raises) ends the server and fails the test instead of ending pytest.
"""

from __future__ import annotations

import os
import sys
import threading
from collections import Counter
from multiprocessing import shared_memory

import grpc

from protos.inference import grpc_service_pb2 as pb
from protos.inference import grpc_service_pb2_grpc
from tests.conftest import serving, write_model
from tests.fixtures.models import tiny_cnn

INPUT_BYTES = 1 * 3 * 64 * 64 * 4  # tiny_cnn's FP32 input [1, 3, 64, 64]: twelve pages
REQUESTS = 400


def _request() -> pb.ModelInferRequest:
    request = pb.ModelInferRequest(model_name="tiny_cnn")
    tensor = request.inputs.add(name="input", datatype="FP32", shape=[1, 3, 64, 64])
    tensor.parameters["shared_memory_region"].string_param = "frame"
    tensor.parameters["shared_memory_byte_size"].int64_param = INPUT_BYTES
    return request


def test_a_client_shrinking_its_object_mid_request_never_takes_the_server_down(tmp_path):
    write_model(tmp_path, "tiny_cnn", tiny_cnn(), "backend: onnxruntime\n")
    block = shared_memory.SharedMemory(create=True, size=INPUT_BYTES)
    stop = threading.Event()

    def shrink_and_grow() -> None:
        fd = os.open(f"/dev/shm/{block.name}", os.O_RDWR)
        try:
            while not stop.is_set():
                os.ftruncate(fd, 0)
                os.ftruncate(fd, INPUT_BYTES)
        finally:
            os.close(fd)

    try:
        with serving(sys.executable, tmp_path) as (proc, address), grpc.insecure_channel(address) as channel:
            stub = grpc_service_pb2_grpc.GRPCInferenceServiceStub(channel)
            stub.SystemSharedMemoryRegister(
                pb.SystemSharedMemoryRegisterRequest(
                    name="frame", key="/" + block.name, offset=0, byte_size=INPUT_BYTES
                ),
                timeout=10,
            )
            request = _request()
            codes: Counter[str] = Counter()
            toggler = threading.Thread(target=shrink_and_grow)
            toggler.start()
            try:
                for _ in range(REQUESTS):
                    try:
                        stub.ModelInfer(request, timeout=10)
                        codes["OK"] += 1
                    except grpc.RpcError as error:
                        codes[error.code().name] += 1
                        if error.code() is grpc.StatusCode.FAILED_PRECONDITION:
                            assert "shrank" in (error.details() or ""), error.details()
            finally:
                stop.set()
                toggler.join()
            assert proc.poll() is None, f"the server died (exit code {proc.returncode}); answers: {codes}"
            assert set(codes) <= {"OK", "FAILED_PRECONDITION"}, codes
            reply = stub.ModelInfer(request, timeout=10)  # the object whole again: served as usual
            assert list(reply.outputs[0].shape) == [1, 10]
    finally:
        block.close()
        block.unlink()
