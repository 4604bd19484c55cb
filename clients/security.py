"""How every client channel is secured: TLS (and mTLS) settings, a bearer token, and the two
functions that open a channel with them (blocking and asyncio).

The token rides as `authorization: Bearer <token>` metadata that an interceptor adds to every
call, over TLS and plaintext alike. gRPC's own call credentials (`access_token_call_credentials`)
would do the same over TLS only, but they run a Python metadata plugin that can deadlock a
blocking channel's close() (grpc/grpc#42247, seen here once in a few hundred CLI runs). Over
plaintext (a local server, or a network a mesh already encrypts) the token crosses the wire
readable: use TLS anywhere else.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

__all__ = ["TlsConfig", "open_aio_channel", "open_channel"]

PemSource = str | os.PathLike[str] | bytes
Options = Sequence[tuple[str, Any]]


@dataclass(frozen=True)
class TlsConfig:
    """TLS for a client channel. Each of `ca`, `cert` and `key` is PEM bytes or a PEM file's path.

    ca:   the CA that signed the server's certificate; None = the system's trusted roots.
    cert, key: the client's own certificate chain and key, for a server that asks for
          one (mTLS); both or neither.
    server_name: the name to expect in the server's certificate (and to send as SNI) when
          the dialled address is not one the certificate names, e.g. an IP or a port-forward.
    """

    ca: PemSource | None = None
    cert: PemSource | None = None
    key: PemSource | None = None
    server_name: str | None = None

    def __post_init__(self) -> None:
        if (self.cert is None) != (self.key is None):
            raise ValueError("TlsConfig: cert and key go together (a client certificate needs its key)")

    def credentials(self) -> grpc.ChannelCredentials:
        """Reads the files now: a channel keeps the certificates it was opened with."""
        return grpc.ssl_channel_credentials(_pem(self.ca), _pem(self.key), _pem(self.cert))

    def options(self) -> list[tuple[str, Any]]:
        return [("grpc.ssl_target_name_override", self.server_name)] if self.server_name else []


def _pem(source: PemSource | None) -> bytes | None:
    if source is None or isinstance(source, bytes):
        return source
    return Path(source).read_bytes()


def _tls_config(tls: TlsConfig | bool | None) -> TlsConfig | None:
    if tls is True:
        return TlsConfig()
    if tls is None or tls is False:
        return None
    if not isinstance(tls, TlsConfig):
        raise TypeError(f"tls must be a TlsConfig, True or None, not {type(tls).__name__}")
    return tls


def bearer_header(token: str) -> str:
    """`Bearer <token>`; a token that is not one printable word would be mangled or refused on the
    wire, so it is refused here, in words that do not repeat it."""
    if not token or not all("!" <= ch <= "~" for ch in token):
        raise ValueError("the bearer token must be printable ASCII without spaces (its value is not shown)")
    return f"Bearer {token}"


def open_channel(
    address: str, options: Options = (), *, tls: TlsConfig | bool | None = None, token: str | None = None
) -> grpc.Channel:
    """A blocking channel to `address`: TLS when `tls` is a TlsConfig or True, the token on every call."""
    config = _tls_config(tls)
    header = bearer_header(token) if token else None
    if config is None:
        channel = grpc.insecure_channel(address, options=list(options))
    else:
        channel = grpc.secure_channel(address, config.credentials(), options=[*options, *config.options()])
    return grpc.intercept_channel(channel, _BearerMetadata(header)) if header else channel


def open_aio_channel(
    address: str, options: Options = (), *, tls: TlsConfig | bool | None = None, token: str | None = None
) -> grpc.aio.Channel:
    """The asyncio twin of open_channel."""
    config = _tls_config(tls)
    interceptors = _aio_bearer_interceptors(bearer_header(token)) if token else None
    if config is None:
        return grpc.aio.insecure_channel(address, options=list(options), interceptors=interceptors)
    return grpc.aio.secure_channel(
        address, config.credentials(), options=[*options, *config.options()], interceptors=interceptors
    )


# The token as call metadata ---------------------------------------------------------------


class _CallDetails(grpc.ClientCallDetails):
    """A call's details with other metadata (grpc's own class cannot be built from outside)."""

    def __init__(self, details: grpc.ClientCallDetails, metadata: tuple[tuple[str, str], ...]) -> None:
        self.method = details.method
        self.timeout = details.timeout
        self.metadata = metadata
        self.credentials = details.credentials
        self.wait_for_ready = getattr(details, "wait_for_ready", None)
        self.compression = getattr(details, "compression", None)


class _BearerMetadata(
    grpc.UnaryUnaryClientInterceptor,
    grpc.UnaryStreamClientInterceptor,
    grpc.StreamUnaryClientInterceptor,
    grpc.StreamStreamClientInterceptor,
):
    """Adds `authorization: Bearer <token>` to every call of a blocking channel."""

    def __init__(self, header: str) -> None:
        self._entry = ("authorization", header)

    def _with_token(self, details: grpc.ClientCallDetails) -> grpc.ClientCallDetails:
        return _CallDetails(details, (*(details.metadata or ()), self._entry))

    def intercept_unary_unary(self, continuation, client_call_details, request):
        return continuation(self._with_token(client_call_details), request)

    def intercept_unary_stream(self, continuation, client_call_details, request):
        return continuation(self._with_token(client_call_details), request)

    def intercept_stream_unary(self, continuation, client_call_details, request_iterator):
        return continuation(self._with_token(client_call_details), request_iterator)

    def intercept_stream_stream(self, continuation, client_call_details, request_iterator):
        return continuation(self._with_token(client_call_details), request_iterator)


class _AioBearer:
    """The asyncio version; grpc.aio files an interceptor under one call kind only, hence one
    subclass per kind below, all sharing this."""

    def __init__(self, header: str) -> None:
        self._entry = ("authorization", header)

    def _with_token(self, details: grpc.aio.ClientCallDetails) -> grpc.aio.ClientCallDetails:
        metadata = grpc.aio.Metadata(*(details.metadata or ()), self._entry)
        return details._replace(metadata=metadata)

    async def _continue(self, continuation, details, request):
        return await continuation(self._with_token(details), request)


class _AioUnaryUnary(_AioBearer, grpc.aio.UnaryUnaryClientInterceptor):
    async def intercept_unary_unary(self, continuation, client_call_details, request):
        return await self._continue(continuation, client_call_details, request)


class _AioUnaryStream(_AioBearer, grpc.aio.UnaryStreamClientInterceptor):
    async def intercept_unary_stream(self, continuation, client_call_details, request):
        return await self._continue(continuation, client_call_details, request)


class _AioStreamUnary(_AioBearer, grpc.aio.StreamUnaryClientInterceptor):
    async def intercept_stream_unary(self, continuation, client_call_details, request_iterator):
        return await self._continue(continuation, client_call_details, request_iterator)


class _AioStreamStream(_AioBearer, grpc.aio.StreamStreamClientInterceptor):
    async def intercept_stream_stream(self, continuation, client_call_details, request_iterator):
        return await self._continue(continuation, client_call_details, request_iterator)


def _aio_bearer_interceptors(header: str) -> list[grpc.aio.ClientInterceptor]:
    return [kind(header) for kind in (_AioUnaryUnary, _AioUnaryStream, _AioStreamUnary, _AioStreamStream)]
