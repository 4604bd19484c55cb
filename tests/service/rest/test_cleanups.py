"""Small contracts of the REST layer that its app relies on."""

from __future__ import annotations

import grpc

from service.rest.calls import CallFailed
from service.rest.errors import RestError


def test_a_failed_call_is_a_rest_error_that_keeps_the_servicers_code():
    failed = CallFailed(grpc.StatusCode.FAILED_PRECONDITION, "model 'add' is draining")
    assert isinstance(failed, RestError)
    assert (failed.status, failed.code, failed.message, failed.headers) == (
        400,
        grpc.StatusCode.FAILED_PRECONDITION,
        "model 'add' is draining",
        None,
    )
    assert CallFailed(grpc.StatusCode.UNAUTHENTICATED, "").status == 401
