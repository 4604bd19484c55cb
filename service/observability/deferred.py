"""The local root of a trace the sampler left out, kept cheap until it ends.

An unsampled request must still be exportable afterwards when it fails or is slow
(--trace-slow-ms), so its spans have to be kept somewhere. Recording them as SDK spans costs
tens of µs each (ids, attribute bounds, locks, the processor chain), paid by every request
at any rate. A DeferredSpan instead is a NonRecordingSpan (it carries the trace and span id,
so log lines and batch links name the ids an export would have) that keeps its children as
plain tuples; only if it ends with an error or slow are they turned into spans and exported.

Imported only once tracing starts: it needs the OpenTelemetry SDK.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import Link, NonRecordingSpan, SpanContext, SpanKind, Status, StatusCode, TraceFlags

_SAMPLED = TraceFlags(TraceFlags.SAMPLED)
_UNSET = Status(StatusCode.UNSET)
# Children one deferred root keeps; a stream's root could otherwise grow for hours.
MAX_CHILDREN = 256


class DeferredSpan(NonRecordingSpan):
    """What the request's code sees as its span: attributes and status are kept, end() decides."""

    def __init__(
        self,
        context: SpanContext,
        parent: SpanContext | None,
        name: str,
        kind: SpanKind,
        attributes: Mapping[str, Any] | None,
        links: Sequence[Link],
        start_ns: int | None,
        export: Callable[[DeferredSpan, int], None],
    ) -> None:
        super().__init__(context)
        self.parent = parent
        self.name = name
        self.kind = kind
        self.attributes = dict(attributes or {})
        self.links = tuple(links)
        self.start_ns = start_ns if start_ns is not None else time.time_ns()
        self.status = _UNSET
        self.children: list[tuple[str, int, int, Mapping[str, Any], Sequence[Any]]] = []
        self._export = export
        self._ended = False

    def add_child(
        self, name: str, start_ns: int, end_ns: int, attributes: Mapping[str, Any], links: Sequence[Any]
    ) -> None:
        if len(self.children) < MAX_CHILDREN:
            self.children.append((name, start_ns, end_ns, attributes, links))

    def set_attribute(self, key: str, value: Any) -> None:
        self.attributes[key] = value

    def set_attributes(self, attributes: Mapping[str, Any]) -> None:
        self.attributes.update(attributes)

    def set_status(self, status: Status | StatusCode, description: str | None = None) -> None:
        self.status = status if isinstance(status, Status) else Status(status, description)

    def end(self, end_time: int | None = None) -> None:
        if not self._ended:
            self._ended = True
            self._export(self, end_time if end_time is not None else time.time_ns())


def new_context(trace_id: int | None = None) -> SpanContext:
    """A fresh local span context (a new trace unless `trace_id`), not sampled."""
    return SpanContext(
        trace_id if trace_id is not None else random.getrandbits(128),
        random.getrandbits(64),
        is_remote=False,
        trace_flags=TraceFlags(TraceFlags.DEFAULT),
    )


def materialize(root: DeferredSpan, end_ns: int, resource: Resource, scope: InstrumentationScope) -> list[ReadableSpan]:
    """The root and its children as finished, sampled spans: what the exporter takes."""
    trace_id = root.get_span_context().trace_id
    root_context = SpanContext(trace_id, root.get_span_context().span_id, False, _SAMPLED)
    spans = [
        ReadableSpan(
            name=name,
            context=SpanContext(trace_id, random.getrandbits(64), False, _SAMPLED),
            parent=root_context,
            resource=resource,
            attributes=attributes,
            links=[Link(linked) for linked in links],
            kind=SpanKind.INTERNAL,
            status=_UNSET,
            start_time=start_ns,
            end_time=child_end_ns,
            instrumentation_scope=scope,
        )
        for name, start_ns, child_end_ns, attributes, links in root.children
    ]
    spans.append(
        ReadableSpan(
            name=root.name,
            context=root_context,
            parent=root.parent,
            resource=resource,
            attributes=root.attributes,
            links=root.links,
            kind=root.kind,
            status=root.status,
            start_time=root.start_ns,
            end_time=end_ns,
            instrumentation_scope=scope,
        )
    )
    return spans
