"""The one table from our error codes to gRPC status codes, and the one mapping of any exception.

A SwitchyardError carries a code and a message meant for the caller. Anything else is a bug
or a runtime surprise: the caller gets INTERNAL with a neutral message and an incident id,
and the server log gets the traceback under that id, so a client never sees a Python
exception's class name or text (which may carry paths or internals).
"""

from __future__ import annotations

import logging
import uuid

import grpc

from protos.errors import ErrorCode, SwitchyardError

log = logging.getLogger(__name__)

GRPC_STATUS: dict[ErrorCode, grpc.StatusCode] = {
    ErrorCode.INVALID_ARGUMENT: grpc.StatusCode.INVALID_ARGUMENT,
    ErrorCode.NOT_FOUND: grpc.StatusCode.NOT_FOUND,
    ErrorCode.UNAVAILABLE: grpc.StatusCode.UNAVAILABLE,
    ErrorCode.RESOURCE_EXHAUSTED: grpc.StatusCode.RESOURCE_EXHAUSTED,
    ErrorCode.DEADLINE_EXCEEDED: grpc.StatusCode.DEADLINE_EXCEEDED,
    ErrorCode.CANCELLED: grpc.StatusCode.CANCELLED,
    ErrorCode.FAILED_PRECONDITION: grpc.StatusCode.FAILED_PRECONDITION,
    ErrorCode.ALREADY_EXISTS: grpc.StatusCode.ALREADY_EXISTS,
    ErrorCode.UNIMPLEMENTED: grpc.StatusCode.UNIMPLEMENTED,
    ErrorCode.PERMISSION_DENIED: grpc.StatusCode.PERMISSION_DENIED,
    ErrorCode.INTERNAL: grpc.StatusCode.INTERNAL,
}


def grpc_status(error: BaseException, where: str = "") -> tuple[grpc.StatusCode, str]:
    """The status and message for any exception; unexpected ones are INTERNAL and logged.

    `where` names the RPC (and request) in the log line of an unexpected error.
    """
    if isinstance(error, SwitchyardError):
        return GRPC_STATUS[error.code], error.message
    incident = uuid.uuid4().hex[:12]
    log.error("internal error %s in %s", incident, where or "an RPC", exc_info=error)
    return grpc.StatusCode.INTERNAL, f"internal error; see the server log for request {incident}"
