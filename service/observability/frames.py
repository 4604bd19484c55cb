"""One span per StreamVideo frame, a trace of its own.

A stream may run for hours: its frames as children of the stream's span would make one
unbounded trace (and, unsampled, hold every span until the stream ends). So each frame is a
local root linked to the stream's span, sampled like any request (the ratio, then an error or
a frame slower than --trace-slow-ms is exported anyway). While the frame is processed its span
is the current one, so the runner's queue and infer spans, and the image stages, are its children.

Only built when tracing is on: the session pays one `if` per frame otherwise.
"""

from __future__ import annotations

import time
from typing import Any

from service.observability.tracing import TRACING, current_span_context


class FrameSpan:
    __slots__ = ("span", "_token")

    def __init__(self, model: str, index: int, pts: int, received_ns: int) -> None:
        from opentelemetry import context, trace
        from opentelemetry.trace import Link

        stream = current_span_context()
        links = [Link(stream)] if stream is not None and stream.is_valid else []
        attributes: dict[str, Any] = {
            "switchyard.model": model,
            "switchyard.frame.index": index,
            "switchyard.frame.pts": pts,
        }
        self.span = TRACING.start_root(
            "video.frame", context.Context(), trace.SpanKind.INTERNAL, attributes, links, received_ns
        )
        self._token = context.attach(trace.set_span_in_context(self.span))

    def end(self, outcome: str, error: str = "") -> None:
        """Close the frame with its outcome (result or error); an error marks the span, so it is exported."""
        from opentelemetry import context
        from opentelemetry.trace import Status, StatusCode

        self.span.set_attribute("switchyard.frame.outcome", outcome)
        if error:
            self.span.set_status(Status(StatusCode.ERROR, error[:300]))
        self.span.end(end_time=time.time_ns())
        try:
            context.detach(self._token)
        except ValueError:
            pass  # ended from another context (a cancelled task): nothing to restore
