"""Settings that cannot be served are one line at start-up; the exposure line says what is open."""

from __future__ import annotations

import logging

import pytest

from service.cli.errors import CliError
from service.cli.serve import check_before_loading
from service.security.startup import SecurityError, ServerSecurity, is_loopback
from service.settings import ServerSettings
from tests.fixtures.tls import Pki, sha256_hex


@pytest.fixture
def pki(tmp_path) -> Pki:
    return Pki(tmp_path / "pki")


def settings(**values) -> ServerSettings:
    return ServerSettings(**{"host": "0.0.0.0", "metrics_port": -1, **values})


def auth_file(tmp_path, groups: str, extra: str = ""):
    path = tmp_path / "auth.yaml"
    path.write_text(f"tokens:\n  - {{name: op, sha256: {sha256_hex('t')}, groups: {groups}}}\n{extra}")
    return path


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost", "LOCALHOST"])
def test_loopback_hosts(host):
    assert is_loopback(host)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.0.0.1", "example.com", ""])
def test_other_hosts_are_not_loopback(host):
    assert not is_loopback(host)


def test_admin_rpcs_open_to_the_network_are_refused():
    with pytest.raises(SecurityError, match="--allow-repository-admin on 0.0.0.0"):
        ServerSecurity.from_settings(settings(allow_repository_admin=True))


def test_admin_rpcs_on_loopback_need_no_auth():
    assert ServerSecurity.from_settings(settings(host="127.0.0.1", allow_repository_admin=True)).authenticator is None


def test_admin_rpcs_off_loopback_need_an_identity_with_the_admin_group(tmp_path):
    refused = auth_file(tmp_path, "[metadata]", "anonymous: [admin]\n")  # anonymous admin is no one's admin
    with pytest.raises(SecurityError, match="admin group"):
        ServerSecurity.from_settings(settings(allow_repository_admin=True, auth_config=refused))
    granted = auth_file(tmp_path, "[admin]")
    assert ServerSecurity.from_settings(settings(allow_repository_admin=True, auth_config=granted)).authenticator


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ({"tls_cert": "c"}, "--tls-cert and --tls-key go together"),
        ({"tls_key": "k"}, "--tls-cert and --tls-key go together"),
        ({"tls_client_ca": "ca"}, "--tls-client-ca needs --tls-cert"),
        ({"metrics_tls": True}, "--metrics-tls serves the --tls-cert"),
    ],
)
def test_settings_that_only_work_together(given, expected):
    with pytest.raises(SecurityError, match=expected):
        ServerSecurity.from_settings(settings(**given))


def test_a_metrics_token_in_place_of_its_digest_is_refused_without_repeating_it():
    with pytest.raises(SecurityError) as caught:
        ServerSecurity.from_settings(settings(metrics_token_sha256="my-metrics-token"))
    assert "64 hex digits" in str(caught.value) and "my-metrics-token" not in str(caught.value)


def test_a_bad_certificate_file_is_one_line_naming_it(pki, tmp_path):
    files = pki.server()
    with pytest.raises(SecurityError, match=r"nothing\.pem: no such file"):
        ServerSecurity.from_settings(settings(tls_cert=tmp_path / "nothing.pem", tls_key=files.key))


def test_clients_without_a_client_ca_are_refused(pki, tmp_path):
    files = pki.server()
    config = tmp_path / "auth.yaml"
    config.write_text("clients:\n  - {name: cam, subject: {dns: cam.example}, groups: [infer]}\n")
    with pytest.raises(SecurityError, match="without --tls-client-ca"):
        ServerSecurity.from_settings(settings(tls_cert=files.cert, tls_key=files.key, auth_config=config))


def exposure(**values) -> tuple[int, str]:
    given = settings(**values)
    return ServerSecurity.from_settings(given).exposure(given)


def test_an_open_server_warns_what_is_open():
    level, line = exposure(host="127.0.0.1", allow_repository_admin=True)
    assert level == logging.WARNING
    assert "plaintext" in line and "every RPC" in line and "unloading models" in line


def test_tokens_over_plaintext_warn(tmp_path):
    level, line = exposure(auth_config=auth_file(tmp_path, "[infer]"))
    assert level == logging.WARNING and "plaintext" in line


def test_tls_with_an_auth_config_is_reported_quietly(pki, tmp_path):
    files = pki.server()
    level, line = exposure(tls_cert=files.cert, tls_key=files.key, auth_config=auth_file(tmp_path, "[infer]"))
    assert level == logging.INFO
    assert "TLS" in line and "1 token(s)" in line and "anonymous callers may use nothing" in line


def test_tls_without_an_auth_config_still_warns(pki):
    files = pki.server()
    level, line = exposure(tls_cert=files.cert, tls_key=files.key)
    assert level == logging.WARNING and "every client may call every RPC" in line


def test_serve_reports_a_mismatched_key_in_one_line_before_loading(pki, tmp_path):
    first = pki.server()
    other = Pki(tmp_path / "other").server()
    with pytest.raises(CliError) as caught:
        check_before_loading(settings(model_repository=tmp_path, port=0, tls_cert=first.cert, tls_key=other.key))
    assert caught.value.message == f"TLS key {other.key} does not match the certificate {first.cert}"
