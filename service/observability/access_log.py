"""The request log: one line per failed or slow call (every call with --access-log).

A line names the RPC, its status, its duration and (from the request context) the model,
version, request id, identity and trace id; never a tensor, a token or a server path.
"""

from __future__ import annotations

import logging

import grpc

from protos.text import clipped

log = logging.getLogger("switchyard.access")

# The client's mistakes are INFO; what the server could not do is WARNING.
_SERVER_FAULTS = frozenset(
    {
        grpc.StatusCode.UNKNOWN,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DATA_LOSS,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
    }
)


class AccessLog:
    def __init__(self, slow_ms: float, log_all: bool) -> None:
        self.slow_ms = slow_ms
        self.log_all = log_all

    def wants(self, code: grpc.StatusCode, seconds: float) -> bool:
        return self.log_all or code is not grpc.StatusCode.OK or (self.slow_ms > 0 and seconds * 1000 >= self.slow_ms)

    def write(self, method: str, code: grpc.StatusCode, seconds: float, details: str | None) -> None:
        """Log the call (call only when `wants` said so; the request context is still set)."""
        duration_ms = round(seconds * 1000, 3)
        fields: dict[str, object] = {"status": code.name, "duration_ms": duration_ms}
        slow = self.slow_ms > 0 and duration_ms >= self.slow_ms
        if slow:
            fields["slow"] = True
        if code is not grpc.StatusCode.OK and details:
            fields["error"] = clipped(details, 300)
        level = logging.WARNING if code in _SERVER_FAULTS else logging.INFO
        log.log(
            level,
            "%s %s %.1f ms%s",
            method,
            code.name,
            duration_ms,
            " (slow)" if slow else "",
            extra={"fields": fields},
        )
