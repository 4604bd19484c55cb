"""clients/security.py against a real gRPC server that answers with what it was sent: the
token on every kind of call (plaintext and TLS, blocking and asyncio), TLS settings from files
or bytes, the server-name override, system roots, and a client certificate.

The echo server is a threaded grpc.server, so blocking clients can call it from a test's event loop.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent import futures
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest

from clients.security import TlsConfig, open_aio_channel, open_channel
from tests.fixtures.tls import Pki

TOKEN = "echo-8c1f-do-not-show"
NOT_A_CONFIG: Any = "yes"
KINDS = ("unary_unary", "unary_stream", "stream_unary", "stream_stream")


def _seen(context: grpc.ServicerContext) -> bytes:
    """What the call carried: its authorization and x-note metadata and the client certificate's names."""
    metadata = dict(context.invocation_metadata())
    names = context.auth_context().get("x509_subject_alternative_name", [])
    parts = [metadata.get("authorization", ""), metadata.get("x-note", ""), ",".join(n.decode() for n in names)]
    return "|".join(parts).encode()


def _drain_then_seen(requests, context: grpc.ServicerContext) -> bytes:
    for _ in requests:
        pass
    return _seen(context)


HANDLERS = {
    "unary_unary": grpc.unary_unary_rpc_method_handler(lambda request, context: _seen(context)),
    "unary_stream": grpc.unary_stream_rpc_method_handler(lambda request, context: iter([_seen(context)])),
    "stream_unary": grpc.stream_unary_rpc_method_handler(_drain_then_seen),
    "stream_stream": grpc.stream_stream_rpc_method_handler(
        lambda requests, ctx: iter([_drain_then_seen(requests, ctx)])
    ),
}


@dataclass
class Echo:
    plain: str
    tls: str  # a certificate for "localhost" only
    mtls: str  # the same, and a client certificate from the same CA is required
    pki: Pki


@pytest.fixture(scope="module")
def echo(tmp_path_factory) -> Iterator[Echo]:
    pki = Pki(tmp_path_factory.mktemp("echo-pki"))
    leaf = pki.ca.issue_cert("localhost")
    pair = [(leaf.private_key_pem.bytes(), b"".join(p.bytes() for p in leaf.cert_chain_pems))]
    server = grpc.server(futures.ThreadPoolExecutor(4))
    server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler("echo.Echo", HANDLERS)])
    plain = server.add_insecure_port("127.0.0.1:0")
    tls = server.add_secure_port("127.0.0.1:0", grpc.ssl_server_credentials(pair))
    mtls = server.add_secure_port(
        "127.0.0.1:0", grpc.ssl_server_credentials(pair, root_certificates=pki.ca_pem, require_client_auth=True)
    )
    server.start()
    try:
        yield Echo(f"127.0.0.1:{plain}", f"localhost:{tls}", f"localhost:{mtls}", pki)
    finally:
        server.stop(grace=None)


# One use of each kind of call; each returns what the server saw.


def call_sync(channel: grpc.Channel, kind: str, metadata=None) -> str:
    method = getattr(channel, kind)(f"/echo.Echo/{kind}")
    request = b"x" if kind.startswith("unary") else iter([b"x"])
    reply = method(request, metadata=metadata, timeout=10)
    return (reply if kind.endswith("unary") else next(iter(reply))).decode()


async def call_aio(channel: grpc.aio.Channel, kind: str, metadata=None) -> str:
    method = getattr(channel, kind)(f"/echo.Echo/{kind}")
    request = b"x" if kind.startswith("unary") else iter([b"x"])
    call = method(request, metadata=metadata, timeout=10)
    if kind.endswith("unary"):
        return (await call).decode()
    return [reply async for reply in call][0].decode()


@pytest.mark.parametrize("kind", KINDS)
def test_a_plaintext_channel_adds_the_token_to_every_kind_of_call(echo, kind):
    with open_channel(echo.plain, token=TOKEN) as channel:
        assert call_sync(channel, kind).startswith(f"Bearer {TOKEN}|")


@pytest.mark.parametrize("kind", KINDS)
async def test_an_asyncio_plaintext_channel_adds_the_token_to_every_kind_of_call(echo, kind):
    async with open_aio_channel(echo.plain, token=TOKEN) as channel:
        assert (await call_aio(channel, kind)).startswith(f"Bearer {TOKEN}|")


@pytest.mark.parametrize("kind", KINDS)
async def test_a_tls_channel_adds_the_token_to_every_kind_of_call(echo, kind):
    tls = TlsConfig(ca=echo.pki.ca_file)
    with open_channel(echo.tls, tls=tls, token=TOKEN) as channel:
        assert call_sync(channel, kind).startswith(f"Bearer {TOKEN}|")
    async with open_aio_channel(echo.tls, tls=tls, token=TOKEN) as channel:
        assert (await call_aio(channel, kind)).startswith(f"Bearer {TOKEN}|")


async def test_metadata_of_the_call_goes_along_with_the_token(echo):
    note = (("x-note", "kept"),)
    with open_channel(echo.plain, token=TOKEN) as channel:
        assert call_sync(channel, "unary_unary", note) == f"Bearer {TOKEN}|kept|"
    async with open_aio_channel(echo.plain, token=TOKEN) as channel:
        assert await call_aio(channel, "stream_stream", note) == f"Bearer {TOKEN}|kept|"


def test_without_a_token_no_authorization_is_sent(echo):
    with open_channel(echo.plain) as channel:
        assert call_sync(channel, "unary_unary") == "||"
    with open_channel(echo.tls, tls=TlsConfig(ca=echo.pki.ca_pem)) as channel:
        assert call_sync(channel, "unary_unary") == "||"


@pytest.mark.parametrize("form", [str, Path, "bytes"])
def test_the_ca_may_be_a_path_or_pem_bytes(echo, form):
    ca = echo.pki.ca_pem if form == "bytes" else form(echo.pki.ca_file)
    with open_channel(echo.tls, tls=TlsConfig(ca=ca), token=TOKEN) as channel:
        assert call_sync(channel, "unary_unary").startswith("Bearer ")


def test_server_name_verifies_a_certificate_that_does_not_name_the_address_dialled(echo):
    by_ip = echo.tls.replace("localhost", "127.0.0.1")
    with open_channel(by_ip, tls=TlsConfig(ca=echo.pki.ca_pem)) as channel:
        with pytest.raises(grpc.RpcError) as caught:
            call_sync(channel, "unary_unary")
    assert caught.value.code() is grpc.StatusCode.UNAVAILABLE and "Hostname Verification" in caught.value.details()
    with open_channel(by_ip, tls=TlsConfig(ca=echo.pki.ca_pem, server_name="localhost")) as channel:
        assert call_sync(channel, "unary_unary") == "||"


def test_tls_true_trusts_the_system_roots_not_a_private_ca(echo):
    with open_channel(echo.tls, tls=True) as channel:
        with pytest.raises(grpc.RpcError) as caught:
            call_sync(channel, "unary_unary")
    assert caught.value.code() is grpc.StatusCode.UNAVAILABLE
    assert "CERTIFICATE_VERIFY_FAILED" in caught.value.details()


async def test_a_client_certificate_reaches_a_server_that_asks_for_one(echo):
    client = echo.pki.client("camera.example")
    tls = TlsConfig(ca=echo.pki.ca_pem, cert=client.cert, key=client.key)
    with open_channel(echo.mtls, tls=tls) as channel:
        assert call_sync(channel, "unary_unary") == "||camera.example"
    async with open_aio_channel(echo.mtls, tls=tls, token=TOKEN) as channel:
        assert await call_aio(channel, "unary_stream") == f"Bearer {TOKEN}||camera.example"
    with open_channel(echo.mtls, tls=TlsConfig(ca=echo.pki.ca_pem)) as channel:
        with pytest.raises(grpc.RpcError) as caught:
            call_sync(channel, "unary_unary")
    assert caught.value.code() is grpc.StatusCode.UNAVAILABLE


def test_a_certificate_without_its_key_is_refused():
    with pytest.raises(ValueError, match="cert and key go together"):
        TlsConfig(cert=b"pem")
    with pytest.raises(TypeError, match="TlsConfig, True or None"):
        open_channel("127.0.0.1:1", tls=NOT_A_CONFIG)


@pytest.mark.parametrize("token", ["two words", "line\nbreak", "t\u00f6ken"])
def test_a_token_that_cannot_be_a_header_is_refused_without_repeating_it(token):
    with pytest.raises(ValueError) as caught:
        open_channel("127.0.0.1:1", token=token)
    assert token not in str(caught.value) and "not shown" in str(caught.value)
