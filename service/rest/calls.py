"""Calling a gRPC servicer method from HTTP: the servicer's own code, decorators and all.

A servicer method takes a request message and a ServicerContext, and ends a failed call by
setting the context's code and details (service/rpc/errors.py). `ServicerCall` stands in for
that context, so an HTTP request runs exactly what the gRPC method runs: its checks, its
drain gate, its error mapping. It has no deadline: KServe's HTTP form carries none (Triton's
`timeout` parameter still tightens one, as over gRPC).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import grpc

from service.rest.errors import HTTP_STATUS, RestError


class ServicerCall:
    """The parts of grpc.aio.ServicerContext the servicers use: the status they set, and no deadline.

    No invocation metadata: only the gRPC interceptors read it, and the REST layer does their
    work from the HTTP headers (service/rest/auth.py, service/rest/observe.py)."""

    __slots__ = ("_code", "_details")

    def __init__(self) -> None:
        self._code: grpc.StatusCode | None = None
        self._details = ""

    def set_code(self, code: grpc.StatusCode) -> None:
        self._code = code

    def set_details(self, details: str) -> None:
        self._details = details

    def code(self) -> grpc.StatusCode | None:
        return self._code

    def details(self) -> str:
        return self._details

    def time_remaining(self) -> float | None:
        return None


class CallFailed(RestError):
    """The servicer ended the call with a status that is not OK: that code, and its HTTP status."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(HTTP_STATUS.get(code, 500), message)
        self.code = code  # the servicer's own, which the HTTP status alone may not tell (400 is three codes)


async def call(method: Callable[[Any, Any], Awaitable[Any]], request: Any, context: ServicerCall) -> Any:
    """The method's reply; CallFailed with the status it set otherwise."""
    reply = await method(request, context)
    code = context.code()
    if code is not None and code is not grpc.StatusCode.OK:
        raise CallFailed(code, context.details())
    return reply
