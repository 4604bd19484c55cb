"""The response cache's chart values reach the server's environment, the password via a Secret."""

from __future__ import annotations

import pytest

from tests.helm.chart import Rendered, load_manifests, run_helm, template_args

pytestmark = pytest.mark.helm


def server_env(helm, *sets: str) -> list[dict]:
    args = [item for s in sets for item in ("--set", s)]
    proc = run_helm(helm, *template_args(*args))
    assert proc.returncode == 0, proc.stderr
    deployments = Rendered("cache", proc.stdout, load_manifests(proc.stdout)).deployments()
    (container,) = [c for c in deployments["cpu"]["spec"]["template"]["spec"]["containers"] if c["name"] == "server"]
    return container["env"]


def test_cache_off_by_default_sets_nothing(helm):
    names = {e["name"] for e in server_env(helm)}
    assert not {"SWITCHYARD_CACHE_BYTES", "SWITCHYARD_CACHE_REDIS", "SWITCHYARD_CACHE_REDIS_PASSWORD"} & names


def test_bytes_url_and_password_secret_reach_the_server(helm):
    env = server_env(
        helm,
        "cache.bytes=268435456",
        "cache.redis.url=rediss://redis.ml.svc:6380/0",
        "cache.redis.existingSecret=redis-auth",
    )
    values = {e["name"]: e for e in env}
    assert values["SWITCHYARD_CACHE_BYTES"]["value"] == "268435456"
    assert values["SWITCHYARD_CACHE_REDIS"]["value"] == "rediss://redis.ml.svc:6380/0"
    password = values["SWITCHYARD_CACHE_REDIS_PASSWORD"]
    assert "value" not in password
    assert password["valueFrom"]["secretKeyRef"] == {"name": "redis-auth", "key": "password"}


def test_schema_refuses_a_url_that_is_not_redis(helm):
    proc = run_helm(helm, *template_args("--set", "cache.redis.url=http://redis:6379"))
    assert proc.returncode != 0 and "cache" in proc.stderr
