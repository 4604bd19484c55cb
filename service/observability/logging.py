"""Log lines as text (a person at a terminal) or JSON (a log shipper), with the request they belong to.

The gRPC layer (service/observability/interceptor.py) sets a RequestContext for each call; every
line logged inside that call carries its model, version, request id, caller identity and, when
tracing is on, trace and span id. Each call runs in its own asyncio task with a copy of the
context, so one call's values never leak into another's lines.

In json mode every line on stderr is one JSON object (no wrapping, no tables): see
`configure_logging` and the start-up summary (service/cli/serve.py).
"""

from __future__ import annotations

import json
import logging
import os
import sys
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from service.observability.tracing import trace_ids
from service.security.identity import current_identity


@dataclass(slots=True)
class RequestContext:
    method: str
    request_id: str = ""
    model: str = ""
    version: str = ""
    # Where the request's stage durations go (service/observability/stages.py); None in tests without a server.
    stages: Any = None


_request: ContextVar[RequestContext | None] = ContextVar("switchyard_request", default=None)


def current_request() -> RequestContext | None:
    return _request.get()


def new_request_id() -> str:
    """16 hex digits for a request that came without an id: random, not a UUID, because the
    per-request cost matters here (os.urandom ~0.6 µs against uuid4's ~5 µs)."""
    return os.urandom(8).hex()


def set_current_request(request: RequestContext | None) -> None:
    _request.set(request)


def request_fields() -> dict[str, str]:
    """The fields of the request being handled (none outside a call); never tensors or secrets."""
    fields: dict[str, str] = {}
    request = _request.get()
    if request is not None:
        fields["rpc"] = request.method
        if request.model:
            fields["model"] = request.model
        if request.version:
            fields["version"] = request.version
        if request.request_id:
            fields["request_id"] = request.request_id
        identity = current_identity()
        if identity is not None:
            fields["identity"] = identity.name
    trace_id, span_id = trace_ids()
    if trace_id:
        fields["trace_id"], fields["span_id"] = trace_id, span_id
    return fields


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, the request's fields, `extra` fields."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update(request_fields())
        fields = getattr(record, "fields", None)
        if fields:
            line.update(fields)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """The message, then the request's fields as key=value (the handler adds time and level)."""

    def format(self, record: logging.LogRecord) -> str:
        message = super().format(record)
        fields = {**request_fields(), **(getattr(record, "fields", None) or {})}
        if not fields:
            return message
        return f"{message} [{' '.join(f'{k}={v}' for k, v in fields.items() if k != 'rpc')}]"


def resolve_format(log_format: str) -> str:
    """ "auto": json when stdout is not a terminal (a container, a service manager), else text."""
    if log_format in ("text", "json"):
        return log_format
    return "text" if sys.stdout.isatty() else "json"


def configure_logging(level: str, log_format: str) -> str:
    """Root logging for `serve`; returns the format chosen ("text" or "json")."""
    chosen = resolve_format(log_format)
    handler: logging.Handler
    if chosen == "json":
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter())
    else:
        from rich.console import Console
        from rich.logging import RichHandler

        handler = RichHandler(console=Console(stderr=True), show_path=False)
        handler.setFormatter(TextFormatter("%(message)s"))
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)
    logging.captureWarnings(True)  # a library's warning is a record too, not a stray line
    return chosen
