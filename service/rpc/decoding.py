"""Registering a servicer with request deserializers that never raise: a body that is not a valid
message gets INVALID_ARGUMENT naming the message type, never UNKNOWN.

grpc's generated add_*Servicer_to_server decodes every request with the message's FromString.
A DecodeError there happens before any servicer code runs: grpc answers UNKNOWN with the
exception's class name, and inside a request stream the error surfaces in whichever task
reads the stream. `add_service` builds the same handlers from the service descriptor (so
reflection and grpcurl see nothing different) with a deserializer that returns the message,
or an `Undecodable` standing in for it. One FromString per message, as before.

- A unary request that is Undecodable is answered INVALID_ARGUMENT before the servicer runs.
- A request stream is numbered. An Undecodable message ends the stream with INVALID_ARGUMENT
  (raised from the request iterator), except for the methods named `in_band`: those receive
  the Undecodable (numbered) and answer it as one bad message, since gRPC's length-prefixed
  framing keeps the following messages intact. `decoded()` turns it into its error.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterable, AsyncIterator, Callable
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any, TypeVar

import grpc
from google.protobuf.descriptor import MethodDescriptor, ServiceDescriptor
from google.protobuf.message import Message
from google.protobuf.message_factory import GetMessageClass

from protos.errors import InvalidInputError
from service.rpc.status import grpc_status

Request = TypeVar("Request")


@dataclass(frozen=True, slots=True)
class Undecodable:
    """What a request stream or handler gets in place of a body that is not a valid `type_name`."""

    type_name: str
    position: int = 0  # the message's number in its stream (from 1); 0 for a unary request

    @property
    def error(self) -> InvalidInputError:
        where = f" (message {self.position} of the stream)" if self.position else ""
        return InvalidInputError(f"request body is not a valid {self.type_name}{where}")


def decoded(item: Request | Undecodable) -> Request:
    """The message itself; INVALID_ARGUMENT for a body that did not decode."""
    if isinstance(item, Undecodable):
        raise item.error
    return item


def deserializer(message_class: type[Message]) -> Callable[[bytes], Any]:
    """FromString, with an Undecodable instead of an exception."""
    from_string = message_class.FromString
    undecodable = Undecodable(message_class.DESCRIPTOR.full_name)

    def deserialize(data: bytes) -> Any:
        try:
            return from_string(data)
        except Exception:  # DecodeError, or the parser's recursion limit: either way not a valid message
            return undecodable

    return deserialize


async def numbered(requests: AsyncIterable[Any], in_band: bool) -> AsyncIterator[Any]:
    """The request stream, each Undecodable told its position; raised unless answered in band."""
    position = 0
    async for item in requests:
        position += 1
        if type(item) is Undecodable:
            item = Undecodable(item.type_name, position)
            if not in_band:
                raise item.error
        yield item


def _refuse(request: Undecodable, context: grpc.aio.ServicerContext) -> None:
    """End the call with the stand-in's status; set, not aborted, like service/rpc/errors.py."""
    code, message = grpc_status(request.error)
    context.set_code(code)
    context.set_details(message)


def _handler(method: MethodDescriptor, behaviour: Callable, in_band: bool) -> grpc.RpcMethodHandler:
    request_streaming, response_streaming = method.client_streaming, method.server_streaming
    if not (inspect.iscoroutinefunction(behaviour) or inspect.isasyncgenfunction(behaviour)):
        raise TypeError(f"{method.full_name}: the servicer's method must be async")
    if request_streaming and response_streaming:

        async def stream_stream(requests, context):
            # aclosing: a cancelled call runs the servicer's clean-up (drain gate, video session) now.
            async with aclosing(behaviour(numbered(requests, in_band), context)) as replies:
                async for reply in replies:
                    yield reply

        factory, call = grpc.stream_stream_rpc_method_handler, stream_stream
    elif request_streaming:

        async def stream_unary(requests, context):
            return await behaviour(numbered(requests, in_band), context)

        factory, call = grpc.stream_unary_rpc_method_handler, stream_unary
    elif response_streaming:

        async def unary_stream(request, context):
            if type(request) is Undecodable:
                _refuse(request, context)
                return
            async with aclosing(behaviour(request, context)) as replies:
                async for reply in replies:
                    yield reply

        factory, call = grpc.unary_stream_rpc_method_handler, unary_stream
    else:

        async def unary_unary(request, context):
            if type(request) is Undecodable:
                _refuse(request, context)
                return None  # grpc sends no reply message with a status that is not OK
            return await behaviour(request, context)

        factory, call = grpc.unary_unary_rpc_method_handler, unary_unary
    return factory(
        call,
        request_deserializer=deserializer(GetMessageClass(method.input_type)),
        response_serializer=GetMessageClass(method.output_type).SerializeToString,
    )


def add_service(
    server: grpc.aio.Server, service: ServiceDescriptor, servicer: object, in_band: frozenset[str] = frozenset()
) -> str:
    """Serve every method of `service` from the servicer's method of the same name; returns the
    service's full name. `in_band`: stream methods that answer an undecodable message themselves."""
    unknown = in_band - {m.name for m in service.methods}
    if unknown:
        raise ValueError(f"{service.full_name} has no methods {sorted(unknown)}")
    handlers = {m.name: _handler(m, getattr(servicer, m.name), m.name in in_band) for m in service.methods}
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(service.full_name, handlers),))
    server.add_registered_method_handlers(service.full_name, handlers)
    return service.full_name
