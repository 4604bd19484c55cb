"""The REST port in the chart: container port and env, the Services, the NetworkPolicy, the Ingress."""

from __future__ import annotations

import pytest

from tests.helm.chart import load_manifests, run_helm, template_args
from tests.helm.test_render import FULLNAME, env_of, server

pytestmark = pytest.mark.helm


def http_ports(ports: list[dict]) -> list[dict]:
    return [p for p in ports if p["name"] == "http"]


def test_every_pool_serves_rest_on_8000_by_default(render_set):
    rendered = render_set("all-pools")
    for pool, dep in rendered.deployments().items():
        container = server(dep)
        assert http_ports(container["ports"]) == [{"name": "http", "containerPort": 8000, "protocol": "TCP"}], pool
        assert env_of(container)["SWITCHYARD_HTTP_PORT"] == "8000"
    for svc in rendered.of_kind("Service"):
        (port,) = http_ports(svc["spec"]["ports"])
        assert port == {"name": "http", "port": 8000, "targetPort": "http", "protocol": "TCP", "appProtocol": "http"}


def test_rest_speaks_https_with_tls(render_set):
    for svc in render_set("tls-secret").of_kind("Service"):
        assert http_ports(svc["spec"]["ports"])[0]["appProtocol"] == "https"


def test_network_policy_lets_the_named_peers_reach_rest(render_set):
    (np,) = render_set("networkpolicy").of_kind("NetworkPolicy")
    (rule,) = [r for r in np["spec"]["ingress"] if r["ports"][0]["port"] == "http"]
    assert "from" not in rule  # httpFrom empty: anyone, as grpcFrom empty is


def test_ingress_routes_v2_to_the_main_service_rest_port(render_set):
    rendered = render_set("ingress")
    (ingress,) = rendered.of_kind("Ingress")
    spec = ingress["spec"]
    assert spec["ingressClassName"] == "nginx" and spec["tls"][0]["secretName"] == "infer-tls"
    (rule,) = spec["rules"]
    assert rule["host"] == "infer.example.com"
    (path,) = rule["http"]["paths"]
    assert path["path"] == "/v2" and path["pathType"] == "Prefix"
    assert path["backend"]["service"] == {"name": FULLNAME, "port": {"name": "http"}}
    assert ingress["metadata"]["annotations"]["nginx.ingress.kubernetes.io/proxy-body-size"] == "64m"
    assert not render_set("cpu-only").of_kind("Ingress")  # off by default


def test_http_port_off_leaves_no_port_and_refuses_an_ingress(helm):
    proc = run_helm(helm, *template_args("--set", "server.httpPort=-1"))
    assert proc.returncode == 0, proc.stderr
    objects = load_manifests(proc.stdout)
    for dep in (o for o in objects if o["kind"] == "Deployment"):
        assert not http_ports(server(dep)["ports"]) and env_of(server(dep))["SWITCHYARD_HTTP_PORT"] == "-1"
    for svc in (o for o in objects if o["kind"] == "Service"):
        assert not http_ports(svc["spec"]["ports"])
    proc = run_helm(helm, *template_args("--set", "server.httpPort=-1", "--set", "ingress.enabled=true"))
    assert proc.returncode != 0 and "ingress.enabled needs the REST port" in proc.stderr
    proc = run_helm(helm, *template_args("--set", "server.httpPort=0"))
    assert proc.returncode != 0 and "httpPort" in proc.stderr  # the schema: 0 would be a random port
