"""Errors over HTTP: `{"error": "..."}` with the status a gRPC status code stands for.

Every failure is first the gRPC status the servicers (service/rpc/errors.py) or the auth layer
would give, with the same message; this table turns it into an HTTP status (KServe v2 and
Triton's HTTP endpoint use these). Errors of HTTP itself (a body too large, a media type
not served) are RestError with their own status.
"""

from __future__ import annotations

import json

import grpc
from starlette.responses import Response

HTTP_STATUS: dict[grpc.StatusCode, int] = {
    grpc.StatusCode.OK: 200,
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    # The client went away; nginx's number for it, never seen by that client.
    grpc.StatusCode.CANCELLED: 499,
    grpc.StatusCode.INTERNAL: 500,
    grpc.StatusCode.UNKNOWN: 500,
    grpc.StatusCode.DATA_LOSS: 500,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
}
# The other way, for the request log and the metrics of errors that are HTTP's own.
_GRPC_OF_HTTP = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    401: grpc.StatusCode.UNAUTHENTICATED,
    403: grpc.StatusCode.PERMISSION_DENIED,
    404: grpc.StatusCode.NOT_FOUND,
    405: grpc.StatusCode.UNIMPLEMENTED,
    413: grpc.StatusCode.RESOURCE_EXHAUSTED,
    415: grpc.StatusCode.INVALID_ARGUMENT,
}


class RestError(Exception):
    """A request HTTP itself refuses: its status and a message for the caller."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers
        self.code = code_of_status(status)


def code_of_status(status: int) -> grpc.StatusCode:
    """The gRPC code an HTTP status stands for (request log, metrics)."""
    if status < 400:
        return grpc.StatusCode.OK
    return _GRPC_OF_HTTP.get(status, grpc.StatusCode.UNAVAILABLE if status == 503 else grpc.StatusCode.UNKNOWN)


def error_response(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps({"error": message}), status, headers, media_type="application/json")


def json_response(document: object, status: int = 200) -> Response:
    return Response(json.dumps(document, separators=(",", ":")), status, media_type="application/json")
