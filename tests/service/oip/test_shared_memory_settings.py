"""Who may use system shared memory: on by default only on loopback; elsewhere only with an admin identity."""

from __future__ import annotations

import pytest

from service.security.startup import SecurityError, ServerSecurity, shared_memory_on
from tests.service.security.test_startup import auth_file, settings


@pytest.mark.parametrize(
    ("host", "mode", "on"),
    [
        ("127.0.0.1", "auto", True),
        ("::1", "auto", True),
        ("0.0.0.0", "auto", False),  # clients elsewhere have no memory to share with this host
        ("0.0.0.0", "system", True),
        ("127.0.0.1", "off", False),
    ],
)
def test_auto_means_loopback(host, mode, on):
    assert shared_memory_on(settings(host=host, shared_memory=mode)) is on


def test_system_off_loopback_is_refused_without_an_admin_identity(tmp_path):
    with pytest.raises(SecurityError, match="--shared-memory system on 0.0.0.0 .* admin group"):
        ServerSecurity.from_settings(settings(shared_memory="system"))
    refused = auth_file(tmp_path, "[infer]", "anonymous: [admin]\n")  # anonymous admin is no one's admin
    with pytest.raises(SecurityError, match="--shared-memory system"):
        ServerSecurity.from_settings(settings(shared_memory="system", auth_config=refused))
    granted = auth_file(tmp_path, "[admin]")
    assert ServerSecurity.from_settings(settings(shared_memory="system", auth_config=granted)).authenticator
    assert ServerSecurity.from_settings(settings(host="127.0.0.1", shared_memory="system")).authenticator is None
