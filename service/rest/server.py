"""The HTTP server: uvicorn serving the REST app on the gRPC server's own event loop.

uvicorn's Server is driven step by step (startup, main loop, shutdown) rather than through
`serve()`, which installs its own SIGTERM/SIGINT handlers: the Switchyard server owns the
signals and its stop() stops this too. The listening socket is made here, so port 0 works,
`serve --workers N` shares the port (SO_REUSEPORT) and a taken port fails at start-up.

TLS serves the gRPC port's certificate files through uvicorn's ssl arguments; each new
connection checks them (service/security/tls.py) and takes a rotated pair without a restart,
as the gRPC port does.
"""

from __future__ import annotations

import asyncio
import math
import socket
import ssl
from collections.abc import Callable

import uvicorn
from starlette.applications import Starlette

from service.rest.peer import PeerHttpProtocol
from service.security.tls import CertificateFiles, RotatingContext

# Seconds an idle keep-alive connection stays open (load balancers' idle timeouts are ~60 s).
KEEP_ALIVE_SECONDS = 75


def listening_socket(host: str, port: int, reuse_port: bool) -> socket.socket:
    """A TCP listener. Its protocol is IPPROTO_TCP, not 0 (socket.create_server's): asyncio sets
    TCP_NODELAY only on sockets that say TCP, and without it a reply written as headers then
    body waits for the client's delayed ACK, 40 ms per request."""
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP, flags=socket.AI_PASSIVE
    )[0]
    listener = socket.socket(family, kind, proto)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        listener.bind(address)
        listener.listen(2048)
    except OSError as exc:
        listener.close()
        raise RuntimeError(f"could not bind the HTTP port {host}:{port}: {exc.strerror or exc}") from None
    return listener


def _rotating(
    certificates: CertificateFiles,
) -> Callable[[uvicorn.Config, Callable[[], ssl.SSLContext]], ssl.SSLContext]:
    """uvicorn's ssl_context_factory: the first context, whose SNI callback (called on every
    handshake, with or without a server name) hands the connection the current files' context."""

    def factory(config: uvicorn.Config, default: Callable[[], ssl.SSLContext]) -> ssl.SSLContext:
        contexts = RotatingContext(certificates, default, "the HTTP port")
        first = contexts.current()

        def choose(connection: ssl.SSLObject | ssl.SSLSocket, server_name: str | None, _: ssl.SSLContext) -> None:
            context = contexts.current()
            if context is not first:
                connection.context = context

        first.sni_callback = choose
        return first

    return factory


class RestServer:
    def __init__(
        self, app: Starlette, host: str, port: int, reuse_port: bool, certificates: CertificateFiles | None
    ) -> None:
        self._socket = listening_socket(host, port, reuse_port)
        self.port: int = self._socket.getsockname()[1]
        files = certificates.files if certificates is not None else None
        config = uvicorn.Config(
            app,
            lifespan="off",
            log_config=None,  # the server's logging is configured already (service/observability/logging.py)
            access_log=False,  # requests are logged by the REST layer's request log
            server_header=False,
            timeout_keep_alive=KEEP_ALIVE_SECONDS,
            ssl_certfile=files.cert if files else None,
            ssl_keyfile=files.key if files else None,
            ssl_ca_certs=files.client_ca if files else None,
            ssl_cert_reqs=ssl.CERT_REQUIRED if files and files.client_ca else ssl.CERT_NONE,
            ssl_context_factory=_rotating(certificates) if certificates is not None else None,
            # With client certificates, requests carry the peer's names for the auth layer.
            http=PeerHttpProtocol if files and files.client_ca else "auto",
        )
        self._server = uvicorn.Server(config)
        self._task: asyncio.Task[None] | None = None
        self.tls = files is not None

    async def start(self) -> None:
        config = self._server.config
        config.load()
        self._server.lifespan = config.lifespan_class(config)
        await self._server.startup(sockets=[self._socket])
        if self._server.should_exit:  # startup failed; uvicorn has logged why
            raise RuntimeError("the HTTP server did not start")
        self._task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        await self._server.main_loop()
        await self._server.shutdown(sockets=[self._socket])

    async def stop(self, grace: float) -> None:
        """Stop listening, close idle connections, let running requests finish for up to `grace` s."""
        if self._task is None:
            self._socket.close()
            return
        # At least a second: uvicorn needs a moment to close idle keep-alive connections.
        self._server.config.timeout_graceful_shutdown = max(math.ceil(grace), 1)
        self._server.should_exit = True
        try:
            await asyncio.wait_for(asyncio.shield(self._task), grace + 5)
        except TimeoutError:
            self._server.force_exit = True
            self._task.cancel()
        self._task = None
