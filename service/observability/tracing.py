"""Tracing with the OpenTelemetry SDK: provider, sampler, the export decision, stage spans.

Off unless an OTLP endpoint is configured (--otel-endpoint or OTEL_EXPORTER_OTLP_ENDPOINT); then
the hot path pays one `if` per stage and no span object exists (`record_span` returns at
once). The SDK is imported only when tracing starts, so a server without it installed
runs as before.

Sampling: a parent-based ratio (`--trace-rate`): a client's `traceparent` with the sampled flag
is always continued. A request the ratio leaves out is still kept, cheaply: its root is a
DeferredSpan (service/observability/deferred.py) holding its stages as plain tuples, turned
into spans and exported only when it ends with an error status or took longer than
`--trace-slow-ms`: the interesting requests are never lost to the ratio. (Roots started
straight on the SDK tracer are recorded instead, and ExportDecider makes the same choice.)
"""

from __future__ import annotations

import logging
import os
import random
import time
from collections.abc import Mapping, Sequence
from typing import Any

log = logging.getLogger(__name__)


class Otel:
    """What the per-request path calls of OpenTelemetry, bound once when tracing starts: the
    package is optional, and an import inside a function costs microseconds on every call."""

    def __init__(self) -> None:
        from opentelemetry import context, trace
        from opentelemetry.propagate import extract
        from opentelemetry.trace import Link, SpanKind, Status, StatusCode

        from service.observability.deferred import DeferredSpan, new_context
        from service.observability.export import forced_sampling

        self.get_current_span = trace.get_current_span
        self.set_span_in_context = trace.set_span_in_context
        self.attach, self.detach, self.extract = context.attach, context.detach, extract
        self.Link, self.SpanKind, self.Status, self.StatusCode = Link, SpanKind, Status, StatusCode
        self.DeferredSpan, self.new_context, self.forced_sampling = DeferredSpan, new_context, forced_sampling


class Tracing:
    """The server's tracer (None when tracing is off) and the knobs TraceSetting may change."""

    def __init__(self) -> None:
        self.tracer: Any = None
        self.rate = 0.0
        self.start_rate = 0.0  # what --trace-rate set: TraceSetting's reset goes back to it
        self.slow_ms = 0.0
        self.endpoint = ""
        self._sampler: Any = None
        self._provider: Any = None
        self._processor: Any = None
        self._scope: Any = None
        self.otel: Any = None  # an Otel while tracing is on

    @property
    def on(self) -> bool:
        return self.tracer is not None

    def start(
        self,
        endpoint: str | None,
        protocol: str,
        rate: float,
        slow_ms: float,
        version: str,
        timeout_seconds: float = 3.0,
    ) -> bool:
        """Set up the provider and its OTLP exporter; False (nothing done) without an endpoint."""
        endpoint = (
            endpoint
            or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
            or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
        )
        if not endpoint or self.tracer is not None:
            return False
        from opentelemetry.sdk.resources import SERVICE_NAME, SERVICE_VERSION, Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
        from opentelemetry.sdk.util.instrumentation import InstrumentationScope

        from service.observability.export import ExportDecider, RecordingSampler

        # OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES win over our defaults.
        resource = Resource.create()
        if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
            resource = resource.merge(Resource({SERVICE_NAME: "switchyard"}))
        resource = Resource({SERVICE_VERSION: version}).merge(resource)
        self.rate, self.start_rate, self.slow_ms, self.endpoint = rate, rate, slow_ms, endpoint
        self._sampler = RecordingSampler(rate)
        self._provider = TracerProvider(resource=resource, sampler=self._sampler)
        exporter = _exporter(endpoint, protocol, timeout_seconds)
        self._processor = ExportDecider(BatchSpanProcessor(exporter), lambda: self.slow_ms)
        self._provider.add_span_processor(self._processor)
        self.tracer = self._provider.get_tracer("switchyard")
        self._scope = InstrumentationScope("switchyard")
        self.otel = self.otel or Otel()
        log.info("tracing to %s (OTLP %s), rate %g, slow requests over %g ms always", endpoint, protocol, rate, slow_ms)
        return True

    def start_server(
        self, name: str, carrier: Mapping[str, str], attributes: dict[str, Any], model: str, version: str
    ) -> tuple[Any, Any]:
        """A call's server span, continuing the W3C context in `carrier` (gRPC metadata or HTTP
        headers), made current; returns (span, token for otel.detach)."""
        otel = self.otel
        if model:
            attributes["switchyard.model"] = model
        if version:
            attributes["switchyard.model_version"] = version
        parent = otel.extract(carrier)
        span = self.start_root(name, parent, otel.SpanKind.SERVER, attributes)
        return span, otel.attach(otel.set_span_in_context(span, parent))

    def end_server(self, span: Any, token: Any, error: str | None) -> None:
        """End a start_server span (`error`: the failure to record, None for success) and restore the context."""
        otel = self.otel
        if error is not None:
            span.set_status(otel.Status(otel.StatusCode.ERROR, error[:300]))
        span.end()
        try:
            otel.detach(token)
        except ValueError:
            pass  # the call ended in another context (a cancelled call or stream): nothing to restore

    def start_root(
        self,
        name: str,
        parent: Any,
        kind: Any,
        attributes: Mapping[str, Any] | None = None,
        links: Sequence[Any] = (),
        start_ns: int | None = None,
    ) -> Any:
        """A request's local root span (tracing on). Sampled (a caller's sampled `traceparent`
        in `parent`, else the ratio): an SDK span, exported as it ends. Otherwise a DeferredSpan
        (service/observability/deferred.py), exported only if it fails or is slow."""
        otel = self.otel
        remote = otel.get_current_span(parent).get_span_context()
        sampled = remote.trace_flags.sampled if remote.is_valid else random.random() < self.rate
        if sampled:
            with otel.forced_sampling():
                return self.tracer.start_span(
                    name, context=parent, kind=kind, attributes=attributes, links=links, start_time=start_ns
                )
        context = otel.new_context(remote.trace_id if remote.is_valid else None)
        parent_context = remote if remote.is_valid else None
        return otel.DeferredSpan(context, parent_context, name, kind, attributes, links, start_ns, self._deferred_ended)

    def _deferred_ended(self, span: Any, end_ns: int) -> None:
        from service.observability.deferred import materialize

        if span.status.status_code is not self.otel.StatusCode.ERROR:
            slow_ms = self.slow_ms
            if slow_ms <= 0 or (end_ns - span.start_ns) / 1e6 < slow_ms:
                return
        processor = self._processor
        if processor is None:
            return  # tracing stopped while the request ran
        for readable in materialize(span, end_ns, self._provider.resource, self._scope):
            processor.on_end(readable)

    def set_rate(self, rate: float) -> None:
        if self._sampler is not None:
            self._sampler.set_rate(rate)
        self.rate = rate

    def close(self) -> None:
        if self._provider is not None:
            self._provider.shutdown()  # flushes what is queued
            # self.otel stays bound: a request still ending after close may call it.
            self._provider, self._processor, self.tracer, self.endpoint = None, None, None, ""


# The process's tracing: one server per process (service/workers.py runs others as processes).
TRACING = Tracing()


def record_span(
    name: str, start_ns: int, end_ns: int, attributes: Mapping[str, Any], links: Sequence[Any] = ()
) -> None:
    """A finished child span of the current one with times already measured (epoch ns)."""
    tracer = TRACING.tracer
    if tracer is None:
        return
    otel = TRACING.otel
    current = otel.get_current_span()
    if isinstance(current, otel.DeferredSpan):
        current.add_child(name, start_ns, end_ns, attributes, links)
        return
    span = tracer.start_span(name, start_time=start_ns, attributes=attributes, links=[otel.Link(c) for c in links])
    span.end(end_time=end_ns)


def current_span_context() -> Any:
    """The current span's context when tracing is on (for links), else None."""
    if TRACING.tracer is None:
        return None
    return TRACING.otel.get_current_span().get_span_context()


def epoch_ns(monotonic_s: float) -> int:
    """A time.monotonic() reading as wall-clock nanoseconds, which spans carry."""
    return time.time_ns() - int((time.monotonic() - monotonic_s) * 1e9)


def trace_ids() -> tuple[str, str]:
    """(trace id, span id) in hex of the current span, or ("", "") outside a recorded one."""
    if TRACING.tracer is None:
        return "", ""
    context = TRACING.otel.get_current_span().get_span_context()
    if not context.is_valid:
        return "", ""
    return f"{context.trace_id:032x}", f"{context.span_id:016x}"


def _exporter(endpoint: str, protocol: str, timeout_seconds: float) -> Any:
    if protocol == "http/protobuf":
        import importlib

        try:  # an optional package: the server extra brings the gRPC exporter only
            module = importlib.import_module("opentelemetry.exporter.otlp.proto.http.trace_exporter")
        except ImportError as exc:
            raise RuntimeError("--otel-protocol http/protobuf needs opentelemetry-exporter-otlp-proto-http") from exc
        url = endpoint if "://" in endpoint else f"http://{endpoint}"
        return module.OTLPSpanExporter(
            endpoint=url.rstrip("/") + ("" if url.endswith("/v1/traces") else "/v1/traces"), timeout=timeout_seconds
        )
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

    secure = endpoint.startswith("https://")
    return OTLPSpanExporter(endpoint=endpoint.split("://", 1)[-1], insecure=not secure, timeout=timeout_seconds)
