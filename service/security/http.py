"""The metrics endpoint's HTTP server: optional TLS (the gRPC port's files) and a bearer token.

What Prometheus' scrape config expects: `scheme: https` with `tls_config`, and
`authorization: {credentials: ...}` (Authorization: Bearer <token>). The token is checked as
its SHA-256, in constant time; a scrape without it gets 401 and nothing of the registry.
Each connection is wrapped with the SSLContext of the certificate files' current version,
so a rotated certificate is served from the next scrape on.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import socket
import threading
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

from service.security.tls import CertificateFiles, RotatingContext

log = logging.getLogger(__name__)

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class BearerTokenApp:
    """Answers 401 unless the request carries `Authorization: Bearer <token>` whose SHA-256 is expected."""

    def __init__(self, app: WsgiApp, token_sha256: str) -> None:
        self._app = app
        self._digest = bytes.fromhex(token_sha256)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        scheme, _, token = environ.get("HTTP_AUTHORIZATION", "").strip().partition(" ")
        digest = hashlib.sha256(token.strip().encode("latin-1", "replace")).digest()
        if hmac.compare_digest(digest, self._digest) and scheme.lower() == "bearer":
            return self._app(environ, start_response)
        start_response(
            "401 Unauthorized", [("WWW-Authenticate", 'Bearer realm="metrics"'), ("Content-Type", "text/plain")]
        )
        return [b"401 Unauthorized: send 'Authorization: Bearer <token>'\n"]


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """No access log on stderr for every scrape."""


class MetricsHTTPServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True

    def __init__(self, host: str, port: int, certificates: CertificateFiles | None) -> None:
        # Before the base class creates the socket: an IPv6 host needs an IPv6 socket.
        self.address_family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0][0]
        self.certificates = certificates
        self._contexts: RotatingContext | None = None
        if certificates is not None:
            self._contexts = RotatingContext(certificates, certificates.ssl_context, "metrics endpoint")
            self._contexts.current()  # a certificate that cannot be served fails here, at start-up
        super().__init__((host, port), _QuietHandler)

    def get_request(self) -> tuple[socket.socket, Any]:
        conn, address = super().get_request()
        if self._contexts is None:
            return conn, address
        # The handshake happens on the handler's thread (first read), so a slow client holds up no one else.
        return self._contexts.current().wrap_socket(conn, server_side=True, do_handshake_on_connect=False), address

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A failed handshake or a client that went away: not worth a traceback on stderr.
        log.debug("metrics connection from %s failed", client_address, exc_info=True)


def start_metrics_http(
    app: WsgiApp,
    host: str,
    port: int,
    certificates: CertificateFiles | None = None,
    token_sha256: str | None = None,
) -> tuple[MetricsHTTPServer, threading.Thread]:
    """Serve `app` on host:port (0 = any free port) on a daemon thread."""
    httpd = MetricsHTTPServer(host, port, certificates)
    httpd.set_app(BearerTokenApp(app, token_sha256) if token_sha256 else app)
    thread = threading.Thread(target=httpd.serve_forever, name="metrics-http", daemon=True)
    thread.start()
    return httpd, thread
