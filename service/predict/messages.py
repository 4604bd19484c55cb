"""switchyard.v1 messages <-> plain requests and arrays (tensor work goes through protos.codec)."""

from __future__ import annotations

import numpy as np

from backends.base import ModelSignature, declared_datatype
from protos import codec
from protos.errors import InvalidInputError
from protos.switchyard.v1 import predict_pb2 as pb
from service.scheduling.runner import InferRequest


def parameters_of(request: pb.PredictRequest) -> dict[str, object]:
    return {
        key: getattr(value, value.WhichOneof("choice"))
        for key, value in request.parameters.items()
        if value.WhichOneof("choice")
    }


def decode_request(request: pb.PredictRequest, deadline: float | None) -> tuple[InferRequest, bool]:
    """A PredictRequest -> (InferRequest, whether the outputs go back raw)."""
    inputs: dict[str, np.ndarray] = {}
    any_raw = False
    for tensor in request.inputs:
        if tensor.name in inputs:
            raise InvalidInputError(f"input '{tensor.name}' is given twice")
        typed = tensor.HasField("contents") and codec.has_typed_contents(tensor.contents)
        # Read once: every access to a bytes field copies it out of the message.
        raw = tensor.raw_contents
        if raw and typed:
            raise InvalidInputError(f"tensor '{tensor.name}': both raw_contents and typed contents are set; send one")
        if raw or (not typed and tensor.datatype in ("FP16", "BF16")):
            any_raw = True
            inputs[tensor.name] = codec.decode_raw(tensor.name, tensor.datatype, tensor.shape, raw)
        else:
            inputs[tensor.name] = codec.decode_typed(tensor.name, tensor.datatype, tensor.shape, tensor.contents)
    params = parameters_of(request) if request.parameters else {}
    priority = params.get("priority", 0)
    if not isinstance(priority, int) or isinstance(priority, bool):
        raise InvalidInputError(f"parameter 'priority' must be an integer (int64_param), got {priority!r}")
    raw_output = request.raw_output if request.HasField("raw_output") else any_raw
    return (
        InferRequest(
            inputs=inputs,
            outputs=tuple(request.outputs),
            id=request.id,
            priority=priority,
            deadline=deadline,
            parameters=params,
        ),
        raw_output,
    )


def encode_response(
    request: pb.PredictRequest,
    version: int,
    outputs: dict[str, np.ndarray],
    raw: bool,
    signature: ModelSignature | None = None,
    into: pb.PredictResponse | None = None,
) -> pb.PredictResponse:
    """Outputs -> a PredictResponse, or filled into `into` (a stream reply's field: no copy of big outputs)."""
    response = pb.PredictResponse() if into is None else into
    response.model, response.version, response.id = request.model, str(version), request.id
    for name, array in outputs.items():
        datatype = codec.output_datatype(array, declared_datatype(signature, name))
        tensor = response.outputs.add(name=name, datatype=datatype, shape=array.shape)
        if raw or datatype == "BF16":  # BF16 has no typed contents field
            tensor.raw_contents = codec.encode_raw(array)
        else:
            codec.fill_typed(tensor.contents, array, datatype)
    return response
