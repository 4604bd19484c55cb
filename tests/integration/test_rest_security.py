"""REST behind the gRPC port's security: bearer tokens and groups, TLS with the same (rotating)
certificates, client certificates demanded when --tls-client-ca is set."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator

import httpx
import pytest

from service.server import SwitchyardServer
from tests.fixtures.tls import Pki, ServerFiles
from tests.integration.conftest import tls_server
from tests.integration.test_security import TOKENS, auth_yaml

ADD = {
    "inputs": [
        {"name": "a", "datatype": "FP32", "shape": [1, 4], "data": [1, 2, 3, 4]},
        {"name": "b", "datatype": "FP32", "shape": [1, 4], "data": [1, 1, 1, 1]},
    ]
}


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> Pki:
    return Pki(tmp_path_factory.mktemp("rest_pki"))


@pytest.fixture(scope="module")
async def secured(model_repo, pki, tmp_path_factory) -> AsyncIterator[tuple[SwitchyardServer, ServerFiles]]:
    config = tmp_path_factory.mktemp("rest_auth") / "auth.yaml"
    config.write_text(auth_yaml(clients=False))
    files = pki.server()
    async with tls_server(model_repo, files, http_port=0, auth_config=config, allow_repository_admin=True) as server:
        yield server, files


def client(server: SwitchyardServer, pki: Pki, token: str | None = None) -> httpx.AsyncClient:
    headers = {"authorization": f"Bearer {TOKENS[token]}"} if token else {}
    return httpx.AsyncClient(
        base_url=f"https://127.0.0.1:{server.http_port}",
        verify=ssl.create_default_context(cadata=pki.ca_pem.decode()),
        headers=headers,
        timeout=30,
    )


@pytest.mark.parametrize(
    ("token", "method", "path", "status"),
    [
        (None, "GET", "/v2/health/live", 200),  # probes carry no credentials
        (None, "GET", "/v2/health/ready", 200),
        (None, "GET", "/v2", 401),
        (None, "POST", "/v2/models/add/infer", 401),
        ("reader", "GET", "/v2/models/add", 200),
        ("reader", "POST", "/v2/models/add/infer", 403),
        ("runner", "POST", "/v2/models/add/infer", 200),
        ("runner", "POST", "/v2/repository/index", 403),
        ("operator", "POST", "/v2/repository/index", 200),
    ],
)
async def test_tokens_and_groups_over_https(secured, pki, token, method, path, status):
    server, _ = secured
    async with client(server, pki, token) as http:
        reply = await http.request(method, path, json=ADD if path.endswith("infer") else None)
    assert reply.status_code == status, reply.text
    if status == 401:
        assert reply.headers["www-authenticate"].startswith("Bearer")
        assert "credentials" in reply.json()["error"]
    if status == 403:
        assert "needs the" in reply.json()["error"]


async def test_a_wrong_token_is_401_and_never_echoed(secured, pki):
    server, _ = secured
    async with client(server, pki) as http:
        reply = await http.get("/v2", headers={"authorization": "Bearer not-a-real-token-xyz"})
    assert reply.status_code == 401 and "not-a-real-token-xyz" not in reply.text


async def test_plaintext_http_is_refused_on_the_tls_port(secured):
    server, _ = secured
    async with httpx.AsyncClient(timeout=10) as http:
        with pytest.raises(httpx.HTTPError):
            await http.get(f"http://127.0.0.1:{server.http_port}/v2/health/live")


async def test_a_rotated_certificate_is_served_to_new_connections(secured, pki):
    server, files = secured
    async with client(server, pki) as http:
        first = (await http.get("/v2/health/live")).extensions["network_stream"].get_extra_info("ssl_object")
        before = first.getpeercert(binary_form=True)
    rotated = Pki(pki.folder / "next", "next")
    rotated.server(files)  # a new CA's certificate: only a client trusting it can connect now
    async with client(server, rotated) as http:
        reply = await http.get("/v2/health/live")
        after = reply.extensions["network_stream"].get_extra_info("ssl_object").getpeercert(binary_form=True)
    assert reply.status_code == 200 and after != before


def certificate_context(pki: Pki, name: str, dns: str = "client.example", cn: str | None = None) -> ssl.SSLContext:
    leaf = pki.client(dns, cn)
    cert, key = pki.folder / f"{name}.pem", pki.folder / f"{name}.key"
    cert.write_bytes(leaf.cert)
    key.write_bytes(leaf.key)
    context = ssl.create_default_context(cadata=pki.ca_pem.decode())
    context.load_cert_chain(cert, key)
    return context


@pytest.mark.parametrize(
    ("who", "path", "status"),
    [
        ({"dns": "camera.example"}, "/v2/models/add/infer", 200),  # camera: infer, metadata
        ({"dns": "other.example", "cn": "viewer"}, "/v2/models/add", 200),  # viewer: metadata
        ({"dns": "other.example", "cn": "viewer"}, "/v2/models/add/infer", 403),
        ({"dns": "stranger.example"}, "/v2/models/add", 401),  # signed by the CA, but no identity
    ],
)
async def test_client_certificates_are_identities_over_rest(model_repo, pki, tmp_path, who, path, status):
    config = tmp_path / "auth.yaml"
    config.write_text(auth_yaml(clients=True))
    files = pki.server(ServerFiles(pki.folder / "id.pem", pki.folder / "id.key"))
    async with tls_server(model_repo, files, http_port=0, tls_client_ca=pki.ca_file, auth_config=config) as server:
        context = certificate_context(pki, "who", **who)
        async with httpx.AsyncClient(verify=context, timeout=30) as http:
            url = f"https://127.0.0.1:{server.http_port}{path}"
            reply = await (http.post(url, json=ADD) if path.endswith("infer") else http.get(url))
        assert reply.status_code == status, reply.text


async def test_client_certificates_are_required_with_a_client_ca(model_repo, pki):
    files = pki.server(ServerFiles(pki.folder / "m.pem", pki.folder / "m.key"))
    async with tls_server(model_repo, files, http_port=0, tls_client_ca=pki.ca_file) as server:
        url = f"https://127.0.0.1:{server.http_port}/v2/health/live"
        bare = ssl.create_default_context(cadata=pki.ca_pem.decode())
        async with httpx.AsyncClient(verify=bare, timeout=10) as http:
            with pytest.raises(httpx.HTTPError):
                await http.get(url)
        async with httpx.AsyncClient(verify=certificate_context(pki, "client"), timeout=10) as http:
            assert (await http.get(url)).status_code == 200
