"""Valid bodies for every RPC of both services (the fuzzer's starting points) and their repository.

`SEEDS` maps "/package.Service/Method" to lists of valid bodies (unary) or valid streams
(a list of message lists). tests/fuzz/test_fuzz_rpcs.py fails if a method has none, so a new
RPC cannot slip past the fuzzer.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from google.protobuf.message_factory import GetMessageClass
from onnx import TensorProto
from simplejpeg import encode_jpeg

from protos.inference import grpc_service_pb2 as oip
from protos.switchyard.v1 import predict_pb2 as pb
from protos.switchyard.v1 import video_pb2 as vpb
from tests.conftest import write_model
from tests.fixtures import models

PREDICT = pb.DESCRIPTOR.services_by_name["Predict"]
OIP = oip.DESCRIPTOR.services_by_name["GRPCInferenceService"]
SERVICES = (PREDICT, OIP)

ADD = "add"
SPARE = "spare"  # loaded and unloaded by the admin RPCs, so no other case loses its model
VISION = "tiny_vision"
STRINGS = "identity_string"


def build_repository(root: Path) -> Path:
    write_model(root, ADD, models.add_model(), "backend: onnxruntime\n")
    write_model(root, SPARE, models.add_model(), "backend: onnxruntime\n")
    write_model(root, STRINGS, models.identity_model(TensorProto.STRING, STRINGS), "backend: onnxruntime\n")
    vision = "backend: onnxruntime\npreprocess: {size: [64, 64], scale: 0.0039}\npostprocess: {kind: classification}\n"
    write_model(root, VISION, models.tiny_cnn(), vision)
    return root


def _path(service, method: str) -> str:
    return f"/{service.full_name}/{method}"


ONES = np.ones((1, 4), np.float32)


def predict_requests() -> list[pb.PredictRequest]:
    raw = [pb.Tensor(name=n, datatype="FP32", shape=[1, 4], raw_contents=ONES.tobytes()) for n in "ab"]
    typed = [
        pb.Tensor(name=n, datatype="FP32", shape=[1, 4], contents=pb.TensorContents(fp32_contents=[1, 2, 3, 4]))
        for n in "ab"
    ]
    strings = pb.Tensor(name="x", datatype="BYTES", shape=[1, 2], raw_contents=b"\x02\x00\x00\x00hi\x03\x00\x00\x00abc")
    return [
        pb.PredictRequest(model=ADD, version="1", id="r1", inputs=raw, outputs=["sum"]),
        pb.PredictRequest(model=ADD, inputs=typed),
        pb.PredictRequest(model=STRINGS, inputs=[strings]),
    ]


def infer_requests() -> list[oip.ModelInferRequest]:
    inputs = [oip.ModelInferRequest.InferInputTensor(name=n, datatype="FP32", shape=[1, 4]) for n in "ab"]
    typed = [
        oip.ModelInferRequest.InferInputTensor(
            name=n, datatype="FP32", shape=[1, 4], contents=oip.InferTensorContents(fp32_contents=[1, 2, 3, 4])
        )
        for n in "ab"
    ]
    strings = oip.ModelInferRequest.InferInputTensor(
        name="x", datatype="BYTES", shape=[1, 2], contents=oip.InferTensorContents(bytes_contents=[b"hi", b"abc"])
    )
    return [
        oip.ModelInferRequest(
            model_name=ADD,
            model_version="1",
            id="r1",
            inputs=inputs,
            outputs=[oip.ModelInferRequest.InferRequestedOutputTensor(name="sum")],
            raw_input_contents=[ONES.tobytes(), ONES.tobytes()],
        ),
        oip.ModelInferRequest(model_name=ADD, inputs=typed),
        oip.ModelInferRequest(model_name=STRINGS, inputs=[strings]),
    ]


def video_stream(returns: str = "RETURN_TENSORS") -> list[vpb.StreamVideoRequest]:
    picture = np.zeros((48, 64, 3), np.uint8)
    picture[8:40, 16:48] = 200
    config = vpb.StreamConfig(model=VISION, encoding="ENCODING_JPEG", returns=returns, max_pending=2)
    frames = [
        vpb.StreamVideoRequest(frame=vpb.VideoFrame(index=i, pts=i, data=encode_jpeg(picture, colorspace="RGB")))
        for i in range(2)
    ]
    return [vpb.StreamVideoRequest(config=config), *frames]


def _unary(service, bodies_by_method: dict[str, list]) -> dict[str, list[bytes]]:
    return {_path(service, m): [b.SerializeToString() for b in bodies] for m, bodies in bodies_by_method.items()}


def _streams(service, streams_by_method: dict[str, list[list]]) -> dict[str, list[list[bytes]]]:
    return {
        _path(service, m): [[b.SerializeToString() for b in stream] for stream in streams]
        for m, streams in streams_by_method.items()
    }


UNARY_SEEDS: dict[str, list[bytes]] = {
    **_unary(
        PREDICT,
        {
            "Predict": predict_requests(),
            "ListModels": [pb.ListModelsRequest()],
            "GetModel": [pb.GetModelRequest(model=ADD, version="1"), pb.GetModelRequest(model=VISION)],
            "GetServerInfo": [pb.GetServerInfoRequest()],
        },
    ),
    **_unary(
        OIP,
        {
            "ServerLive": [oip.ServerLiveRequest()],
            "ServerReady": [oip.ServerReadyRequest()],
            "ServerMetadata": [oip.ServerMetadataRequest()],
            "ModelReady": [oip.ModelReadyRequest(name=ADD, version="1")],
            "ModelMetadata": [oip.ModelMetadataRequest(name=ADD), oip.ModelMetadataRequest(name=VISION, version="1")],
            "ModelConfig": [oip.ModelConfigRequest(name=ADD, version="1")],
            "ModelStatistics": [oip.ModelStatisticsRequest(name=ADD), oip.ModelStatisticsRequest()],
            "ModelInfer": infer_requests(),
            "RepositoryIndex": [oip.RepositoryIndexRequest(ready=True), oip.RepositoryIndexRequest()],
            "RepositoryModelLoad": [oip.RepositoryModelLoadRequest(model_name=SPARE)],
            "RepositoryModelUnload": [oip.RepositoryModelUnloadRequest(model_name=SPARE)],
            "SystemSharedMemoryStatus": [oip.SystemSharedMemoryStatusRequest(name="region")],
            "SystemSharedMemoryRegister": [
                oip.SystemSharedMemoryRegisterRequest(name="region", key="/shm", offset=0, byte_size=64)
            ],
            "SystemSharedMemoryUnregister": [oip.SystemSharedMemoryUnregisterRequest(name="region")],
            "CudaSharedMemoryStatus": [oip.CudaSharedMemoryStatusRequest(name="region")],
            "CudaSharedMemoryRegister": [
                oip.CudaSharedMemoryRegisterRequest(name="region", raw_handle=b"\x01" * 8, device_id=0, byte_size=64)
            ],
            "CudaSharedMemoryUnregister": [oip.CudaSharedMemoryUnregisterRequest(name="region")],
            "TraceSetting": [oip.TraceSettingRequest(model_name=ADD)],
            "LogSettings": [oip.LogSettingsRequest()],
        },
    ),
}

STREAM_SEEDS: dict[str, list[list[bytes]]] = {
    **_streams(
        PREDICT,
        {
            "PredictStream": [[pb.PredictStreamRequest(request=r) for r in predict_requests()]],
            "StreamVideo": [video_stream(), video_stream("RETURN_RESULTS")],
        },
    ),
    **_streams(OIP, {"ModelStreamInfer": [infer_requests()]}),
}

# Streams that answer a bad message in band and go on; the others end with a status.
IN_BAND = {_path(PREDICT, "PredictStream"), _path(OIP, "ModelStreamInfer")}
# RPCs Switchyard answers UNIMPLEMENTED by design (service/oip/servicer.py).
UNIMPLEMENTED = {
    _path(OIP, m)
    for m in (
        "CudaSharedMemoryStatus",
        "CudaSharedMemoryRegister",
        "CudaSharedMemoryUnregister",
        "LogSettings",
    )
}


def every_method() -> list[str]:
    return [_path(service, m.name) for service in SERVICES for m in service.methods]


def request_class(path: str):
    """The message class a method's requests decode to (to tell which mutated bodies still decode)."""
    service_name, method = path.strip("/").split("/")
    service = next(s for s in SERVICES if s.full_name == service_name)
    return GetMessageClass(service.methods_by_name[method].input_type)
