"""inference.ModelInferRequest/Response <-> plain requests and arrays (tensor work goes through protos.codec).

Wire rules of the Open Inference Protocol (Triton's form) enforced here:
- raw_input_contents, when used, holds one entry per input in the order of `inputs`,
  and then no input carries typed contents;
- FP16 and BF16 travel raw only;
- outputs go back raw when the request used raw input, typed otherwise, unless the
  request's `binary_data_output` parameter (or every requested output's `binary_data`
  parameter, Triton's convention) says which; a response is all raw or all typed, and
  FP16/BF16 outputs force raw.
"""

from __future__ import annotations

import numpy as np

from backends.base import ModelSignature, declared_datatype
from protos import codec
from protos.errors import ErrorCode, InvalidInputError, SwitchyardError
from protos.inference import grpc_service_pb2 as pb
from service.scheduling.runner import InferRequest

RAW_ONLY = frozenset({"FP16", "BF16"})
# Parameters that ask for features Switchyard does not have; refused rather than ignored.
_UNSUPPORTED_INPUT_PARAMETERS = ("shared_memory_region", "shared_memory_byte_size", "shared_memory_offset")


def unimplemented(message: str) -> SwitchyardError:
    return SwitchyardError(message, ErrorCode.UNIMPLEMENTED)


def parameter_values(parameters) -> dict[str, object]:
    """A map<string, InferParameter> as plain values (unset oneofs are dropped)."""
    values: dict[str, object] = {}
    for key, value in parameters.items():
        choice = value.WhichOneof("parameter_choice")
        if choice:
            values[key] = getattr(value, choice)
    return values


def _decode_inputs(request: pb.ModelInferRequest) -> dict[str, np.ndarray]:
    raw = request.raw_input_contents
    if raw and len(raw) != len(request.inputs):
        raise InvalidInputError(
            f"raw_input_contents has {len(raw)} entries but the request has {len(request.inputs)} inputs; "
            "send one entry per input, in the order of `inputs`"
        )
    inputs: dict[str, np.ndarray] = {}
    for index, tensor in enumerate(request.inputs):
        if tensor.name in inputs:
            raise InvalidInputError(f"tensor '{tensor.name}': input given twice")
        for key in _UNSUPPORTED_INPUT_PARAMETERS:
            if key in tensor.parameters:
                raise unimplemented(f"tensor '{tensor.name}': shared memory is not supported (parameter '{key}')")
        typed = codec.has_typed_contents(tensor.contents)
        if raw:
            if typed:
                raise InvalidInputError(
                    f"tensor '{tensor.name}': has typed contents while the request uses raw_input_contents; "
                    "use one form for every input"
                )
            inputs[tensor.name] = codec.decode_raw(tensor.name, tensor.datatype, tensor.shape, raw[index])
        elif tensor.datatype in RAW_ONLY:
            raise InvalidInputError(
                f"tensor '{tensor.name}': datatype {tensor.datatype} has no typed contents; "
                "send it in raw_input_contents"
            )
        else:
            inputs[tensor.name] = codec.decode_typed(tensor.name, tensor.datatype, tensor.shape, tensor.contents)
    return inputs


def _wants_raw(request: pb.ModelInferRequest, params: dict[str, object]) -> bool:
    if "binary_data_output" in params:
        return bool(params["binary_data_output"])
    asked = {
        bool(value)
        for output in request.outputs
        for key, value in parameter_values(output.parameters).items()
        if key == "binary_data"
    }
    if len(asked) > 1:
        raise InvalidInputError(
            "requested outputs disagree on 'binary_data'; a response is either all raw or all typed"
        )
    return asked.pop() if asked else bool(request.raw_input_contents)


def _priority(params: dict[str, object]) -> int:
    priority = params.get("priority", 0)
    if not isinstance(priority, int) or isinstance(priority, bool) or priority < 0:
        raise InvalidInputError(f"parameter 'priority' must be a non-negative integer, got {priority!r}")
    return priority


def decode_request(request: pb.ModelInferRequest, deadline: float | None, now: float) -> tuple[InferRequest, bool]:
    """A ModelInferRequest -> (InferRequest, whether the outputs go back raw).

    `now` is the runner clock's present; Triton's `timeout` parameter (microseconds)
    tightens the deadline.
    """
    params = parameter_values(request.parameters)
    if params.get("sequence_id") not in (None, 0, ""):
        raise unimplemented("sequence batching (parameter 'sequence_id') is not supported")
    for output in request.outputs:
        if "classification" in output.parameters:
            raise unimplemented(f"output '{output.name}': the classification extension is not supported")
    timeout_us = params.get("timeout")
    if isinstance(timeout_us, int) and not isinstance(timeout_us, bool) and timeout_us > 0:
        own = now + timeout_us / 1e6
        deadline = own if deadline is None else min(deadline, own)
    infer_request = InferRequest(
        inputs=_decode_inputs(request),
        outputs=tuple(output.name for output in request.outputs),
        id=request.id,
        priority=_priority(params),
        deadline=deadline,
        parameters=params,
    )
    return infer_request, _wants_raw(request, params)


def encode_response(
    request: pb.ModelInferRequest,
    version: int,
    signature: ModelSignature | None,
    outputs: dict[str, np.ndarray],
    raw: bool,
) -> pb.ModelInferResponse:
    response = pb.ModelInferResponse(model_name=request.model_name, model_version=str(version), id=request.id)
    datatypes = {
        name: codec.output_datatype(array, declared_datatype(signature, name)) for name, array in outputs.items()
    }
    raw = raw or any(d in RAW_ONLY for d in datatypes.values())
    for name, array in outputs.items():
        tensor = response.outputs.add(name=name, datatype=datatypes[name], shape=array.shape)
        if raw:
            response.raw_output_contents.append(codec.encode_raw(array))
        else:
            codec.fill_typed(tensor.contents, array, datatypes[name])
    return response
