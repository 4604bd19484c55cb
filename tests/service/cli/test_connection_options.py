"""The connection options every client command shares (service/cli/options.py), and the one
line a TLS or credentials failure becomes (service/cli/errors.py), without a server."""

from __future__ import annotations

import grpc
import pytest
from typer.core import TyperGroup
from typer.main import get_command

from clients.errors import PredictError
from service.cli.app import app
from service.cli.errors import explain, invocation
from tests.service.cli.conftest import switchyard

CONNECTION_FLAGS = {"--target", "--tls", "--tls-ca", "--tls-cert", "--tls-key", "--tls-server-name", "--token"}
CLIENT_COMMANDS = ("models", "predict", "bench", "stream")


@pytest.fixture
def target():
    invocation.target = "db:8001"
    yield invocation.target
    invocation.target, invocation.secrets = None, ()


@pytest.mark.parametrize("command", CLIENT_COMMANDS)
def test_every_client_command_takes_the_connection_options(command):
    group = get_command(app)
    assert isinstance(group, TyperGroup)
    options = {flag for param in group.commands[command].params for flag in param.opts}
    assert CONNECTION_FLAGS <= options


def test_help_names_the_token_variable_but_never_its_value():
    shown = switchyard("models", "--help", env={"SWITCHYARD_TOKEN": "help-5e1a-do-not-show"})
    assert shown.returncode == 0 and "SWITCHYARD_TOKEN" in shown.stdout
    assert "help-5e1a-do-not-show" not in shown.stdout + shown.stderr


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--tls-cert", "{pem}"], ["--tls-cert", "--tls-key as well"]),
        (["--tls-key", "{pem}"], ["--tls-key", "--tls-cert as well"]),
        (["--tls-ca", "{missing}"], ["--tls-ca", "does not exist"]),
        (["--token", "two words"], ["--token / SWITCHYARD_TOKEN", "not shown"]),
    ],
)
def test_option_mistakes_are_one_line_before_any_connection(tmp_path, args, words):
    (tmp_path / "x.pem").write_text("not used\n")
    values = [a.format(pem=tmp_path / "x.pem", missing=tmp_path / "missing.pem") for a in args]
    done = switchyard("models", "-t", "127.0.0.1:1", *values)
    assert done.returncode == 2 and done.stdout == "", done.stdout
    (line,) = done.stderr.splitlines()
    assert all(word in line for word in words), line
    assert "two words" not in line


FAILED = "failed to connect to all addresses; last error: UNKNOWN: ipv4:10.0.0.1:8001: "
SSL = "Tls handshake failed (TSI_PROTOCOL_FAILURE): SSL_ERROR_SSL: error:1000007d:SSL routines:OPENSSL_internal:"


@pytest.mark.parametrize(
    ("details", "line"),
    [
        (
            f"{FAILED}{SSL}CERTIFICATE_VERIFY_FAILED: unable to get local issuer certificate: OK",
            "TLS handshake with db:8001 failed: certificate verify failed: unable to get local issuer certificate "
            "(is --tls-ca the CA that signed the server's certificate?)",
        ),
        (
            f"{FAILED}{SSL}CERTIFICATE_VERIFY_FAILED: certificate has expired: OK",
            "TLS handshake with db:8001 failed: certificate verify failed: certificate has expired "
            "(the server's certificate needs renewing, or this machine's clock is wrong)",
        ),
        (
            f"{FAILED}{SSL.replace('1000007d', '100000f7')}WRONG_VERSION_NUMBER: Invalid certificate verification "
            "context: OK",
            "TLS handshake with db:8001 failed: wrong version number (the server may not use TLS: leave out the --tls",
        ),
        (
            f"{FAILED}Custom verification check failed with error: UNAUTHENTICATED: Hostname Verification Check "
            "failed.",
            "the server's certificate does not carry the name dialled (pass a name it carries with --tls-server-name)",
        ),
        (f"{FAILED}Failed to create security handshaker.", "the client key does not match --tls-cert"),
        (f"{FAILED.replace('UNKNOWN', 'UNAVAILABLE')}Socket closed", "it may need TLS (--tls-ca) or a client"),
    ],
)
def test_a_failed_handshake_is_one_line_that_says_why(target, details, line):
    message, code = explain(PredictError(grpc.StatusCode.UNAVAILABLE, details))
    assert line in message and code == 1
    assert message.startswith(("TLS ", "the server at db:8001"))


def test_an_unreachable_server_is_still_unreachable_not_a_tls_failure(target):
    refused = f"{FAILED}Failed to connect to remote host: Connection refused"
    assert explain(PredictError(grpc.StatusCode.UNAVAILABLE, refused))[0] == (
        "cannot reach the server at db:8001 (connection refused)"
    )


def test_unauthenticated_suggests_a_token_only_when_none_was_given(target):
    error = PredictError(grpc.StatusCode.UNAUTHENTICATED, "this server needs credentials")
    assert explain(error)[0] == (
        "UNAUTHENTICATED from db:8001: this server needs credentials; pass --token TOKEN or set SWITCHYARD_TOKEN"
    )
    invocation.secrets = ("s3cr3t",)
    assert explain(error)[0] == "UNAUTHENTICATED from db:8001: this server needs credentials"


def test_permission_denied_keeps_the_servers_words(target):
    details = "'reader' may not call /switchyard.v1.Predict/Predict: it needs the 'infer' group"
    message, _ = explain(PredictError(grpc.StatusCode.PERMISSION_DENIED, details))
    assert message.startswith(f"PERMISSION_DENIED from db:8001: {details}")


def test_a_secret_is_redacted_wherever_it_would_appear(target):
    invocation.secrets = ("s3cr3t-token",)
    assert invocation.redact("Bearer s3cr3t-token was refused; s3cr3t-token") == "Bearer <token> was refused; <token>"
