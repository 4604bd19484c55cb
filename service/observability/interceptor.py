"""The one place every RPC passes: its request context, its server span and its request log line.

Installed first among the server's interceptors, so it also sees calls the auth layer refuses
(their status is in the span and the log). The identity the auth layer sets is read after the
handler ran (same task, same context), so a line logged for the call names the caller.

Each method's handler is wrapped once and cached, as the auth interceptor does; per call the
cost without tracing is the context, a clock reading and one `if` for the log line.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import aclosing
from typing import TYPE_CHECKING, Any

import grpc

from service.observability.access_log import AccessLog
from service.observability.logging import RequestContext, new_request_id, set_current_request
from service.observability.stages import StageStats
from service.observability.tracing import TRACING
from service.rpc.handlers import behavior_of, with_behavior

if TYPE_CHECKING:
    from service.observability.collector import ProtocolRequests, UnknownModels

_UNTRACED = frozenset({"/grpc.health.v1.Health/Check", "/grpc.health.v1.Health/Watch"})
# The protocol label of switchyard_unknown_model_requests_total, by gRPC service.
PROTOCOLS = {"switchyard.v1.Predict": "switchyard", "inference.GRPCInferenceService": "oip"}


class ObservabilityInterceptor(grpc.aio.ServerInterceptor):
    def __init__(
        self,
        access_log: AccessLog,
        stages: StageStats | None = None,
        unknown: UnknownModels | None = None,
        requests: ProtocolRequests | None = None,
    ) -> None:
        self._access_log = access_log
        self._stages = stages
        self._unknown = unknown
        self._requests = requests
        self._wrapped: dict[str, grpc.RpcMethodHandler] = {}

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        method = handler_call_details.method
        wrapped = self._wrapped.get(method)
        if wrapped is None:
            handler = await continuation(handler_call_details)
            if handler is None or method in _UNTRACED:
                return handler
            wrapped = self._wrapped[method] = self._wrap(method, handler)
        return wrapped

    def _wrap(self, method: str, handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
        behavior = behavior_of(handler)
        service, _, name = method.lstrip("/").rpartition("/")
        unary_request = not handler.request_streaming
        observed: Callable[..., Any]
        if inspect.isasyncgenfunction(behavior):

            async def observed(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
                call = _Call(service, name, request if unary_request else None, context, self._stages)
                try:
                    async with aclosing(behavior(request, context)) as replies:
                        async for reply in replies:
                            yield reply
                except BaseException as exc:
                    call.raised(exc)
                    raise
                finally:
                    call.end(context, self._access_log, self._unknown, self._requests)

        elif inspect.iscoroutinefunction(behavior):

            async def observed(request: Any, context: grpc.aio.ServicerContext) -> Any:
                call = _Call(service, name, request if unary_request else None, context, self._stages)
                try:
                    return await behavior(request, context)
                except BaseException as exc:
                    call.raised(exc)
                    raise
                finally:
                    call.end(context, self._access_log, self._unknown, self._requests)

        else:
            return handler  # synchronous handlers (none are served) run on grpc's own threads
        return with_behavior(handler, observed)


class _Call:
    """One RPC in progress: its context, its span (tracing on) and its start time."""

    __slots__ = ("method", "protocol", "model", "started", "span", "token", "error")

    def __init__(
        self, service: str, name: str, request: Any, context: grpc.aio.ServicerContext, stages: StageStats | None
    ) -> None:
        self.method = name
        self.protocol = PROTOCOLS.get(service, "")
        self.started = time.perf_counter()
        self.error: BaseException | None = None
        model, version, request_id = _request_fields(request)
        self.model = model
        metadata = context.invocation_metadata() or ()
        if not request_id:
            request_id = next((v for k, v in metadata if k == "x-request-id" and isinstance(v, str)), "")
        request_id = request_id or new_request_id()
        set_current_request(RequestContext(name, request_id, model, version, stages))
        self.span: Any = None
        self.token: Any = None
        if TRACING.tracer is not None:
            self._start_span(service, name, model, version, request_id, metadata)

    def _start_span(self, service: str, name: str, model: str, version: str, request_id: str, metadata) -> None:
        attributes: dict[str, Any] = {
            "rpc.system": "grpc",
            "rpc.service": service,
            "rpc.method": name,
            "switchyard.request_id": request_id,
        }
        carrier = {k: v for k, v in metadata if isinstance(v, str)}
        self.span, self.token = TRACING.start_server(f"{service}/{name}", carrier, attributes, model, version)

    def raised(self, exc: BaseException) -> None:
        self.error = exc

    def end(
        self,
        context: grpc.aio.ServicerContext,
        access_log: AccessLog,
        unknown: UnknownModels | None,
        requests: ProtocolRequests | None = None,
    ) -> None:
        seconds = time.perf_counter() - self.started
        code = context.code() or grpc.StatusCode.OK
        if not isinstance(code, grpc.StatusCode):
            code = _code_of(code)
        if isinstance(self.error, BaseException) and code is grpc.StatusCode.OK:
            # An exception that escaped every handler: grpc answers UNKNOWN, or CANCELLED if the client left.
            cancelled = not isinstance(self.error, Exception)
            code = grpc.StatusCode.CANCELLED if cancelled else grpc.StatusCode.UNKNOWN
        if code is grpc.StatusCode.NOT_FOUND and self.model and self.protocol and unknown is not None:
            unknown.count(self.protocol)
        if requests is not None and self.protocol:
            requests.count(self.protocol, code.name)
        if access_log.wants(code, seconds):
            access_log.write(self.method, code, seconds, context.details())
        if self.span is not None:
            self._end_span(code, context.details())

    def _end_span(self, code: grpc.StatusCode, details: str | None) -> None:
        self.span.set_attribute("rpc.grpc.status_code", code.value[0])
        error = None if code is grpc.StatusCode.OK else f"{code.name}: {details or ''}"
        TRACING.end_server(self.span, self.token, error)


def _request_fields(request: Any) -> tuple[str, str, str]:
    """(model, version, request id) of a unary request of either protocol; empty where it has none."""
    if request is None:
        return "", "", ""
    model = _text(request, "model") or _text(request, "model_name") or _text(request, "name")
    version = _text(request, "version") or _text(request, "model_version")
    return model, version, _text(request, "id")


def _text(message: Any, field: str) -> str:
    value = getattr(message, field, "")
    return value if isinstance(value, str) else ""


def _code_of(value: Any) -> grpc.StatusCode:
    for code in grpc.StatusCode:
        if code.value[0] == value:
            return code
    return grpc.StatusCode.UNKNOWN
