"""The caller's trace context on every call: W3C `traceparent` (and `tracestate`, `baggage`) in
the call's metadata, so the server's span for the call joins the caller's trace.

Only when OpenTelemetry is installed (the API package is enough) and a span is current; a
base client install without it sends nothing extra. The import happens on the first call,
not when `clients` is imported, because loading OpenTelemetry's propagators takes ~0.1 s.
The propagators are OpenTelemetry's global ones (OTEL_PROPAGATORS), so an application that
configured B3 or Jaeger headers gets those instead.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

__all__ = ["with_trace_context"]

Pairs = tuple[tuple[str, str], ...]


@functools.cache
def _injector() -> Callable[[dict[str, str]], None] | None:
    try:
        from opentelemetry import propagate
    except ImportError:
        return None
    return propagate.inject


def with_trace_context(pairs: Sequence[tuple[str, str]]) -> Pairs:
    """`pairs` plus the current trace context's headers; a header the caller set itself wins."""
    inject = _injector()
    if inject is None:
        return tuple(pairs)
    carrier: dict[str, str] = {}
    inject(carrier)
    if not carrier:
        return tuple(pairs)
    own = {name.lower() for name, _ in pairs}
    return (*pairs, *((name, value) for name, value in carrier.items() if name not in own))
