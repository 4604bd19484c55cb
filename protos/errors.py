"""The one neutral error vocabulary every layer raises.

Codes are protocol-neutral; service/rpc/status.py maps each to a gRPC status and a
test asserts that map is complete.
"""

from __future__ import annotations

import enum


class ErrorCode(enum.Enum):
    INVALID_ARGUMENT = "invalid_argument"
    NOT_FOUND = "not_found"
    UNAVAILABLE = "unavailable"
    RESOURCE_EXHAUSTED = "resource_exhausted"
    DEADLINE_EXCEEDED = "deadline_exceeded"
    CANCELLED = "cancelled"
    FAILED_PRECONDITION = "failed_precondition"
    ALREADY_EXISTS = "already_exists"
    UNIMPLEMENTED = "unimplemented"
    PERMISSION_DENIED = "permission_denied"
    INTERNAL = "internal"


class SwitchyardError(Exception):
    """Base error: carries an ErrorCode and a message meant for the caller."""

    code: ErrorCode = ErrorCode.INTERNAL

    def __init__(self, message: str, code: ErrorCode | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code

    @property
    def message(self) -> str:
        return str(self)


class InvalidInputError(SwitchyardError):
    code = ErrorCode.INVALID_ARGUMENT


class ModelNotFoundError(SwitchyardError):
    code = ErrorCode.NOT_FOUND


class ModelUnavailableError(SwitchyardError):
    code = ErrorCode.UNAVAILABLE


class BackendError(SwitchyardError):
    """A runtime failed while loading or running a model."""

    code = ErrorCode.INTERNAL


class BackendLoadError(BackendError):
    """A runtime could not load the artifact on the requested device."""

    code = ErrorCode.UNAVAILABLE


class BackendNotInstalledError(BackendLoadError):
    code = ErrorCode.UNAVAILABLE


class QueueFullError(SwitchyardError):
    code = ErrorCode.RESOURCE_EXHAUSTED


class DeadlineExceededError(SwitchyardError):
    code = ErrorCode.DEADLINE_EXCEEDED
