"""TLS, mTLS, tokens and groups on a real server, with real certificates (trustme) and real clients.

Each server here loads only the `add` model: the tests are about who gets in, not inference.
Channels use a subchannel pool of their own, so every channel makes its own connection (and
handshake) instead of sharing one with an earlier channel to the same address.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import grpc
import numpy as np
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from clients.request import build_request, decode_outputs
from protos.inference import grpc_service_pb2 as oip
from protos.inference import grpc_service_pb2_grpc as oip_grpc
from protos.switchyard.v1 import predict_pb2 as pb
from protos.switchyard.v1 import predict_pb2_grpc
from protos.switchyard.v1 import video_pb2 as vpb
from service.server import SwitchyardServer
from tests.fixtures.tls import ClientPems, Pki, ServerFiles, sha256_hex
from tests.integration.conftest import tls_server
from tests.service.oip.outside import grpcurl, run, triton_python

TOKENS = {
    "reader": "reader-7f3a9c-do-not-log",  # metadata
    "runner": "runner-51be02-do-not-log",  # infer, metadata
    "operator": "operator-c4d8e1-do-not-log",  # admin, metadata
}
METRICS_TOKEN = "metrics-9d2f6b-do-not-log"
ADD = build_request("add", {"a": np.ones((1, 4), np.float32), "b": np.full((1, 4), 2, np.float32)})


def auth_yaml(clients: bool) -> str:
    groups = {"reader": "[metadata]", "runner": "[infer, metadata]", "operator": "[admin, metadata]"}
    lines = ["tokens:"]
    lines += [f"  - {{name: {n}, sha256: '{sha256_hex(t)}', groups: {groups[n]}}}" for n, t in TOKENS.items()]
    lines += (
        []
        if not clients
        else [
            "clients:",
            "  - {name: camera, subject: {dns: camera.example}, groups: [infer, metadata]}",
            "  - {name: viewer, subject: {cn: viewer}, groups: [metadata]}",
        ]
    )
    return "\n".join(lines) + "\n"


@dataclass
class Secured:
    server: SwitchyardServer
    address: str
    pki: Pki
    files: ServerFiles


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> Pki:
    return Pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def auth_config(tmp_path_factory):
    """Tokens only: client identities need a server that asks for client certificates."""
    path = tmp_path_factory.mktemp("auth") / "auth.yaml"
    path.write_text(auth_yaml(clients=False))
    return path


@pytest.fixture(scope="module")
def mtls_auth_config(tmp_path_factory):
    path = tmp_path_factory.mktemp("auth") / "auth.yaml"
    path.write_text(auth_yaml(clients=True))
    return path


@asynccontextmanager
async def secured(model_repo, pki: Pki, files: ServerFiles, **settings) -> AsyncIterator[Secured]:
    async with tls_server(model_repo, files, **settings) as server:
        yield Secured(server, f"127.0.0.1:{server.port}", pki, files)


@pytest.fixture(scope="module")
async def tls(model_repo, pki, auth_config) -> AsyncIterator[Secured]:
    """TLS and tokens; plaintext health port; HTTPS metrics behind a token; admin RPCs on."""
    async with secured(
        model_repo,
        pki,
        pki.server(),
        auth_config=auth_config,
        allow_repository_admin=True,
        health_port=0,
        metrics_port=0,
        metrics_tls=True,
        metrics_token_sha256=sha256_hex(METRICS_TOKEN),
    ) as item:
        yield item


@pytest.fixture(scope="module")
async def mtls(model_repo, pki, mtls_auth_config) -> AsyncIterator[Secured]:
    files = pki.server(ServerFiles(pki.folder / "mtls.pem", pki.folder / "mtls.key"))
    async with secured(model_repo, pki, files, auth_config=mtls_auth_config, tls_client_ca=pki.ca_file) as item:
        yield item


def channel(address: str, ca: bytes | None, client: ClientPems | None = None) -> grpc.aio.Channel:
    options = [("grpc.use_local_subchannel_pool", 1)]
    if ca is None:
        return grpc.aio.insecure_channel(address, options=options)
    credentials = grpc.ssl_channel_credentials(ca, client.key if client else None, client.cert if client else None)
    return grpc.aio.secure_channel(address, credentials, options=options)


def bearer(name: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {TOKENS[name]}"),)


async def predict(address: str, ca: bytes | None, client: ClientPems | None = None, token: str | None = None):
    async with channel(address, ca, client) as ch:
        return await predict_pb2_grpc.PredictStub(ch).Predict(
            ADD, metadata=bearer(token) if token else None, timeout=10
        )


async def status_of(call) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    return caught.value.code(), caught.value.details() or ""


# Transport ---------------------------------------------------------------------------------


async def test_predict_over_tls_with_a_token(tls):
    outputs = decode_outputs(await predict(tls.address, tls.pki.ca_pem, token="runner"))
    np.testing.assert_array_equal(outputs["sum"], np.full((1, 4), 3, np.float32))


async def test_a_plaintext_client_cannot_talk_to_the_tls_port(tls):
    code, _ = await status_of(predict(tls.address, None, token="runner"))
    assert code is grpc.StatusCode.UNAVAILABLE


async def test_a_client_trusting_another_ca_refuses_the_server(tls, tmp_path):
    code, _ = await status_of(predict(tls.address, Pki(tmp_path).ca_pem, token="runner"))
    assert code is grpc.StatusCode.UNAVAILABLE


async def test_an_expired_server_certificate_is_refused_by_the_client(model_repo, pki):
    files = pki.server(ServerFiles(pki.folder / "expired.pem", pki.folder / "expired.key"), expired=True)
    async with secured(model_repo, pki, files) as server:
        code, _ = await status_of(predict(server.address, pki.ca_pem))
        assert code is grpc.StatusCode.UNAVAILABLE


async def test_the_health_port_answers_in_plaintext_beside_the_tls_port(tls):
    assert tls.server.health_port and tls.server.health_port != tls.server.port
    async with channel(f"127.0.0.1:{tls.server.health_port}", None) as ch:
        reply = await health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(service="model/add"))
    assert reply.status == health_pb2.HealthCheckResponse.SERVING
    async with channel(f"127.0.0.1:{tls.server.health_port}", None) as ch:  # health alone: nothing else there
        code, _ = await status_of(predict_pb2_grpc.PredictStub(ch).ListModels(pb.ListModelsRequest()))
    assert code is grpc.StatusCode.UNIMPLEMENTED


async def test_health_on_the_main_port_needs_tls_but_no_token(tls):
    async with channel(tls.address, tls.pki.ca_pem) as ch:
        reply = await health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest())
    assert reply.status == health_pb2.HealthCheckResponse.SERVING


# Client certificates -----------------------------------------------------------------------


async def test_mtls_without_a_client_certificate_fails(mtls):
    code, _ = await status_of(predict(mtls.address, mtls.pki.ca_pem, token="runner"))
    assert code is grpc.StatusCode.UNAVAILABLE


async def test_mtls_with_a_certificate_of_another_ca_fails(mtls, tmp_path):
    foreign = Pki(tmp_path).client("camera.example")
    code, _ = await status_of(predict(mtls.address, mtls.pki.ca_pem, foreign))
    assert code is grpc.StatusCode.UNAVAILABLE


async def test_a_known_client_certificate_is_its_identity(mtls):
    camera = mtls.pki.client("camera.example")
    outputs = decode_outputs(await predict(mtls.address, mtls.pki.ca_pem, camera))
    assert outputs["sum"].shape == (1, 4)
    viewer = mtls.pki.client("viewer.example", cn="viewer")
    code, details = await status_of(predict(mtls.address, mtls.pki.ca_pem, viewer))
    assert code is grpc.StatusCode.PERMISSION_DENIED and "'viewer'" in details and "'infer'" in details


async def test_a_valid_certificate_that_no_entry_names_is_unauthenticated(mtls):
    stranger = mtls.pki.client("stranger.example")
    code, _ = await status_of(predict(mtls.address, mtls.pki.ca_pem, stranger))
    assert code is grpc.StatusCode.UNAUTHENTICATED


# Tokens and groups -------------------------------------------------------------------------


async def test_no_token_is_unauthenticated(tls):
    code, details = await status_of(predict(tls.address, tls.pki.ca_pem))
    assert code is grpc.StatusCode.UNAUTHENTICATED and "Bearer" in details


async def test_an_unknown_token_is_unauthenticated_and_not_echoed(tls):
    async with channel(tls.address, tls.pki.ca_pem) as ch:
        call = predict_pb2_grpc.PredictStub(ch).Predict(ADD, metadata=(("authorization", "Bearer guessed-123"),))
        code, details = await status_of(call)
    assert code is grpc.StatusCode.UNAUTHENTICATED and "guessed-123" not in details


async def test_a_metadata_identity_may_list_but_not_predict_or_stream_video(tls):
    async with channel(tls.address, tls.pki.ca_pem) as ch:
        stub = predict_pb2_grpc.PredictStub(ch)
        listed = await stub.ListModels(pb.ListModelsRequest(), metadata=bearer("reader"))
        assert "add" in [m.name for m in listed.models]
        code, details = await status_of(stub.Predict(ADD, metadata=bearer("reader")))
        assert code is grpc.StatusCode.PERMISSION_DENIED and "'infer'" in details
        video = stub.StreamVideo(
            iter([vpb.StreamVideoRequest(config=vpb.StreamConfig(model="add"))]), metadata=bearer("reader")
        )
        code, details = await status_of(video.read())
        assert code is grpc.StatusCode.PERMISSION_DENIED and "'infer'" in details


async def test_oip_inference_needs_the_infer_group_too(tls):
    request = oip.ModelInferRequest(model_name="add")
    async with channel(tls.address, tls.pki.ca_pem) as ch:
        code, details = await status_of(
            oip_grpc.GRPCInferenceServiceStub(ch).ModelInfer(request, metadata=bearer("reader"))
        )
    assert code is grpc.StatusCode.PERMISSION_DENIED and "'infer'" in details


async def test_repository_rpcs_need_the_admin_group(tls):
    async with channel(tls.address, tls.pki.ca_pem) as ch:
        stub = oip_grpc.GRPCInferenceServiceStub(ch)
        for name in ("reader", "runner"):
            code, details = await status_of(
                stub.RepositoryModelUnload(oip.RepositoryModelUnloadRequest(model_name="add"), metadata=bearer(name))
            )
            assert code is grpc.StatusCode.PERMISSION_DENIED and "'admin'" in details
        index = await stub.RepositoryIndex(oip.RepositoryIndexRequest(), metadata=bearer("operator"))
    assert "add" in [m.name for m in index.models]


async def test_no_token_appears_in_any_log_line_or_error(tls, caplog):
    caplog.set_level(logging.DEBUG)
    details = []
    async with channel(tls.address, tls.pki.ca_pem) as ch:
        stub = predict_pb2_grpc.PredictStub(ch)
        for metadata in (bearer("reader"), (("authorization", f"Bearer {TOKENS['runner']}x"),), bearer("runner")):
            try:
                await stub.Predict(ADD, metadata=metadata)
            except grpc.aio.AioRpcError as error:
                details.append(error.details() or "")
        await stub.ListModels(pb.ListModelsRequest(), metadata=bearer("reader"))
    assert len(details) == 2  # denied, then unauthenticated; the third call went through
    logged = caplog.text + "\n".join(details)
    assert "reader" in caplog.text  # the denial was logged, by name
    for secret in TOKENS.values():
        assert secret not in logged


# Rotation ----------------------------------------------------------------------------------


async def test_rotated_certificates_serve_new_connections_while_a_stream_goes_on(model_repo, tmp_path):
    first = Pki(tmp_path / "first")
    files = first.server()
    async with secured(model_repo, first, files) as server:
        async with channel(server.address, first.ca_pem) as old:
            stream = predict_pb2_grpc.PredictStub(old).PredictStream()
            await stream.write(pb.PredictStreamRequest(request=ADD))
            assert not (await stream.read()).HasField("error")

            second = Pki(tmp_path / "second")
            second.server(files)  # key, then certificate, each replaced by a rename

            outputs = decode_outputs(await predict(server.address, second.ca_pem))  # a new connection
            assert outputs["sum"].shape == (1, 4)
            code, _ = await status_of(predict(server.address, first.ca_pem))  # the old CA no longer fits
            assert code is grpc.StatusCode.UNAVAILABLE

            await stream.write(pb.PredictStreamRequest(request=ADD))  # the stream opened before goes on
            assert not (await stream.read()).HasField("error")
            await stream.done_writing()


# Outside clients and metrics ---------------------------------------------------------------


async def test_grpcurl_with_a_ca_and_a_bearer_token(tls):
    tool = grpcurl()
    ca = str(tls.pki.ca_file)
    header = f"authorization: Bearer {TOKENS['reader']}"
    listed = await run(tool, "-cacert", ca, "-H", header, tls.address, "switchyard.v1.Predict/ListModels")
    assert listed.returncode == 0, listed.stderr
    assert '"add"' in listed.stdout
    refused = await run(tool, "-cacert", ca, tls.address, "switchyard.v1.Predict/ListModels")
    assert refused.returncode != 0 and "Unauthenticated" in refused.stderr


async def test_grpcurl_with_a_client_certificate(mtls, tmp_path):
    camera = mtls.pki.client("camera.example")
    (tmp_path / "c.pem").write_bytes(camera.cert)
    (tmp_path / "c.key").write_bytes(camera.key)
    tls_args = ["-cacert", str(mtls.pki.ca_file), "-cert", str(tmp_path / "c.pem"), "-key", str(tmp_path / "c.key")]
    listed = await run(grpcurl(), *tls_args, mtls.address, "switchyard.v1.Predict/ListModels")
    assert listed.returncode == 0, listed.stderr
    assert '"add"' in listed.stdout


def scrape(port: int, ca: bytes, token: str | None) -> tuple[int, str]:
    request = urllib.request.Request(f"https://127.0.0.1:{port}/metrics")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    context = ssl.create_default_context(cadata=ca.decode())
    try:
        with urllib.request.urlopen(request, context=context, timeout=10) as reply:
            return reply.status, reply.read().decode()
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.read().decode()


async def test_metrics_over_https_need_the_bearer_token(tls):
    port = tls.server.metrics.port
    status, body = await asyncio.to_thread(scrape, port, tls.pki.ca_pem, None)
    assert status == 401 and "switchyard_" not in body
    status, _ = await asyncio.to_thread(scrape, port, tls.pki.ca_pem, "wrong")
    assert status == 401
    code, _ = await status_of(predict(tls.address, tls.pki.ca_pem, token="reader"))  # a denial to count
    assert code is grpc.StatusCode.PERMISSION_DENIED
    status, body = await asyncio.to_thread(scrape, port, tls.pki.ca_pem, METRICS_TOKEN)
    assert status == 200
    assert 'switchyard_auth_requests_total{group="infer",identity="reader",outcome="denied"}' in body


TRITON_TLS = """
import json, sys
import numpy as np
import tritonclient.grpc as triton
from tritonclient.utils import InferenceServerException

url, ca, token = sys.argv[1:4]
client = triton.InferenceServerClient(url, ssl=True, root_certificates=ca)
headers = {"authorization": f"Bearer {token}"}
a = triton.InferInput("a", [1, 4], "FP32")
a.set_data_from_numpy(np.ones((1, 4), np.float32))
b = triton.InferInput("b", [1, 4], "FP32")
b.set_data_from_numpy(np.full((1, 4), 2, np.float32))
result = client.infer("add", [a, b], headers=headers).as_numpy("sum").ravel().tolist()
try:
    client.is_server_live()
    refused = ""
except InferenceServerException as error:
    refused = error.status()
print(json.dumps({"sum": result, "refused": refused}))
"""


async def test_tritonclient_over_tls_with_a_bearer_header(tls):
    done = await run(triton_python(), "-c", TRITON_TLS, tls.address, str(tls.pki.ca_file), TOKENS["runner"])
    report = done.json()
    assert report["sum"] == [3.0, 3.0, 3.0, 3.0]
    assert "UNAUTHENTICATED" in report["refused"]
