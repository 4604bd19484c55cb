"""Switchyard's own clients against a secured server: the Python clients with tls= and token=,
the CLI's connection options as a user types them, bench's load generator, and tritonclient
with a client certificate. Real certificates (trustme), a real server per module
(the fixtures of test_security.py: TLS with tokens, and TLS that requires client certificates).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import grpc
import numpy as np
import pytest

from clients import AsyncSwitchyardClient, AsyncVideoClient, PredictError, SwitchyardClient, TlsConfig, VideoClient
from service.cli.bench_load import run_load
from tests.fixtures.tls import Pki
from tests.integration.test_security import TOKENS, auth_config, mtls, mtls_auth_config, pki, tls
from tests.service.cli.conftest import switchyard
from tests.service.oip.outside import run_client

__all__ = ["auth_config", "mtls", "mtls_auth_config", "pki", "tls"]  # fixtures shared with test_security.py

A = np.ones((1, 4), np.float32)
B = np.full((1, 4), 2, np.float32)


def ca_of(server) -> TlsConfig:
    return TlsConfig(ca=server.pki.ca_file)


def sync_predict(address: str, **security) -> dict[str, np.ndarray]:
    with SwitchyardClient(address, **security) as client:
        return client.predict("add", {"a": A, "b": B}, timeout=10)


async def refused(call) -> PredictError:
    with pytest.raises(PredictError) as caught:
        await call
    return caught.value


# The Python clients ------------------------------------------------------------------------


async def test_the_sync_client_over_tls_with_a_token(tls):
    outputs = await asyncio.to_thread(sync_predict, tls.address, tls=ca_of(tls), token=TOKENS["runner"])
    np.testing.assert_array_equal(outputs["sum"], A + B)


async def test_the_asyncio_client_over_tls_with_a_token_predicts_and_streams(tls):
    async with AsyncSwitchyardClient(tls.address, tls=ca_of(tls), token=TOKENS["runner"]) as client:
        outputs = await client.predict("add", {"a": A, "b": B}, timeout=10)
        np.testing.assert_array_equal(outputs["diff"], A - B)
        streamed = [r async for r in client.predict_stream([_add_request()] * 3, timeout=10)]
        assert [isinstance(r, dict) for r in streamed] == [True] * 3
        assert "add" in [m.name for m in await client.list_models(timeout=10)]


def _add_request():
    from clients.request import build_request

    return build_request("add", {"a": A, "b": B})


async def test_the_clients_report_missing_and_insufficient_credentials(tls):
    async with AsyncSwitchyardClient(tls.address, tls=ca_of(tls)) as client:
        error = await refused(client.predict("add", {"a": A, "b": B}, timeout=10))
    assert error.code is grpc.StatusCode.UNAUTHENTICATED and "Bearer" in error.details
    async with AsyncSwitchyardClient(tls.address, tls=ca_of(tls), token=TOKENS["reader"]) as client:
        error = await refused(client.predict("add", {"a": A, "b": B}, timeout=10))
        assert "add" in [m.name for m in await client.list_models(timeout=10)]  # reader may read
    assert error.code is grpc.StatusCode.PERMISSION_DENIED and "'infer'" in error.details


async def test_a_plaintext_client_gets_no_answer_from_the_tls_port(tls):
    async with AsyncSwitchyardClient(tls.address, token=TOKENS["runner"]) as client:
        error = await refused(client.list_models(timeout=10))
    assert error.code is grpc.StatusCode.UNAVAILABLE


async def test_the_video_clients_carry_the_token(tls):
    """`add` takes no pictures, so the stream fails once it is in: after the auth layer let it through."""
    async with AsyncVideoClient(tls.address, tls=ca_of(tls), token=TOKENS["runner"]) as client:
        error = await refused(_drain(client.stream([b"frame"], model="add", timeout=10)))
    assert error.code not in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED), error

    def blocking() -> PredictError:
        with VideoClient(tls.address, tls=ca_of(tls), token=TOKENS["reader"]) as client:
            with pytest.raises(PredictError) as caught:
                list(client.stream([b"frame"], model="add", timeout=10))
        return caught.value

    error = await asyncio.to_thread(blocking)
    assert error.code is grpc.StatusCode.PERMISSION_DENIED and "'infer'" in error.details


async def _drain(results) -> None:
    async for _ in results:
        pass


async def test_a_client_certificate_is_the_clients_identity(mtls):
    camera = mtls.pki.client("camera.example")
    config = TlsConfig(ca=mtls.pki.ca_pem, cert=camera.cert, key=camera.key)
    async with AsyncSwitchyardClient(mtls.address, tls=config) as client:
        outputs = await client.predict("add", {"a": A, "b": B}, timeout=10)
    np.testing.assert_array_equal(outputs["sum"], A + B)
    viewer = mtls.pki.client("viewer.example", cn="viewer")
    outputs_or_error = await asyncio.to_thread(
        _sync_outcome, mtls.address, TlsConfig(ca=mtls.pki.ca_pem, cert=viewer.cert, key=viewer.key)
    )
    assert isinstance(outputs_or_error, PredictError)
    assert outputs_or_error.code is grpc.StatusCode.PERMISSION_DENIED and "'viewer'" in outputs_or_error.details


def _sync_outcome(address: str, tls: TlsConfig) -> dict | PredictError:
    try:
        return sync_predict(address, tls=tls)
    except PredictError as error:
        return error


async def test_bench_load_runs_over_tls_with_a_token(tls):
    inputs = {"a": A, "b": B}
    for mode in ("unary", "stream"):
        result = await run_load(
            tls.address, "add", inputs, concurrency=2, mode=mode, requests=6, seconds=None, timeout=10,
            tls=ca_of(tls), token=TOKENS["runner"],
        )  # fmt: skip
        assert (result.ok, dict(result.errors)) == (6, {}), mode
    anonymous = await run_load(
        tls.address, "add", inputs, concurrency=1, mode="unary", requests=2, seconds=None, timeout=10, tls=ca_of(tls)
    )
    assert dict(anonymous.errors) == {"UNAUTHENTICATED": 2}


# The CLI, as a user runs it ----------------------------------------------------------------


async def cli(*args: str | Path, env: dict[str, str] | None = None):
    """`python -m service ...` in its own process, off the event loop the server runs on."""
    return await asyncio.to_thread(switchyard, *map(str, args), env=env)


async def test_models_with_a_ca_and_a_token(tls):
    done = await cli("models", "-t", tls.address, "--tls-ca", tls.pki.ca_file, "--token", TOKENS["reader"], "--json")
    assert done.returncode == 0, done.stderr
    assert [m["name"] for m in json.loads(done.stdout)] == ["add"]


async def test_the_token_may_come_from_the_environment(tls):
    done = await cli(
        "models", "--json", "--tls-ca", tls.pki.ca_file,
        env={"SWITCHYARD_TARGET": tls.address, "SWITCHYARD_TOKEN": TOKENS["reader"]},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "add" in done.stdout


async def test_predict_with_a_client_certificate(mtls, tmp_path):
    camera = mtls.pki.client("camera.example")
    (tmp_path / "client.pem").write_bytes(camera.cert)
    (tmp_path / "client.key").write_bytes(camera.key)
    np.save(tmp_path / "a.npy", A)
    np.save(tmp_path / "b.npy", B)
    done = await cli(
        "predict", "add", "-t", mtls.address, "-i", f"a={tmp_path / 'a.npy'}", "-i", f"b={tmp_path / 'b.npy'}",
        "--tls-ca", mtls.pki.ca_file, "--tls-cert", tmp_path / "client.pem", "--tls-key", tmp_path / "client.key",
        "--json",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["sum"]["data"] == (A + B).tolist()


def one_error_line(done) -> str:
    assert done.returncode != 0 and done.stdout == "", done.stdout
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    return lines[0]


async def test_no_token_is_one_unauthenticated_line(tls):
    line = one_error_line(await cli("models", "-t", tls.address, "--tls-ca", tls.pki.ca_file))
    assert "UNAUTHENTICATED" in line and tls.address in line and "--token" in line


async def test_a_wrong_token_is_never_shown_even_with_debug(tls):
    wrong = "wrong-3b9e7d-do-not-show"
    line = one_error_line(await cli("models", "-t", tls.address, "--tls-ca", tls.pki.ca_file, "--token", wrong))
    assert "UNAUTHENTICATED" in line and wrong not in line
    debug = await cli(
        "--debug", "models", "-t", tls.address, "--tls-ca", tls.pki.ca_file, env={"SWITCHYARD_TOKEN": wrong}
    )
    assert debug.returncode == 1 and "Traceback" in debug.stderr and "UNAUTHENTICATED" in debug.stderr
    assert wrong not in debug.stderr + debug.stdout


async def test_a_token_without_the_needed_group_is_one_permission_denied_line(tls, tmp_path):
    np.save(tmp_path / "a.npy", A)
    done = await cli(
        "predict", "add", "-t", tls.address, "-i", f"a={tmp_path / 'a.npy'}", "-i", f"b={tmp_path / 'a.npy'}",
        "--tls-ca", tls.pki.ca_file, "--token", TOKENS["reader"],
    )  # fmt: skip
    line = one_error_line(done)
    assert "PERMISSION_DENIED" in line and "'reader'" in line and "'infer'" in line
    assert TOKENS["reader"] not in line


async def test_a_ca_that_did_not_sign_the_server_is_one_handshake_line(tls, tmp_path):
    stranger = Pki(tmp_path)
    line = one_error_line(await cli("models", "-t", tls.address, "--tls-ca", stranger.ca_file))
    assert f"TLS handshake with {tls.address} failed: certificate verify failed" in line
    assert "--tls-ca" in line


async def test_plaintext_to_the_tls_port_suggests_tls(tls):
    line = one_error_line(await cli("models", "-t", tls.address, "--token", TOKENS["reader"]))
    assert tls.address in line and "--tls-ca" in line


async def test_tls_to_a_plaintext_server_says_so(tls):
    health = f"127.0.0.1:{tls.server.health_port}"  # the plaintext health port of the same server
    line = one_error_line(await cli("models", "-t", health, "--tls-ca", tls.pki.ca_file))
    assert f"TLS handshake with {health} failed: wrong version number" in line


# tritonclient, unchanged ------------------------------------------------------------------


async def test_tritonclient_with_a_client_certificate(mtls, tmp_path):
    def files(name: str, dns: str, cn: str | None = None) -> list[str | Path]:
        pems = mtls.pki.client(dns, cn=cn)
        (tmp_path / f"{name}.pem").write_bytes(pems.cert)
        (tmp_path / f"{name}.key").write_bytes(pems.key)
        return ["--cert", tmp_path / f"{name}.pem", "--key", tmp_path / f"{name}.key"]

    common = ["--url", mtls.address, "--ca", mtls.pki.ca_file]
    camera = (await run_client("tritonclient_tls.py", *common, *files("camera", "camera.example"))).json()
    assert camera == {"sync": {"sum": [3.0] * 4}, "aio": {"sum": [3.0] * 4}}
    viewer = (await run_client("tritonclient_tls.py", *common, *files("viewer", "viewer.example", "viewer"))).json()
    for report in viewer.values():
        assert report["status"] == "PERMISSION_DENIED" and "'infer'" in report["message"]


async def test_tritonclient_with_a_bearer_header_sync_and_asyncio(tls):
    common = ["--url", tls.address, "--ca", tls.pki.ca_file]
    runner = (await run_client("tritonclient_tls.py", *common, "--token", TOKENS["runner"])).json()
    assert runner == {"sync": {"sum": [3.0] * 4}, "aio": {"sum": [3.0] * 4}}
    anonymous = (await run_client("tritonclient_tls.py", *common)).json()
    assert {report["status"] for report in anonymous.values()} == {"UNAUTHENTICATED"}
