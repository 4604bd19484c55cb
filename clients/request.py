"""Request building and response decoding shared by the sync and asyncio clients."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Iterator, Mapping
from typing import Any

import numpy as np

from protos import codec
from protos.datatypes import datatype_of
from protos.parameters import set_parameter
from protos.switchyard.v1 import predict_pb2 as pb

__all__ = [
    "Outputs",
    "RequestFeed",
    "build_request",
    "channel_options",
    "decode_outputs",
    "stream_request",
    "stream_result",
]

DEFAULT_MAX_MESSAGE = 64 * 1024 * 1024


def channel_options(max_message_bytes: int = DEFAULT_MAX_MESSAGE) -> list[tuple[str, object]]:
    """Only the message size limits (for callers that open their own channel)."""
    return [
        ("grpc.max_receive_message_length", max_message_bytes),
        ("grpc.max_send_message_length", max_message_bytes),
    ]


class Outputs(dict):
    """A reply's output tensors by name; `request_id` is the id the request carried."""

    request_id: str = ""


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
        set_parameter(request.parameters[key], setting if isinstance(setting, bool | int | float) else str(setting))
    return request


def decode_outputs(response: pb.PredictResponse) -> Outputs:
    out = Outputs()
    out.request_id = response.id
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


class RequestFeed:
    """The caller's request iterator as grpc consumes it, keeping an exception it raises.

    grpc would swallow that exception (cancelling the call, reported as CANCELLED or UNKNOWN);
    the feed cancels the call itself and the client re-raises the caller's own exception.
    """

    def __init__(self) -> None:
        self.error: BaseException | None = None
        self.call: Any = None

    def bind(self, call: Any) -> Any:
        """The call the feed feeds; grpc may have pulled (and failed) before it existed."""
        self.call = call
        if self.error is not None:
            call.cancel()
        return call

    def _failed(self, exc: BaseException) -> None:
        self.error = exc
        if self.call is not None:
            self.call.cancel()

    def sync(self, requests: Iterable[Any], convert: Callable[[Any], Any]) -> Iterator[Any]:
        try:
            for request in requests:
                yield convert(request)
        except Exception as exc:
            self._failed(exc)

    async def aio(
        self, requests: AsyncIterable[Any] | Iterable[Any], convert: Callable[[Any], Any]
    ) -> AsyncIterator[Any]:
        try:
            if isinstance(requests, AsyncIterable):
                async for request in requests:
                    yield convert(request)
            else:
                for request in requests:
                    yield convert(request)
        except Exception as exc:
            self._failed(exc)

    def reraise(self) -> None:
        if self.error is not None:
            raise self.error
