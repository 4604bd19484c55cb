"""Typed client errors carrying the gRPC status code."""

from __future__ import annotations

import grpc

__all__ = ["PredictError"]


class PredictError(Exception):
    """A failed call: `code` is the grpc.StatusCode, `details` the server's message."""

    def __init__(self, code: grpc.StatusCode, details: str, request_id: str = "") -> None:
        super().__init__(f"{code.name}: {details}")
        self.code = code
        self.details = details
        self.request_id = request_id

    @classmethod
    def from_rpc_error(cls, error: grpc.RpcError) -> PredictError:
        return cls(error.code(), error.details() or "")

    @classmethod
    def from_in_band(cls, error, request_id: str) -> PredictError:
        return cls(grpc.StatusCode[error.code], error.message, request_id)
