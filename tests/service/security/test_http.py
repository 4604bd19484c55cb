"""The metrics HTTP server: the bearer token, and HTTPS that follows a rotated certificate."""

from __future__ import annotations

import socket
import ssl
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from service.security.http import start_metrics_http
from service.security.tls import CertificateFiles, TlsFiles
from tests.fixtures.tls import Pki, sha256_hex

TOKEN = "scrape-token-do-not-log"


def hello(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"switchyard_up 1\n"]


def get(url: str, token: str | None = None, ca: bytes | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    context = ssl.create_default_context(cadata=ca.decode()) if ca else None
    try:
        with urllib.request.urlopen(request, timeout=10, context=context) as reply:
            return reply.status, reply.read().decode()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.read().decode()


@pytest.fixture
def served_with_token() -> Iterator[str]:
    httpd, _ = start_metrics_http(hello, "127.0.0.1", 0, token_sha256=sha256_hex(TOKEN))
    try:
        yield f"http://127.0.0.1:{httpd.server_port}/metrics"
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.mark.parametrize("token", [None, "wrong", TOKEN + "x", TOKEN[:-1]])
def test_a_scrape_without_the_token_gets_401_and_nothing_else(served_with_token, token):
    status, body = get(served_with_token, token)
    assert status == 401
    assert "switchyard_up" not in body


def test_a_scrape_with_the_token_gets_the_metrics(served_with_token):
    assert get(served_with_token, TOKEN) == (200, "switchyard_up 1\n")


def test_a_scheme_other_than_bearer_is_refused(served_with_token):
    request = urllib.request.Request(served_with_token, headers={"Authorization": f"Basic {TOKEN}"})
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=10)
    with caught.value as refused:
        assert refused.code == 401


def test_https_serves_the_rotated_certificate_from_the_next_connection(tmp_path):
    first = Pki(tmp_path / "first")
    files = first.server()
    httpd, _ = start_metrics_http(hello, "127.0.0.1", 0, certificates=CertificateFiles(TlsFiles(files.cert, files.key)))
    url = f"https://127.0.0.1:{httpd.server_port}/metrics"
    try:
        assert get(url, ca=first.ca_pem)[0] == 200
        second = Pki(tmp_path / "second")
        second.server(files)
        assert get(url, ca=second.ca_pem)[0] == 200
        # The old CA no longer fits (a bare handshake: urllib leaves its socket to the GC when one fails).
        context = ssl.create_default_context(cadata=first.ca_pem.decode())
        with socket.create_connection(("127.0.0.1", httpd.server_port), timeout=10) as raw:
            with pytest.raises(ssl.SSLCertVerificationError):
                context.wrap_socket(raw, server_hostname="127.0.0.1")
    finally:
        httpd.shutdown()
        httpd.server_close()
