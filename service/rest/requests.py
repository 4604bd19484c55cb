"""A KServe v2 JSON inference request (with Triton's binary tensors) -> inference.ModelInferRequest.

Only the shape of the JSON is checked here (what is an object, a list, a string); everything
about the tensors themselves (datatypes, shapes against contents, limits, names given twice,
parameters) is the Open Inference Protocol's own decoding (service/oip/messages.py, through
the servicer). JSON `data` becomes typed contents, as a gRPC client would send it; when any
input is binary, or an FP16/BF16 input has no typed form, every input goes raw (the protocol
allows one form per request) and JSON data is packed with numpy first.

Per-output `binary_data` (and the request's `binary_data_output`) are HTTP's choice of reply
layout, answered here (service/rest/replies.py); they are not passed on.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from protos import codec
from protos.datatypes import DATATYPES, numpy_dtype
from protos.errors import InvalidInputError
from protos.inference import grpc_service_pb2 as pb
from protos.parameters import set_parameter
from protos.text import clipped
from service.oip.messages import RAW_ONLY
from service.rest.binary import BinaryParts

BINARY_SIZE = "binary_data_size"
BINARY_OUTPUT = "binary_data"
ALL_BINARY = "binary_data_output"
# numpy kinds a JSON list may hold for each kind of datatype ("b" bool, "i" int, "u" uint, "f" float).
_ACCEPTS = {"b": "b", "i": "biu", "u": "biu", "f": "biuf"}


@dataclass
class ReplyLayout:
    """Which outputs go back as binary: each asked-for output's own choice, else the request's."""

    all_binary: bool = False
    outputs: dict[str, bool] = field(default_factory=dict)

    def binary(self, name: str) -> bool:
        return self.outputs.get(name, self.all_binary)


def parse_json(data: memoryview | bytes, what: str = "request body") -> Any:
    try:
        return json.loads(bytes(data))
    except (UnicodeDecodeError, ValueError) as exc:
        reason = exc.msg if isinstance(exc, json.JSONDecodeError) else "not UTF-8"
        raise InvalidInputError(f"{what} is not valid JSON: {reason}") from None


def _object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidInputError(f"{where} must be a JSON object")
    return value


def _list(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise InvalidInputError(f"{where} must be a JSON array")
    return value


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise InvalidInputError(f"{where} must be a string")
    return value


def set_parameters(target: Any, values: Any, where: str, skip: frozenset[str] = frozenset()) -> None:
    """JSON parameters -> a map<string, InferParameter> (bool, int64, double or string values)."""
    for key, value in _object(values, where).items():
        if key in skip:
            continue
        try:
            set_parameter(target[key], value)
        except (TypeError, ValueError):
            del target[key]
            raise InvalidInputError(
                f"{where}.{clipped(key)} must be a boolean, a 64-bit integer, a number or a string"
            ) from None


def _flat(data: list[Any]) -> list[Any]:
    """Triton accepts `data` nested like the shape or flat; the protocol's contents are flat."""
    if data and isinstance(data[0], list):
        return list(_leaves(data))
    return data


def _leaves(data: list[Any]) -> Iterator[Any]:
    for item in data:
        if isinstance(item, list):
            yield from _leaves(item)
        else:
            yield item


def _bad_data(name: str, datatype: str) -> InvalidInputError:
    return InvalidInputError(f"tensor '{clipped(name)}': data holds a value that is not {datatype}")


def _typed(tensor: pb.ModelInferRequest.InferInputTensor, values: list[Any]) -> None:
    field_name = codec.TYPED_FIELD[tensor.datatype]
    if tensor.datatype == "BYTES":
        if not all(isinstance(v, str) for v in values):
            raise _bad_data(tensor.name, "BYTES (a string)")
        values = [v.encode() for v in values]
    try:
        getattr(tensor.contents, field_name).extend(values)
    except (TypeError, ValueError):
        raise _bad_data(tensor.name, tensor.datatype) from None


def _packed(name: str, datatype: str, values: list[Any]) -> bytes:
    """JSON values as raw little-endian bytes (when the request goes raw)."""
    if datatype == "BYTES":
        if not all(isinstance(v, str) for v in values):
            raise _bad_data(name, "BYTES (a string)")
        return codec.encode_raw(np.array([v.encode() for v in values], dtype=object))
    target = numpy_dtype(datatype)
    try:
        found = np.asarray(values)
    except ValueError:
        raise _bad_data(name, datatype) from None
    if found.size and found.dtype.kind not in _ACCEPTS[target.kind if datatype != "BF16" else "f"]:
        raise _bad_data(name, datatype)
    if datatype == "BF16":  # the upper half of each FP32 word, rounded to nearest even
        words = found.astype("<f4").view("<u4")
        rounded = (words + 0x7FFF + ((words >> 16) & 1)) >> 16
        return rounded.astype("<u2").tobytes()
    codec.check_range(name, datatype, found)
    return codec.encode_raw(found.astype(target))


def _input(item: Any, index: int) -> tuple[pb.ModelInferRequest.InferInputTensor, list[Any] | None, int | None]:
    """(tensor header, JSON data or None, binary size or None) of inputs[index]."""
    where = f"inputs[{index}]"
    spec = _object(item, where)
    name = _text(spec.get("name"), f"{where}.name")
    datatype = _text(spec.get("datatype"), f"tensor '{clipped(name)}': datatype")
    shape = _list(spec.get("shape"), f"tensor '{clipped(name)}': shape")
    if not all(isinstance(d, int) and not isinstance(d, bool) for d in shape):
        raise InvalidInputError(f"tensor '{clipped(name)}': shape must be a list of integers")
    tensor = pb.ModelInferRequest.InferInputTensor(name=name, datatype=datatype)
    try:
        tensor.shape.extend(shape)
    except ValueError:
        raise InvalidInputError(f"tensor '{clipped(name)}': a dimension of shape is out of range") from None
    parameters = spec.get("parameters", {})
    set_parameters(tensor.parameters, parameters, f"tensor '{clipped(name)}': parameters", frozenset({BINARY_SIZE}))
    size = parameters.get(BINARY_SIZE)
    if size is not None:
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise InvalidInputError(f"tensor '{clipped(name)}': {BINARY_SIZE} must be a non-negative integer")
        if "data" in spec:
            raise InvalidInputError(f"tensor '{clipped(name)}': has both data and {BINARY_SIZE}; send one")
        return tensor, None, size
    if "data" not in spec:
        raise InvalidInputError(f"tensor '{clipped(name)}': has neither data nor parameters.{BINARY_SIZE}")
    return tensor, _flat(_list(spec["data"], f"tensor '{clipped(name)}': data")), None


def infer_request(
    document: Any, binary: BinaryParts, model: str, version: str
) -> tuple[pb.ModelInferRequest, ReplyLayout]:
    """The ModelInferRequest a JSON (+ binary) body stands for, and how its reply is laid out."""
    body = _object(document, "request body")
    request = pb.ModelInferRequest(model_name=model, model_version=version)
    if "id" in body:
        request.id = _text(body["id"], "id")
    parameters = body.get("parameters", {})
    set_parameters(request.parameters, parameters, "parameters", frozenset({ALL_BINARY}))
    layout = ReplyLayout(all_binary=bool(_object(parameters, "parameters").get(ALL_BINARY, False)))
    inputs = [_input(item, i) for i, item in enumerate(_list(body.get("inputs"), "inputs"))]
    raw = any(size is not None or tensor.datatype in RAW_ONLY for tensor, _, size in inputs)
    for tensor, data, size in inputs:
        if tensor.datatype not in DATATYPES:
            codec.check_header(tensor.name, tensor.datatype, ())  # raises: the error lists the datatypes
        if size is not None:
            request.raw_input_contents.append(binary.take(tensor.name, size))
        elif raw:
            request.raw_input_contents.append(_packed(tensor.name, tensor.datatype, data or []))
        else:
            _typed(tensor, data or [])
        request.inputs.append(tensor)
    binary.check_used()
    for index, item in enumerate(body.get("outputs") or ()):
        where = f"outputs[{index}]"
        spec = _object(item, where)
        name = _text(spec.get("name"), f"{where}.name")
        output = request.outputs.add(name=name)
        parameters = spec.get("parameters", {})
        set_parameters(
            output.parameters, parameters, f"output '{clipped(name)}': parameters", frozenset({BINARY_OUTPUT})
        )
        if BINARY_OUTPUT in parameters:
            layout.outputs[name] = bool(parameters[BINARY_OUTPUT])
    return request, layout
