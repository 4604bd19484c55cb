"""Replies as Triton's JSON: 64-bit numbers stay numbers, outputs go JSON or binary as asked."""

from __future__ import annotations

import json

import grpc
import numpy as np

from protos import codec
from protos.errors import ErrorCode
from protos.inference import grpc_service_pb2 as pb
from protos.inference import model_config_pb2 as mc
from service.rest.documents import document
from service.rest.errors import HTTP_STATUS, RestError
from service.rest.replies import infer_reply
from service.rest.requests import ReplyLayout
from service.rpc.status import GRPC_STATUS


def test_every_status_the_server_can_give_has_an_http_status():
    assert set(GRPC_STATUS.values()) <= set(HTTP_STATUS)
    assert HTTP_STATUS[GRPC_STATUS[ErrorCode.NOT_FOUND]] == 404
    assert HTTP_STATUS[GRPC_STATUS[ErrorCode.RESOURCE_EXHAUSTED]] == 429
    assert HTTP_STATUS[GRPC_STATUS[ErrorCode.UNAVAILABLE]] == 503
    assert RestError(413, "big").code is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert RestError(401, "who").code is grpc.StatusCode.UNAUTHENTICATED


def test_documents_keep_int64_as_numbers_and_enums_as_names():
    metadata = pb.ModelMetadataResponse(name="m", versions=["1"])
    metadata.inputs.add(name="x", datatype="FP32", shape=[-1, 3])
    assert document(metadata)["inputs"] == [{"name": "x", "datatype": "FP32", "shape": [-1, 3]}]
    config = mc.ModelConfig(name="m", max_batch_size=0)
    config.input.add(name="x", data_type=mc.TYPE_FP32, dims=[3])
    found = document(config)
    assert found["max_batch_size"] == 0 and found["input"][0]["data_type"] == "TYPE_FP32"
    assert found["input"][0]["dims"] == [3]
    assert "dynamic_batching" not in found  # unset nested blocks are left out


def _reply(raw: bool) -> pb.ModelInferResponse:
    response = pb.ModelInferResponse(model_name="m", model_version="1", id="7")
    for name, array in {"y": np.array([[1.5, 2.0]], np.float32), "s": np.array([b"hi"], dtype=object)}.items():
        datatype = codec.output_datatype(array)
        tensor = response.outputs.add(name=name, datatype=datatype, shape=array.shape)
        if raw:
            response.raw_output_contents.append(codec.encode_raw(array))
        else:
            codec.fill_typed(tensor.contents, array, datatype)
    return response


def test_json_outputs_whatever_form_the_servicer_answered_in():
    for raw in (True, False):
        body, headers = infer_reply(_reply(raw), ReplyLayout())
        assert headers == {"content-type": "application/json"}
        answer = json.loads(body)
        assert answer["id"] == "7"
        assert answer["outputs"] == [
            {"name": "y", "datatype": "FP32", "shape": [1, 2], "data": [1.5, 2.0]},
            {"name": "s", "datatype": "BYTES", "shape": [1], "data": ["hi"]},
        ]


def test_binary_outputs_are_the_raw_bytes_after_the_json():
    body, headers = infer_reply(_reply(False), ReplyLayout(outputs={"y": True}))
    length = int(headers["inference-header-content-length"])
    answer = json.loads(body[:length])
    assert answer["outputs"][0]["parameters"] == {"binary_data_size": 8}
    assert body[length:] == np.array([[1.5, 2.0]], np.float32).tobytes()
    assert answer["outputs"][1]["data"] == ["hi"]
