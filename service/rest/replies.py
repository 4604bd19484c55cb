"""Replies of the servicers -> KServe v2 JSON, with Triton's binary outputs where asked for.

The servicer's reply holds each output raw or typed; protos.codec turns it back into the
array, which goes out as JSON `data` (flat, row-major, as tritonclient expects) or as the
same raw bytes the gRPC port would send (codec.encode_raw), after the JSON.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from protos import codec
from protos.inference import grpc_service_pb2 as pb
from protos.switchyard.v1 import predict_pb2
from service.rest.binary import join_body
from service.rest.requests import BINARY_SIZE, ReplyLayout

# BF16 has no JSON form (numpy has no bfloat16): it always goes back binary.
_BINARY_ONLY = frozenset({"BF16"})


def json_data(array: np.ndarray, datatype: str) -> list[Any]:
    flat = array.reshape(-1)
    if datatype == "BYTES":
        return [v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v) for v in flat]
    if datatype == "FP16":
        flat = flat.astype(np.float32)
    return flat.tolist()


def _output_arrays(response: pb.ModelInferResponse) -> list[tuple[str, str, list[int], np.ndarray, bytes | None]]:
    """(name, datatype, shape, array, raw bytes if the reply was raw) of every output."""
    raw = response.raw_output_contents
    found: list[tuple[str, str, list[int], np.ndarray, bytes | None]] = []
    for index, tensor in enumerate(response.outputs):
        shape = list(tensor.shape)
        if raw:
            contents = raw[index]
            array = codec.decode_raw(tensor.name, tensor.datatype, shape, contents)
            found.append((tensor.name, tensor.datatype, shape, array, contents))
        else:
            array = codec.decode_typed(tensor.name, tensor.datatype, shape, tensor.contents)
            found.append((tensor.name, tensor.datatype, shape, array, None))
    return found


def infer_reply(response: pb.ModelInferResponse, layout: ReplyLayout) -> tuple[bytes, dict[str, str]]:
    """(body, headers) of an inference reply."""
    outputs: list[dict[str, Any]] = []
    parts: list[bytes] = []
    for name, datatype, shape, array, contents in _output_arrays(response):
        output: dict[str, Any] = {"name": name, "datatype": datatype, "shape": shape}
        if layout.binary(name) or datatype in _BINARY_ONLY:
            data = contents if contents is not None else codec.encode_raw(array)
            output["parameters"] = {BINARY_SIZE: len(data)}
            parts.append(data)
        else:
            output["data"] = json_data(array, datatype)
        outputs.append(output)
    document: dict[str, Any] = {"model_name": response.model_name, "model_version": response.model_version}
    if response.id:
        document["id"] = response.id
    document["outputs"] = outputs
    return join_body(json.dumps(document, separators=(",", ":")).encode(), parts)


def predict_reply(response: predict_pb2.PredictResponse) -> dict[str, Any]:
    """A switchyard.v1 reply (the image path's) as a KServe v2 JSON reply."""
    outputs = []
    for tensor in response.outputs:
        shape = list(tensor.shape)
        if tensor.raw_contents or tensor.datatype in _BINARY_ONLY:
            array = codec.decode_raw(tensor.name, tensor.datatype, shape, tensor.raw_contents)
        else:
            array = codec.decode_typed(tensor.name, tensor.datatype, shape, tensor.contents)
        outputs.append(
            {
                "name": tensor.name,
                "datatype": tensor.datatype,
                "shape": shape,
                "data": json_data(array, tensor.datatype),
            }
        )
    document: dict[str, Any] = {"model_name": response.model, "model_version": response.version}
    if response.id:
        document["id"] = response.id
    document["outputs"] = outputs
    return document
