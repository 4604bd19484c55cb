"""The chart's security values: TLS from a Secret or from cert-manager, client certificates,
the auth config, the health port the probes use, /metrics over HTTPS behind a token and the
ServiceMonitor that scrapes it; bad combinations refused by the schema. The rendered settings
are then given to the server's own security layer, with real certificates at those paths."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helm.chart import NAMESPACE, VALUES_DIR, render_notes, run_helm, template_args
from tests.helm.test_render import FULLNAME, env_of, pod_spec, server

pytestmark = pytest.mark.helm

TLS_SETS = ("tls-cert-manager", "tls-secret")
MOUNTS = {"tls": "/etc/switchyard/tls", "client-ca": "/etc/switchyard/client-ca", "auth": "/etc/switchyard/auth"}


def secret_volumes(dep: dict) -> dict[str, dict]:
    return {v["name"]: v["secret"] for v in pod_spec(dep)["volumes"] if "secret" in v}


def mounts(dep: dict) -> dict[str, dict]:
    return {m["name"]: m for m in server(dep)["volumeMounts"]}


@pytest.mark.parametrize("name", TLS_SETS)
def test_the_server_reads_its_certificate_and_auth_config_from_mounted_secrets(render_set, name):
    for pool, dep in render_set(name).deployments().items():
        env, secrets, mounted = env_of(server(dep)), secret_volumes(dep), mounts(dep)
        for volume, path in MOUNTS.items():
            if volume not in secrets:
                continue
            mount = mounted[volume]
            # A whole volume, never a subPath: only then does a renewed Secret reach the running pod.
            assert mount == {"name": volume, "mountPath": path, "readOnly": True}, pool
            assert secrets[volume]["defaultMode"] == 0o440
        assert env["SWITCHYARD_TLS_CERT"] == f"{MOUNTS['tls']}/tls.crt"
        assert env["SWITCHYARD_TLS_KEY"] == f"{MOUNTS['tls']}/tls.key"
        assert Path(env["SWITCHYARD_AUTH_CONFIG"]).parent == Path(MOUNTS["auth"])


def test_a_given_secret_is_served_as_is_and_no_certificate_is_made(render_set):
    rendered = render_set("tls-secret")
    assert not rendered.of_kind("Certificate")
    for dep in rendered.deployments().values():
        assert secret_volumes(dep)["tls"]["secretName"] == "switchyard-serving-cert"
        assert secret_volumes(dep)["auth"]["secretName"] == "switchyard-auth"
        env = env_of(server(dep))
        assert env["SWITCHYARD_AUTH_CONFIG"] == "/etc/switchyard/auth/tokens.yaml"
        assert "client-ca" not in secret_volumes(dep) and "SWITCHYARD_TLS_CLIENT_CA" not in env


def test_cert_manager_issues_a_certificate_for_every_service_name(render_set):
    rendered = render_set("tls-cert-manager")
    (certificate,) = rendered.of_kind("Certificate")
    assert certificate["apiVersion"] == "cert-manager.io/v1"
    spec = certificate["spec"]
    assert spec["issuerRef"] == {"name": "internal-ca", "kind": "ClusterIssuer", "group": "cert-manager.io"}
    for dep in rendered.deployments().values():
        assert secret_volumes(dep)["tls"]["secretName"] == spec["secretName"] == f"{FULLNAME}-tls"
    for service in rendered.of_kind("Service"):
        svc = service["metadata"]["name"]
        for name in (svc, f"{svc}.{NAMESPACE}", f"{svc}.{NAMESPACE}.svc", f"{svc}.{NAMESPACE}.svc.cluster.local"):
            assert name in spec["dnsNames"]
    assert "switchyard.example.com" in spec["dnsNames"]
    assert spec["privateKey"]["rotationPolicy"] == "Always" and "server auth" in spec["usages"]


def test_client_certificates_are_checked_against_the_named_ca(render_set):
    for dep in render_set("tls-cert-manager").deployments().values():
        assert secret_volumes(dep)["client-ca"]["secretName"] == "switchyard-tls"
        assert env_of(server(dep))["SWITCHYARD_TLS_CLIENT_CA"] == "/etc/switchyard/client-ca/ca.crt"


@pytest.mark.parametrize("name", TLS_SETS)
def test_probes_check_the_plaintext_health_port_which_no_service_exposes(render_set, name):
    rendered = render_set(name)
    for pool, dep in rendered.deployments().items():
        container = server(dep)
        (health,) = [p for p in container["ports"] if p["name"] == "health"]
        assert health["containerPort"] == 8003 == int(env_of(container)["SWITCHYARD_HEALTH_PORT"])
        for kind in ("startupProbe", "livenessProbe", "readinessProbe"):
            assert container[kind]["grpc"]["port"] == 8003, f"{pool} {kind}"
    for service in rendered.of_kind("Service"):
        assert "health" not in {p["name"] for p in service["spec"]["ports"]}
        (grpc,) = [p for p in service["spec"]["ports"] if p["name"] == "grpc"]
        assert "appProtocol" not in grpc, "kubernetes.io/h2c would tell a Gateway to speak cleartext"


def test_the_service_monitor_scrapes_https_with_the_token(render_set):
    rendered = render_set("tls-cert-manager")
    (monitor,) = rendered.of_kind("ServiceMonitor")
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["scheme"] == "https"
    (certificate,) = rendered.of_kind("Certificate")
    tls = endpoint["tlsConfig"]
    assert tls["ca"] == {"secret": {"name": certificate["spec"]["secretName"], "key": "ca.crt"}}
    assert tls["serverName"] == f"{FULLNAME}.{NAMESPACE}.svc" and tls["serverName"] in certificate["spec"]["dnsNames"]
    token = {"name": "switchyard-metrics-token", "key": "token"}
    assert endpoint["authorization"] == {"type": "Bearer", "credentials": token}
    for dep in rendered.deployments().values():
        container = server(dep)
        (digest,) = [e for e in container["env"] if e["name"] == "SWITCHYARD_METRICS_TOKEN_SHA256"]
        assert digest["valueFrom"]["secretKeyRef"] == {"name": token["name"], "key": "token.sha256"}
        assert env_of(container)["SWITCHYARD_METRICS_TLS"] == "true"
    (main,) = [s for s in rendered.of_kind("Service") if s["metadata"]["name"] == FULLNAME]
    assert {p["name"]: p.get("appProtocol") for p in main["spec"]["ports"]}["metrics"] == "https"


def test_without_tls_nothing_changes(render_set):
    rendered = render_set("servicemonitor")
    (endpoint,) = rendered.of_kind("ServiceMonitor")[0]["spec"]["endpoints"]
    assert endpoint["scheme"] == "http" and "tlsConfig" not in endpoint and "authorization" not in endpoint
    for dep in rendered.deployments().values():
        assert not secret_volumes(dep)
        assert not {k for k in env_of(server(dep)) if "TLS" in k or "AUTH" in k or "HEALTH" in k}


def test_the_rendered_settings_pass_the_servers_security_checks(render_set, tmp_path, monkeypatch):
    """The server refuses bad combinations at start-up (client CA without TLS, admin RPCs off
    loopback without an admin identity...): the chart's env must not be one of them."""
    settings = pytest.importorskip("service.settings")
    startup = pytest.importorskip("service.security.startup")
    trustme = pytest.importorskip("trustme")
    ca = trustme.CA()
    leaf = ca.issue_cert(f"{FULLNAME}.{NAMESPACE}.svc")
    folders = {volume: tmp_path / volume for volume in MOUNTS}
    for folder in folders.values():
        folder.mkdir()
    leaf.private_key_pem.write_to_path(folders["tls"] / "tls.key")
    (folders["tls"] / "tls.crt").write_bytes(b"".join(pem.bytes() for pem in leaf.cert_chain_pems))
    ca.cert_pem.write_to_path(folders["tls"] / "ca.crt")
    ca.cert_pem.write_to_path(folders["client-ca"] / "ca.crt")
    admin = "tokens:\n  - {name: operator, sha256: '" + "ab" * 32 + "', groups: [admin]}\n"
    (folders["auth"] / "auth.yaml").write_text(admin)
    for pool, dep in render_set("tls-cert-manager").deployments().items():
        for entry in server(dep)["env"]:
            value = entry.get("value") or "cd" * 32  # the metrics token digest comes from a Secret
            for volume, path in MOUNTS.items():
                value = value.replace(path, str(folders[volume]))
            if entry["name"].startswith("SWITCHYARD_"):
                monkeypatch.setenv(entry["name"], value)
        parsed = settings.ServerSettings()
        assert parsed.tls_client_ca and parsed.metrics_tls and parsed.health_port == 8003
        assert parsed.allow_repository_admin and parsed.host == "0.0.0.0"
        security = startup.ServerSecurity.from_settings(parsed)
        assert security.certificates is not None and security.authenticator is not None, pool


BAD_COMBINATIONS = [
    pytest.param(["--set", "tls.enabled=true"], "tls.certManager.issuerRef: name is required", id="tls-without-cert"),
    pytest.param(["--set", "tls.clientCA.secretName=cas"], "tls.clientCA.secretName", id="client-ca-without-tls"),
    pytest.param(["--set", "metrics.tls.enabled=true"], "tls.enabled", id="metrics-tls-without-tls"),
    pytest.param(["--set", "server.allowRepositoryAdmin=true"], "auth.existingSecret", id="admin-without-auth"),
    pytest.param(
        ["--set", "tls.certManager.issuerRef.nmae=ca"], "Additional property nmae is not allowed", id="issuer-typo"
    ),
    pytest.param(["--set", "tls.certManager.privateKey.algorithm=DSA"], "privateKey.algorithm", id="key-algorithm"),
    pytest.param(["--set", "auth.existingSecret=Auth_Config"], "auth.existingSecret", id="secret-name"),
    pytest.param(["--set", "metrics.tokenSecret.tokenKey=a/b"], "metrics.tokenSecret.tokenKey", id="secret-key"),
]


@pytest.mark.parametrize("args, message", BAD_COMBINATIONS)
def test_bad_combinations_are_refused_by_the_schema(helm, args, message):
    proc = run_helm(helm, *template_args(*args))
    assert proc.returncode != 0, f"{args} rendered"
    assert "don't meet the specifications of the schema" in proc.stderr and message in proc.stderr, proc.stderr


def test_each_way_of_giving_the_certificate_is_enough(helm):
    for way in (["--set", "tls.secretName=own"], ["--set", "tls.certManager.issuerRef.name=ca"]):
        proc = run_helm(helm, *template_args("--set", "tls.enabled=true", *way))
        assert proc.returncode == 0, proc.stderr


def test_notes_say_how_to_call_the_tls_port(helm, tmp_path):
    notes = render_notes(helm, tmp_path, "-f", str(VALUES_DIR / "tls-cert-manager.yaml"))
    name = f"{FULLNAME}.{NAMESPACE}.svc"
    assert f"grpcurl -cacert ca.crt -authority {name}" in notes
    assert f"--tls-ca ca.crt --tls-server-name {name}" in notes and "-plaintext localhost:8001" not in notes
