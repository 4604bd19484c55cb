"""The auth config's validation and the identity decision, without a server."""

from __future__ import annotations

import pytest

from service.security.auth import AuthConfig, AuthConfigError, Authenticator, Outcome, load_auth_config
from service.security.groups import Group
from tests.fixtures.tls import sha256_hex

READER_TOKEN = "reader-secret-token-1"
RUNNER_TOKEN = "runner-secret-token-2"
PREDICT = "/switchyard.v1.Predict/Predict"
LIST = "/switchyard.v1.Predict/ListModels"


def authenticator(**extra) -> Authenticator:
    config = {
        "tokens": [
            {"name": "reader", "sha256": sha256_hex(READER_TOKEN), "groups": ["metadata"]},
            {"name": "runner", "sha256": sha256_hex(RUNNER_TOKEN).upper(), "groups": ["infer", "metadata"]},
        ],
        "clients": [
            {"name": "camera", "subject": {"dns": "camera.example"}, "groups": ["infer"]},
            {"name": "ops", "subject": {"cn": "ops-team"}, "groups": ["admin"]},
        ],
        **extra,
    }
    return Authenticator(AuthConfig.model_validate(config))


def no_peer():
    raise AssertionError("the peer certificate was looked at although a token decided")


def bearer(token: str) -> list[tuple[str, str]]:
    return [("authorization", f"Bearer {token}")]


def test_a_valid_token_in_its_group_is_allowed_with_its_name():
    decision = authenticator().decide(LIST, Group.METADATA, bearer(READER_TOKEN), no_peer)
    assert decision.outcome is Outcome.ALLOWED
    assert decision.identity is not None and decision.identity.name == "reader"


def test_an_uppercase_digest_in_the_config_matches_and_the_scheme_is_case_insensitive():
    metadata = [("authorization", f"bearer {RUNNER_TOKEN}")]
    assert authenticator().decide(PREDICT, Group.INFER, metadata, no_peer).outcome is Outcome.ALLOWED


def test_a_known_identity_outside_the_group_is_denied_naming_the_group():
    decision = authenticator().decide(PREDICT, Group.INFER, bearer(READER_TOKEN), no_peer)
    assert decision.outcome is Outcome.DENIED
    assert "'infer'" in decision.message and "reader" in decision.message
    assert READER_TOKEN not in decision.message


@pytest.mark.parametrize(
    "metadata",
    [[], bearer("not-a-known-token"), [("authorization", f"Basic {READER_TOKEN}")], [("authorization", "Bearer ")]],
    ids=["none", "unknown", "other-scheme", "empty"],
)
def test_no_or_bad_credentials_are_unauthenticated_without_echoing_them(metadata):
    decision = authenticator().decide(LIST, Group.METADATA, metadata, lambda: {})
    assert decision.outcome is Outcome.UNAUTHENTICATED
    assert decision.identity is None
    assert READER_TOKEN not in decision.message and "not-a-known-token" not in decision.message


def test_a_presented_token_decides_even_when_a_certificate_would_match():
    peer = {"peer_dns": [b"camera.example"]}
    decision = authenticator().decide(PREDICT, Group.INFER, bearer("wrong"), lambda: peer)
    assert decision.outcome is Outcome.UNAUTHENTICATED


def test_client_certificates_match_by_dns_name_or_common_name():
    auth = authenticator()
    by_dns = auth.decide(PREDICT, Group.INFER, [], lambda: {"peer_dns": [b"other.example", b"camera.example"]})
    assert by_dns.outcome is Outcome.ALLOWED and by_dns.identity and by_dns.identity.name == "camera"
    by_cn = auth.decide(PREDICT, Group.INFER, [], lambda: {"x509_common_name": [b"ops-team"]})
    assert by_cn.outcome is Outcome.DENIED and "'infer'" in by_cn.message
    unknown = auth.decide(PREDICT, Group.INFER, [], lambda: {"peer_dns": [b"stranger.example"]})
    assert unknown.outcome is Outcome.UNAUTHENTICATED
    assert "client certificate" in unknown.message


def test_anonymous_callers_get_the_anonymous_groups_and_need_credentials_for_the_rest():
    auth = authenticator(anonymous=["metadata"])
    listed = auth.decide(LIST, Group.METADATA, [], lambda: {})
    assert listed.outcome is Outcome.ALLOWED and listed.identity and listed.identity.name == "anonymous"
    predicted = auth.decide(PREDICT, Group.INFER, [], lambda: {})
    assert predicted.outcome is Outcome.UNAUTHENTICATED and "'infer'" in predicted.message


def test_a_method_no_group_holds_is_denied_even_to_an_identity_with_every_group():
    auth = Authenticator(
        AuthConfig.model_validate(
            {"tokens": [{"name": "all", "sha256": sha256_hex("t"), "groups": ["infer", "metadata", "admin"]}]}
        )
    )
    decision = auth.decide("/new.Service/Control", None, bearer("t"), no_peer)
    assert decision.outcome is Outcome.DENIED and "/new.Service/Control" in decision.message


def write(tmp_path, text: str):
    path = tmp_path / "auth.yaml"
    path.write_text(text)
    return path


def test_a_config_file_loads(tmp_path):
    path = write(
        tmp_path,
        f"tokens:\n  - name: ci\n    sha256: {sha256_hex('x')}\n    groups: [infer]\nanonymous: [metadata]\n",
    )
    config = load_auth_config(path)
    assert config.tokens[0].groups == [Group.INFER] and config.anonymous == [Group.METADATA]
    assert not config.grants_admin()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("tokens:\n  - {name: a, sha256: abc, groups: [infer]}\n", "field 'tokens.0.sha256'"),
        (f"tokens:\n  - {{name: a, sha256: {'a' * 64}, groups: [root]}}\n", "field 'tokens.0.groups.0'"),
        (f"tokens:\n  - {{name: a, sha256: {'a' * 64}, groups: [infer], role: x}}\n", "field 'tokens.0.role'"),
        ("clients:\n  - {name: c, subject: {dns: a, cn: b}, groups: [infer]}\n", "field 'clients.0.subject'"),
        ("user: x\n", "field 'user'"),
        ("- a list\n", "expected a mapping"),
        (f"tokens:\n  - {{name: anonymous, sha256: {'a' * 64}, groups: [infer]}}\n", "reserved"),
        (
            f"tokens:\n  - {{name: a, sha256: {'a' * 64}, groups: [infer]}}\n"
            f"  - {{name: a, sha256: {'b' * 64}, groups: [infer]}}\n",
            "repeated: a",
        ),
    ],
    ids=[
        "short-digest",
        "unknown-group",
        "unknown-key",
        "two-subjects",
        "unknown-top",
        "not-mapping",
        "reserved",
        "dup",
    ],
)
def test_config_errors_name_the_file_and_the_field(tmp_path, text, expected):
    path = write(tmp_path, text)
    with pytest.raises(AuthConfigError) as caught:
        load_auth_config(path)
    assert str(path) in str(caught.value)
    assert expected in str(caught.value)


def test_a_token_pasted_in_place_of_its_digest_is_never_repeated(tmp_path):
    secret = "s3cr3t-token-pasted-by-mistake"
    for text in (
        f"tokens:\n  - {{name: a, sha256: {secret}, groups: [infer]}}\n",
        f"tokens:\n  - {{name: a, sha256: {secret}, groups: [infer]\n",  # broken YAML on the token's line
    ):
        with pytest.raises(AuthConfigError) as caught:
            load_auth_config(write(tmp_path, text))
        assert secret not in str(caught.value)
        assert str(tmp_path) in str(caught.value)


def test_a_digest_yaml_reads_as_a_number_asks_for_quotes(tmp_path):
    with pytest.raises(AuthConfigError, match="quote it"):
        load_auth_config(write(tmp_path, f"tokens:\n  - {{name: a, sha256: {'1' * 64}, groups: [infer]}}\n"))


def test_a_missing_config_file_is_one_line_naming_it(tmp_path):
    with pytest.raises(AuthConfigError, match="auth.yaml: cannot read"):
        load_auth_config(tmp_path / "auth.yaml")
