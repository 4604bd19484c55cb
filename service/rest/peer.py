"""The TLS client certificate of an HTTP connection, for the auth layer's `clients:` identities.

uvicorn verifies client certificates (--tls-client-ca) but does not hand them to the
application, so its HTTP protocol is extended by one step: when a TLS connection is made, the
verified peer's DNS names and common names are read once, and every request of that
connection carries them in its ASGI scope (`extensions["switchyard.peer"]`), shaped like
grpc's auth context, which service/security/auth.py reads.
"""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

PEER = "switchyard.peer"


def peer_names(ssl_object: ssl.SSLObject | None) -> dict[object, object]:
    """{"peer_dns": [...], "x509_common_name": [...]} of a verified peer; empty without one."""
    certificate: dict[str, Any] = dict(ssl_object.getpeercert() or {}) if ssl_object is not None else {}
    if not certificate:
        return {}
    dns = [value.encode() for kind, value in certificate.get("subjectAltName", ()) if kind == "DNS"]
    names = [value.encode() for part in certificate.get("subject", ()) for key, value in part if key == "commonName"]
    return {"peer_dns": dns, "x509_common_name": names}


class PeerHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, with the connection's peer names in every request's scope."""

    _peer: dict[object, object] = {}

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if not isinstance(transport, asyncio.Transport):
            raise TypeError("an HTTP connection needs a stream transport")
        super().connection_made(transport)
        self._peer = peer_names(transport.get_extra_info("ssl_object"))

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.scope["extensions"] = {PEER: self._peer}
