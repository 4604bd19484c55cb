"""Small contracts the REST layer relies on: a failed servicer call is a RestError; the TLS
context follows the certificate files' versions; the start-up exposure line names the HTTP port; a tensor name
is echoed clipped."""

from __future__ import annotations

import logging
import ssl

import grpc
import pytest

from service.rest.binary import BinaryParts
from service.rest.calls import CallFailed
from service.rest.errors import RestError
from service.security.startup import ServerSecurity
from service.security.tls import RotatingContext
from service.settings import ServerSettings


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


class _Versions:
    """CertificateFiles as RotatingContext sees it: refresh() says the current version."""

    def __init__(self) -> None:
        self.version = 0

    def refresh(self) -> int:
        return self.version


def test_a_rotating_context_is_built_per_version_and_keeps_the_last_good_one(caplog):
    files = _Versions()
    built: list[ssl.SSLContext] = []
    failing = False

    def build() -> ssl.SSLContext:
        if failing:
            raise ssl.SSLError("half-written key")
        built.append(ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER))
        return built[-1]

    contexts = RotatingContext(files, build, "the HTTP port")  # type: ignore[arg-type]
    first = contexts.current()
    assert contexts.current() is first and len(built) == 1  # same version: not built again
    files.version = 1
    second = contexts.current()
    assert second is not first and len(built) == 2
    failing, files.version = True, 2
    with caplog.at_level(logging.WARNING):
        assert contexts.current() is second
    assert "the HTTP port keeps its TLS certificate: " in caplog.text
    failing = False
    assert contexts.current() is not second and len(built) == 3  # the next connection tries again


def test_a_rotating_context_that_cannot_start_raises():
    def build() -> ssl.SSLContext:
        raise OSError("no such file")

    with pytest.raises(OSError, match="no such file"):
        RotatingContext(_Versions(), build, "metrics endpoint").current()  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("http_port", "start"),
    [(-1, "the gRPC port is plaintext with"), (0, "the gRPC and HTTP ports are plaintext with")],
)
def test_the_exposure_line_names_the_http_port_when_it_serves(http_port, start):
    given = ServerSettings(host="127.0.0.1", metrics_port=-1, http_port=http_port)
    level, line = ServerSecurity.from_settings(given).exposure(given)
    assert level == logging.WARNING and line.startswith(start)


def test_a_binary_tensor_that_overruns_the_body_echoes_its_name_clipped():
    with pytest.raises(RestError) as caught:
        BinaryParts(memoryview(b"1234")).take("n" * 10_000 + "\n", 8)
    assert caught.value.status == 400
    assert caught.value.message == (
        f"tensor '{'n' * 64}... (9937 more characters)': binary_data_size is 8 but only 4 bytes of binary data remain"
    )
