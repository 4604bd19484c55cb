"""One HTTP request as the observability layer sees a gRPC call: its request context (log lines
name model, version, request id and caller), its server span, its request-log line, and its
count in switchyard_protocol_requests{protocol="rest"}.

The same StageStats, AccessLog, UnknownModels and ProtocolRequests as the gRPC interceptor
(service/observability/interceptor.py); the span follows OpenTelemetry's HTTP conventions and
continues a client's `traceparent` header.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import grpc

from service.observability.access_log import AccessLog
from service.observability.collector import ProtocolRequests, UnknownModels
from service.observability.logging import RequestContext, new_request_id, set_current_request
from service.observability.stages import StageStats
from service.observability.tracing import TRACING

PROTOCOL = "rest"


@dataclass(frozen=True)
class Observers:
    access_log: AccessLog
    stages: StageStats | None = None
    unknown: UnknownModels | None = None
    requests: ProtocolRequests | None = None


class RestCall:
    """An HTTP request in progress; `end` once its status is known."""

    __slots__ = ("route", "model", "started", "span", "token")

    def __init__(
        self,
        method: str,
        route: str,
        path: str,
        model: str,
        version: str,
        headers: Mapping[str, str],
        observers: Observers,
    ) -> None:
        self.route = f"{method} {route}"
        self.model = model
        self.started = time.perf_counter()
        request_id = headers.get("x-request-id") or new_request_id()
        set_current_request(RequestContext(self.route, request_id, model, version, observers.stages))
        self.span: Any = None
        self.token: Any = None
        if TRACING.tracer is not None:
            self._start_span(method, route, path, model, version, request_id, headers)

    def _start_span(
        self, method: str, route: str, path: str, model: str, version: str, request_id: str, headers: Mapping[str, str]
    ) -> None:
        attributes: dict[str, Any] = {
            "http.request.method": method,
            "http.route": route,
            "url.path": path,
            "switchyard.protocol": PROTOCOL,
            "switchyard.request_id": request_id,
        }
        # Unsampled: a cheap deferred root, exported only if it fails or is slow (deferred.py).
        self.span, self.token = TRACING.start_server(self.route, dict(headers), attributes, model, version)

    def end(self, status: int, code: grpc.StatusCode, message: str, observers: Observers) -> None:
        seconds = time.perf_counter() - self.started
        if code is grpc.StatusCode.NOT_FOUND and self.model and observers.unknown is not None:
            observers.unknown.count(PROTOCOL)
        if observers.requests is not None:
            observers.requests.count(PROTOCOL, code.name)
        if observers.access_log.wants(code, seconds):
            observers.access_log.write(self.route, code, seconds, message)
        if self.span is not None:
            self._end_span(status, code, message)

    def _end_span(self, status: int, code: grpc.StatusCode, message: str) -> None:
        self.span.set_attribute("http.response.status_code", status)
        TRACING.end_server(self.span, self.token, None if code is grpc.StatusCode.OK else f"{status}: {message}")
