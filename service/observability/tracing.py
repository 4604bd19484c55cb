"""Tracing with the OpenTelemetry SDK: provider, sampler, the export decision, stage spans.

Off unless an OTLP endpoint is configured (--otel-endpoint or OTEL_EXPORTER_OTLP_ENDPOINT); then
the hot path pays one `if` per stage and no span object exists (`stage` hands back one shared
null context). The SDK is imported only when tracing starts, so a server without it installed
runs as before.

Sampling: a parent-based ratio (`--trace-rate`): a client's `traceparent` with the sampled flag
is always continued. Every trace the ratio leaves out is still *recorded* (RECORD_ONLY, cheap:
spans in memory), and ExportDecider exports it after all when its local root span ends with an
error status or took longer than `--trace-slow-ms`: the interesting requests are never lost to
the ratio.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Mapping, Sequence
from typing import Any

log = logging.getLogger(__name__)

_NULL = contextlib.nullcontext()


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

    @property
    def on(self) -> bool:
        return self.tracer is not None

    def start(self, endpoint: str | None, protocol: str, rate: float, slow_ms: float, version: str) -> bool:
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

        from service.observability.export import ExportDecider, RecordingSampler

        # OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES win over our defaults.
        resource = Resource.create()
        if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
            resource = resource.merge(Resource({SERVICE_NAME: "switchyard"}))
        resource = Resource({SERVICE_VERSION: version}).merge(resource)
        self.rate, self.start_rate, self.slow_ms, self.endpoint = rate, rate, slow_ms, endpoint
        self._sampler = RecordingSampler(rate)
        self._provider = TracerProvider(resource=resource, sampler=self._sampler)
        exporter = _exporter(endpoint, protocol)
        self._provider.add_span_processor(ExportDecider(BatchSpanProcessor(exporter), lambda: self.slow_ms))
        self.tracer = self._provider.get_tracer("switchyard")
        log.info("tracing to %s (OTLP %s), rate %g, slow requests over %g ms always", endpoint, protocol, rate, slow_ms)
        return True

    def set_rate(self, rate: float) -> None:
        if self._sampler is not None:
            self._sampler.set_rate(rate)
        self.rate = rate

    def close(self) -> None:
        if self._provider is not None:
            self._provider.shutdown()  # flushes what is queued
            self._provider, self.tracer, self.endpoint = None, None, ""


# The process's tracing: one server per process (service/workers.py runs others as processes).
TRACING = Tracing()


def stage(name: str, attributes: Mapping[str, Any] | None = None) -> contextlib.AbstractContextManager[Any]:
    """A child span of the current one, or a shared null context when tracing is off."""
    tracer = TRACING.tracer
    if tracer is None:
        return _NULL
    return tracer.start_as_current_span(name, attributes=attributes, record_exception=False)


def record_span(
    name: str, start_ns: int, end_ns: int, attributes: Mapping[str, Any], links: Sequence[Any] = ()
) -> None:
    """A finished child span of the current one with times already measured (epoch ns)."""
    tracer = TRACING.tracer
    if tracer is None:
        return
    from opentelemetry.trace import Link

    span = tracer.start_span(name, start_time=start_ns, attributes=attributes, links=[Link(c) for c in links])
    span.end(end_time=end_ns)


def current_span_context() -> Any:
    """The current span's context when tracing is on (for links), else None."""
    if TRACING.tracer is None:
        return None
    from opentelemetry import trace

    return trace.get_current_span().get_span_context()


def epoch_ns(monotonic_s: float) -> int:
    """A time.monotonic() reading as wall-clock nanoseconds, which spans carry."""
    return time.time_ns() - int((time.monotonic() - monotonic_s) * 1e9)


def trace_ids() -> tuple[str, str]:
    """(trace id, span id) in hex of the current span, or ("", "") outside a recorded one."""
    if TRACING.tracer is None:
        return "", ""
    from opentelemetry import trace

    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return "", ""
    return f"{context.trace_id:032x}", f"{context.span_id:016x}"


def _exporter(endpoint: str, protocol: str) -> Any:
    if protocol == "http/protobuf":
        import importlib

        try:  # an optional package: the server extra brings the gRPC exporter only
            module = importlib.import_module("opentelemetry.exporter.otlp.proto.http.trace_exporter")
        except ImportError as exc:
            raise RuntimeError("--otel-protocol http/protobuf needs opentelemetry-exporter-otlp-proto-http") from exc
        url = endpoint if "://" in endpoint else f"http://{endpoint}"
        return module.OTLPSpanExporter(endpoint=url.rstrip("/") + ("" if url.endswith("/v1/traces") else "/v1/traces"))
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

    secure = endpoint.startswith("https://")
    return OTLPSpanExporter(endpoint=endpoint.split("://", 1)[-1], insecure=not secure)
