"""inference.ModelInferRequest/Response <-> plain requests and arrays (tensor work goes through protos.codec).

Wire rules of the Open Inference Protocol (Triton's form) enforced here:
- raw_input_contents, when used, holds one entry per input (outside shared memory) in the order of `inputs`,
  and then no input carries typed contents;
- inputs and outputs may live in registered system shared memory (service/oip/shared_memory.py):
  such an input has no contents and no raw_input_contents entry, such an output's contents
  (an empty raw entry, when the response is raw) go into its region instead;
- FP16 and BF16 travel raw only;
- outputs go back raw when the request used raw input (or shared memory), typed otherwise, unless the
  request's `binary_data_output` parameter (or every requested output's `binary_data`
  parameter, Triton's convention) says which; a response is all raw or all typed, and
  FP16/BF16 outputs force raw.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from backends.base import ModelSignature, declared_datatype
from protos import codec
from protos.errors import ErrorCode, InvalidInputError, SwitchyardError
from protos.inference import grpc_service_pb2 as pb
from protos.limits import DEFAULT_LIMITS, Limits
from protos.text import clipped
from service.observability.stages import stage_end, stage_start
from service.oip.shared_memory import REGION, Place, SharedMemoryRegistry, place_of, shared_memory_off
from service.rpc.budget import Lease, RequestIntake, arrays_of
from service.scheduling.runner import InferRequest

RAW_ONLY = frozenset({"FP16", "BF16"})


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


def _check_inputs(
    request: pb.ModelInferRequest, limits: Limits, lease: Lease | None, regions: SharedMemoryRegistry | None = None
) -> list[codec.Checked]:
    raw = request.raw_input_contents
    places = [place_of("input", tensor.name, tensor.parameters) for tensor in request.inputs]
    plain = places.count(None)
    if raw and len(raw) != plain:
        outside = " outside shared memory" if plain != len(places) else ""
        raise InvalidInputError(
            f"raw_input_contents has {len(raw)} entries but the request has {plain} inputs{outside}; "
            "send one entry per input, in the order of `inputs`"
        )
    checked: list[codec.Checked] = []
    names: set[str] = set()
    index = 0  # the next raw_input_contents entry
    for tensor, place in zip(request.inputs, places, strict=True):
        name = tensor.name
        if name in names:
            raise InvalidInputError(f"tensor '{clipped(name)}': input given twice")
        names.add(name)
        typed = codec.has_typed_contents(tensor.contents)
        if place is not None:
            checked.append(_shared_input(tensor, place, typed, regions, limits, lease))
            continue
        if raw:
            if typed:
                raise InvalidInputError(
                    f"tensor '{clipped(name)}': has typed contents while the request uses raw_input_contents; "
                    "use one form for every input"
                )
            contents = raw[index]  # a copy out of the message: read once
            index += 1
            if lease is not None:
                lease.note(len(contents))
            checked.append(codec.check_raw(name, tensor.datatype, tensor.shape, contents, limits))
        elif tensor.datatype in RAW_ONLY:
            raise InvalidInputError(
                f"tensor '{clipped(name)}': datatype {tensor.datatype} has no typed contents; "
                "send it in raw_input_contents"
            )
        else:
            checked.append(codec.check_typed(name, tensor.datatype, tensor.shape, tensor.contents, limits))
    return checked


def _shared_input(
    tensor, place: Place, typed: bool, regions: SharedMemoryRegistry | None, limits: Limits, lease: Lease | None
) -> codec.Checked:
    if regions is None:
        raise shared_memory_off(f"tensor '{clipped(tensor.name)}' (parameter '{REGION}')")
    if typed:
        raise InvalidInputError(
            f"tensor '{clipped(tensor.name)}': has contents and names shared memory region "
            f"'{clipped(place.region)}'; use one"
        )
    return regions.input(tensor.name, tensor.datatype, tensor.shape, place, limits, lease)


def output_places(request: pb.ModelInferRequest, regions: SharedMemoryRegistry | None) -> dict[str, Place]:
    """The requested outputs that go into shared memory, their regions checked before inference runs."""
    places: dict[str, Place] = {}
    for output in request.outputs:
        place = place_of("output", output.name, output.parameters)
        if place is None:
            continue
        if regions is None:
            raise shared_memory_off(f"output '{clipped(output.name)}' (parameter '{REGION}')")
        regions.check_output(output.name, place)
        places[output.name] = place
    return places


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
    # Binary in, binary out: inputs in shared memory count as raw (tritonclient reads only raw outputs).
    return (
        asked.pop()
        if asked
        else bool(request.raw_input_contents) or any(REGION in t.parameters for t in request.inputs)
    )


def _priority(params: dict[str, object]) -> int:
    priority = params.get("priority", 0)
    if not isinstance(priority, int) or isinstance(priority, bool) or priority < 0:
        raise InvalidInputError(f"parameter 'priority' must be a non-negative integer, got {clipped(repr(priority))}")
    return priority


def check_request(
    request: pb.ModelInferRequest,
    deadline: float | None,
    now: float,
    limits: Limits = DEFAULT_LIMITS,
    lease: Lease | None = None,
    regions: SharedMemoryRegistry | None = None,
) -> tuple[InferRequest, list[codec.Checked], bool]:
    """Everything but the arrays: (InferRequest with no inputs yet, its checked tensors, whether
    the outputs go back raw).

    `now` is the runner clock's present; Triton's `timeout` parameter (microseconds)
    tightens the deadline.
    """
    params = parameter_values(request.parameters)
    if params.get("sequence_id") not in (None, 0, ""):
        raise unimplemented("sequence batching (parameter 'sequence_id') is not supported")
    for output in request.outputs:
        if "classification" in output.parameters:
            raise unimplemented(f"output '{clipped(output.name)}': the classification extension is not supported")
    timeout_us = params.get("timeout")
    if isinstance(timeout_us, int) and not isinstance(timeout_us, bool) and timeout_us > 0:
        own = now + timeout_us / 1e6
        deadline = own if deadline is None else min(deadline, own)
    checked = _check_inputs(request, limits, lease, regions)
    infer_request = InferRequest(
        inputs={},
        outputs=tuple(output.name for output in request.outputs),
        id=request.id,
        priority=_priority(params),
        deadline=deadline,
        parameters=params,
    )
    return infer_request, checked, _wants_raw(request, params)


def decode_request(
    request: pb.ModelInferRequest, deadline: float | None, now: float, limits: Limits = DEFAULT_LIMITS
) -> tuple[InferRequest, bool]:
    """A ModelInferRequest -> (InferRequest, whether the outputs go back raw), all on this thread."""
    started = stage_start()
    infer_request, checked, raw_output = check_request(request, deadline, now, limits)
    infer_request.inputs = arrays_of(checked)
    stage_end("decode", started, request.model_name)
    return infer_request, raw_output


async def decode_request_within(
    request: pb.ModelInferRequest,
    deadline: float | None,
    now: float,
    intake: RequestIntake,
    lease: Lease,
    regions: SharedMemoryRegistry | None = None,
) -> tuple[InferRequest, bool]:
    """decode_request within the server's limits: the tensors' bytes are reserved on `lease`
    before their arrays exist, and big conversions run off the event loop."""
    started = stage_start()
    infer_request, checked, raw_output = check_request(request, deadline, now, intake.limits, lease, regions)
    infer_request.inputs = await intake.arrays(checked, lease)
    stage_end("decode", started, request.model_name)
    return infer_request, raw_output


def encode_response(
    request: pb.ModelInferRequest,
    version: int,
    signature: ModelSignature | None,
    outputs: dict[str, np.ndarray],
    raw: bool,
    regions: SharedMemoryRegistry | None = None,
    places: Mapping[str, Place] | None = None,
    into: pb.ModelInferResponse | None = None,
) -> pb.ModelInferResponse:
    """Outputs -> a ModelInferResponse, or filled into `into` (a stream reply's field: no copy of big outputs)."""
    started = stage_start()
    response = pb.ModelInferResponse() if into is None else into
    response.model_name, response.model_version, response.id = request.model_name, str(version), request.id
    datatypes = {
        name: codec.output_datatype(array, declared_datatype(signature, name)) for name, array in outputs.items()
    }
    raw = raw or any(d in RAW_ONLY for d in datatypes.values())
    for name, array in outputs.items():
        tensor = response.outputs.add(name=name, datatype=datatypes[name], shape=array.shape)
        if places and name in places and regions is not None:
            _to_shared_memory(tensor, regions.write_output(name, array, places[name]), places[name])
            if raw:  # one entry per output keeps the others at their positions (Triton does the same)
                response.raw_output_contents.append(b"")
        elif raw:
            response.raw_output_contents.append(codec.encode_raw(array))
        else:
            codec.fill_typed(tensor.contents, array, datatypes[name])
    stage_end("encode", started, request.model_name)
    return response


def _to_shared_memory(tensor, written: int, place: Place) -> None:
    """The output's contents are in its region: say where, and how many bytes."""
    tensor.parameters["shared_memory_region"].string_param = place.region
    tensor.parameters["shared_memory_offset"].int64_param = place.offset
    tensor.parameters["shared_memory_byte_size"].int64_param = written
