"""Request building and response decoding shared by the sync and asyncio clients."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np

from protos import codec
from protos.datatypes import datatype_of
from protos.switchyard.v1 import predict_pb2 as pb

__all__ = ["build_request", "decode_outputs", "stream_request", "stream_result", "channel_options", "normalise_target"]

DEFAULT_MAX_MESSAGE = 64 * 1024 * 1024


def channel_options(
    max_message_bytes: int = DEFAULT_MAX_MESSAGE, round_robin: bool = False
) -> list[tuple[str, object]]:
    options: list[tuple[str, object]] = [
        ("grpc.max_receive_message_length", max_message_bytes),
        ("grpc.max_send_message_length", max_message_bytes),
    ]
    if round_robin:
        options.append(("grpc.lb_policy_name", "round_robin"))
    return options


def normalise_target(target: str | Iterable[str]) -> tuple[str, bool]:
    """A host:port, a dns:/// name, or several host:port addresses (spread with round_robin)."""
    if isinstance(target, str):
        if "," not in target:
            return target, target.startswith("dns:")
        target = [t.strip() for t in target.split(",") if t.strip()]
    addresses = list(target)
    if len(addresses) == 1:
        return addresses[0], False
    return "ipv4:" + ",".join(addresses), True


def build_request(
    model: str,
    inputs: Mapping[str, np.ndarray],
    *,
    version: str = "",
    outputs: Iterable[str] = (),
    request_id: str = "",
    parameters: Mapping[str, bool | int | float | str] | None = None,
) -> pb.PredictRequest:
    """numpy inputs -> a PredictRequest with raw contents (the fast path)."""
    request = pb.PredictRequest(model=model, version=version, id=request_id, outputs=list(outputs))
    for name, value in inputs.items():
        array = np.asarray(value)
        request.inputs.add(
            name=name, datatype=datatype_of(array.dtype), shape=array.shape, raw_contents=codec.encode_raw(array)
        )
    for key, setting in (parameters or {}).items():
        param = request.parameters[key]
        if isinstance(setting, bool):
            param.bool_param = setting
        elif isinstance(setting, int):
            param.int64_param = setting
        elif isinstance(setting, float):
            param.double_param = setting
        else:
            param.string_param = str(setting)
    return request


def decode_outputs(response: pb.PredictResponse) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    for tensor in response.outputs:
        if tensor.raw_contents or not codec.has_typed_contents(tensor.contents):
            out[tensor.name] = codec.decode_raw(tensor.name, tensor.datatype, tensor.shape, tensor.raw_contents)
        else:
            out[tensor.name] = codec.decode_typed(tensor.name, tensor.datatype, tensor.shape, tensor.contents)
    return out


def stream_request(request: pb.PredictRequest | pb.PredictStreamRequest) -> pb.PredictStreamRequest:
    """PredictStream carries each request in a PredictStreamRequest; one built as such passes uncopied."""
    if isinstance(request, pb.PredictStreamRequest):
        return request
    return pb.PredictStreamRequest(request=request)


def stream_result(reply: pb.PredictStreamResponse):
    """A stream reply -> its outputs, or the PredictError of its in-band error."""
    from clients.errors import PredictError

    if reply.HasField("error"):
        return PredictError.from_in_band(reply.error, reply.response.id)
    return decode_outputs(reply.response)
