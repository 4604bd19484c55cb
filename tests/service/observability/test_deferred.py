"""An unsampled request's root: kept as plain data, turned into spans only when it ends."""

from __future__ import annotations

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags

from service.observability.deferred import MAX_CHILDREN, DeferredSpan, materialize, new_context

REMOTE = SpanContext(0x4BF92F3577B34DA6A3CE929D0E0E4736, 0x00F067AA0BA902B7, True, TraceFlags(TraceFlags.DEFAULT))


def _root(parent: SpanContext | None = None) -> tuple[DeferredSpan, list[tuple[DeferredSpan, int]]]:
    ended: list[tuple[DeferredSpan, int]] = []
    context = new_context(parent.trace_id if parent is not None else None)
    span = DeferredSpan(
        context,
        parent,
        "svc/Predict",
        SpanKind.SERVER,
        {"rpc.method": "Predict"},
        (),
        1_000,
        lambda s, t: ended.append((s, t)),
    )
    return span, ended


def test_a_deferred_root_carries_ids_but_samples_nothing_and_ends_once() -> None:
    span, ended = _root()
    context = span.get_span_context()
    assert context.is_valid and not context.trace_flags.sampled and not span.is_recording()
    span.set_attribute("rpc.grpc.status_code", 5)
    span.set_status(Status(StatusCode.ERROR, "NOT_FOUND: no model"))
    span.end(end_time=9_000)
    span.end(end_time=12_000)
    assert ended == [(span, 9_000)]


def test_materialized_spans_keep_the_trace_the_parent_and_the_children() -> None:
    span, _ = _root(REMOTE)
    linked = new_context()
    span.add_child("decode", 1_100, 1_200, {"switchyard.model": "m"}, ())
    span.add_child("infer", 1_300, 1_800, {"switchyard.batch_size": 2}, (linked,))
    span.set_attribute("rpc.grpc.status_code", 0)
    spans = materialize(span, 2_000, Resource({"service.name": "switchyard"}), InstrumentationScope("switchyard"))
    root = spans[-1]
    assert root.context is not None and root.context.trace_id == REMOTE.trace_id
    assert root.context.span_id == span.get_span_context().span_id  # the ids log lines already carry
    assert root.parent == REMOTE and root.kind is SpanKind.SERVER
    assert (root.start_time, root.end_time) == (1_000, 2_000)
    assert root.attributes is not None and root.attributes["rpc.grpc.status_code"] == 0
    children = {s.name: s for s in spans[:-1]}
    assert set(children) == {"decode", "infer"}
    for child in children.values():
        assert child.parent is not None and child.parent.span_id == root.context.span_id
        assert child.context is not None and child.context.trace_flags.sampled
        assert child.context.trace_id == root.context.trace_id
    assert [link.context for link in children["infer"].links] == [linked]
    assert all(isinstance(link, Link) for link in children["infer"].links)


def test_a_long_lived_root_keeps_a_bounded_number_of_children() -> None:
    span, _ = _root()
    for i in range(MAX_CHILDREN + 50):
        span.add_child("decode", i, i + 1, {}, ())
    assert len(span.children) == MAX_CHILDREN
