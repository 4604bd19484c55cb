"""switchyard.v1 messages <-> plain requests and arrays (tensor work goes through protos.codec)."""

from __future__ import annotations

import numpy as np

from backends.base import ModelSignature, declared_datatype
from protos import codec
from protos.errors import InvalidInputError
from protos.limits import DEFAULT_LIMITS, Limits
from protos.switchyard.v1 import predict_pb2 as pb
from protos.text import clipped
from service.observability.stages import stage_end, stage_start
from service.rpc.budget import Lease, RequestIntake, arrays_of
from service.scheduling.runner import InferRequest


def parameters_of(request: pb.PredictRequest) -> dict[str, object]:
    return {
        key: getattr(value, value.WhichOneof("choice"))
        for key, value in request.parameters.items()
        if value.WhichOneof("choice")
    }


def check_request(
    request: pb.PredictRequest, deadline: float | None, limits: Limits = DEFAULT_LIMITS, lease: Lease | None = None
) -> tuple[InferRequest, list[codec.Checked], bool]:
    """Everything but the arrays: (InferRequest with no inputs yet, its checked tensors, whether
    the outputs go back raw). Every check that needs no allocation happens here."""
    checked: list[codec.Checked] = []
    names: set[str] = set()
    any_raw = False
    for tensor in request.inputs:
        name = tensor.name
        if name in names:
            raise InvalidInputError(f"input '{clipped(name)}' is given twice")
        names.add(name)
        typed = tensor.HasField("contents") and codec.has_typed_contents(tensor.contents)
        # Read once: every access to a bytes field copies it out of the message.
        raw = tensor.raw_contents
        if lease is not None:
            lease.note(len(raw))
        if raw and typed:
            raise InvalidInputError(f"tensor '{clipped(name)}': both raw_contents and typed contents are set; send one")
        if raw or (not typed and tensor.datatype in ("FP16", "BF16")):
            any_raw = True
            checked.append(codec.check_raw(name, tensor.datatype, tensor.shape, raw, limits))
        else:
            checked.append(codec.check_typed(name, tensor.datatype, tensor.shape, tensor.contents, limits))
    params = parameters_of(request) if request.parameters else {}
    priority = params.get("priority", 0)
    if not isinstance(priority, int) or isinstance(priority, bool):
        raise InvalidInputError(f"parameter 'priority' must be an integer (int64_param), got {clipped(repr(priority))}")
    raw_output = request.raw_output if request.HasField("raw_output") else any_raw
    infer_request = InferRequest(
        inputs={},
        outputs=tuple(request.outputs),
        id=request.id,
        priority=priority,
        deadline=deadline,
        parameters=params,
    )
    return infer_request, checked, raw_output


def decode_request(
    request: pb.PredictRequest, deadline: float | None, limits: Limits = DEFAULT_LIMITS
) -> tuple[InferRequest, bool]:
    """A PredictRequest -> (InferRequest, whether the outputs go back raw), all on this thread."""
    started = stage_start()
    infer_request, checked, raw_output = check_request(request, deadline, limits)
    infer_request.inputs = arrays_of(checked)
    stage_end("decode", started, request.model)
    return infer_request, raw_output


async def decode_request_within(
    request: pb.PredictRequest, deadline: float | None, intake: RequestIntake, lease: Lease
) -> tuple[InferRequest, bool]:
    """decode_request within the server's limits: the tensors' bytes are reserved on `lease`
    before their arrays exist, and big conversions run off the event loop."""
    started = stage_start()
    infer_request, checked, raw_output = check_request(request, deadline, intake.limits, lease)
    infer_request.inputs = await intake.arrays(checked, lease)
    stage_end("decode", started, request.model)
    return infer_request, raw_output


def encode_response(
    request: pb.PredictRequest,
    version: int,
    outputs: dict[str, np.ndarray],
    raw: bool,
    signature: ModelSignature | None = None,
    into: pb.PredictResponse | None = None,
) -> pb.PredictResponse:
    """Outputs -> a PredictResponse, or filled into `into` (a stream reply's field: no copy of big outputs)."""
    started = stage_start()
    response = pb.PredictResponse() if into is None else into
    response.model, response.version, response.id = request.model, str(version), request.id
    for name, array in outputs.items():
        datatype = codec.output_datatype(array, declared_datatype(signature, name))
        tensor = response.outputs.add(name=name, datatype=datatype, shape=array.shape)
        if raw or datatype == "BF16":  # BF16 has no typed contents field
            tensor.raw_contents = codec.encode_raw(array)
        else:
            codec.fill_typed(tensor.contents, array, datatype)
    stage_end("encode", started, request.model)
    return response
