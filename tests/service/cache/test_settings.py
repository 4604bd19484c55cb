"""The cache's server settings: flags and environment, and the Redis password kept secret."""

from __future__ import annotations

from service.settings import ServerSettings
from service.workers import worker_environment


def test_defaults_leave_the_cache_off():
    settings = ServerSettings()
    assert (settings.cache_bytes, settings.cache_redis, settings.cache_lookup_timeout_ms) == (0, None, 5.0)


def test_password_from_the_environment_is_masked_but_reaches_workers(monkeypatch):
    monkeypatch.setenv("SWITCHYARD_CACHE_REDIS_PASSWORD", "s3cret")
    settings = ServerSettings(cache_redis="rediss://redis:6380/0")
    assert "s3cret" not in repr(settings)
    env = worker_environment(settings, 0)
    assert env["SWITCHYARD_CACHE_REDIS_PASSWORD"] == "s3cret"
    assert env["SWITCHYARD_CACHE_REDIS"] == "rediss://redis:6380/0"
