"""Replacing a grpc.aio method handler's behaviour while keeping its kind and (de)serializers.

The server's interceptors (observability, auth) wrap each method's handler once: they take
the behaviour out of the handler, wrap it, and build a handler of the same kind around the
wrapper.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc

_KINDS = {
    (False, False): ("unary_unary", grpc.unary_unary_rpc_method_handler),
    (False, True): ("unary_stream", grpc.unary_stream_rpc_method_handler),
    (True, False): ("stream_unary", grpc.stream_unary_rpc_method_handler),
    (True, True): ("stream_stream", grpc.stream_stream_rpc_method_handler),
}


def behavior_of(handler: grpc.RpcMethodHandler) -> Callable[..., Any]:
    """The function the handler calls for each RPC (request or request iterator, context)."""
    return getattr(handler, _KINDS[(handler.request_streaming, handler.response_streaming)][0])


def with_behavior(handler: grpc.RpcMethodHandler, behavior: Callable[..., Any]) -> grpc.RpcMethodHandler:
    """A handler like `handler` that calls `behavior` instead."""
    build = _KINDS[(handler.request_streaming, handler.response_streaming)][1]
    return build(
        behavior, request_deserializer=handler.request_deserializer, response_serializer=handler.response_serializer
    )
