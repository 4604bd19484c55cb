"""Which recorded spans leave the process: the sampled ones, plus whole unsampled traces whose
local root ended in error or was slow (service/observability/tracing.py says why).

Requests start their roots through Tracing.start_root: an unsampled one is a DeferredSpan
(deferred.py) that reaches this processor only as finished, sampled spans, if at all. The
holding below is for unsampled spans started on the SDK tracer directly.

Imported only once tracing starts: it needs the OpenTelemetry SDK.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.sdk.trace.sampling import Decision, ParentBased, Sampler, SamplingResult, TraceIdRatioBased
from opentelemetry.trace import SpanContext, StatusCode, TraceFlags

# Unsampled traces held at once while their root runs; beyond it the oldest is forgotten
# (spans of a request that never ends must not grow memory without bound).
MAX_HELD_TRACES = 4096


# Set while Tracing.start_root starts a root it already decided to sample (service/observability/tracing.py).
_FORCED: ContextVar[bool] = ContextVar("switchyard_forced_sampling", default=False)


@contextmanager
def forced_sampling() -> Iterator[None]:
    token = _FORCED.set(True)
    try:
        yield
    finally:
        _FORCED.reset(token)


class RecordingSampler(Sampler):
    """ParentBased(TraceIdRatioBased(rate)), but what it would drop is recorded (not exported) instead."""

    def __init__(self, rate: float) -> None:
        self.set_rate(rate)

    def set_rate(self, rate: float) -> None:
        self._inner = ParentBased(TraceIdRatioBased(rate))
        self._rate = rate

    def should_sample(
        self, parent_context, trace_id, name, kind=None, attributes=None, links=None, trace_state=None
    ) -> SamplingResult:
        if _FORCED.get():
            return SamplingResult(Decision.RECORD_AND_SAMPLE, attributes, trace_state)
        result = self._inner.should_sample(parent_context, trace_id, name, kind, attributes, links, trace_state)
        if result.decision is Decision.DROP:
            return SamplingResult(Decision.RECORD_ONLY, attributes, result.trace_state)
        return result

    def get_description(self) -> str:
        return f"RecordingSampler{{{self._rate}}}"


class ExportDecider(SpanProcessor):
    """Passes sampled spans to `inner`; holds unsampled ones until their local root decides."""

    def __init__(self, inner: SpanProcessor, slow_ms: Callable[[], float]) -> None:
        self._inner = inner
        self._slow_ms = slow_ms
        self._held: dict[int, list[ReadableSpan]] = {}
        self._lock = threading.Lock()  # spans end on the event loop and on executor threads

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        self._inner.on_start(span, parent_context)

    def on_end(self, span: ReadableSpan) -> None:
        context = span.context
        if context is None:
            return
        if context.trace_flags.sampled:
            self._inner.on_end(span)
            return
        trace_id = context.trace_id
        if span.parent is not None and not span.parent.is_remote:
            with self._lock:
                held = self._held.get(trace_id)
                if held is None:
                    if len(self._held) >= MAX_HELD_TRACES:
                        self._held.pop(next(iter(self._held)))
                    held = self._held[trace_id] = []
                held.append(span)
            return
        with self._lock:
            children = self._held.pop(trace_id, [])
        if not self._wanted(span):
            return
        for kept in (*children, span):
            self._inner.on_end(_as_sampled(kept))

    def _wanted(self, root: ReadableSpan) -> bool:
        if root.status.status_code is StatusCode.ERROR:
            return True
        if root.start_time is None or root.end_time is None:
            return False
        slow_ms = self._slow_ms()
        return slow_ms > 0 and (root.end_time - root.start_time) / 1e6 >= slow_ms

    def shutdown(self) -> None:
        self._inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self._inner.force_flush(timeout_millis)


def _as_sampled(span: ReadableSpan) -> ReadableSpan:
    """The same span with the sampled flag set, which exporting processors require."""
    context = span.context
    assert context is not None
    sampled = SpanContext(context.trace_id, context.span_id, False, TraceFlags(TraceFlags.SAMPLED), context.trace_state)
    return ReadableSpan(
        name=span.name,
        context=sampled,
        parent=span.parent,
        resource=span.resource,
        attributes=span.attributes,
        events=span.events,
        links=span.links,
        kind=span.kind,
        status=span.status,
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )
