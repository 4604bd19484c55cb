"""The shared tier against a real redis-server: round trip, TTL, outage as misses, fill of local."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from service.cache.local import LocalTier
from service.cache.redis_tier import KEY_PREFIX, RedisTier
from service.cache.tiered import ResponseCache
from tests.fixtures.redis_server import RedisProcess, redis_server


@pytest.fixture
def redis_process() -> Iterator[RedisProcess]:
    with redis_server() as server:
        yield server


async def test_round_trip_with_a_ttl_redis_enforces(redis_process):
    tier = RedisTier(redis_process.url, lookup_timeout=1.0)
    tier.put(b"k", b"value", ttl=0.2)
    tier.put(b"kept", b"other", ttl=None)
    await tier.flush_pending()
    assert await tier.get(b"k") == b"value"
    check = redis_process.client()
    assert 0 < check.pttl(KEY_PREFIX + b"k") <= 200
    assert check.pttl(KEY_PREFIX + b"kept") == -1  # no expiry
    # Redis itself expires the entry: wait for its expiry event, not a guessed sleep.
    events = check.pubsub()
    events.subscribe("__keyevent@0__:expired")
    assert events.get_message(timeout=5)["type"] == "subscribe"
    if check.exists(KEY_PREFIX + b"k"):
        expired = events.get_message(timeout=5)
        assert expired is not None and expired["data"] == KEY_PREFIX + b"k"
    assert check.pttl(KEY_PREFIX + b"k") == -2  # gone
    assert await tier.get(b"k") is None
    assert tier.errors == 0
    await tier.close()


async def test_redis_down_is_a_counted_miss_logged_once_then_recovery_once(redis_process, caplog):
    tier = RedisTier(redis_process.url, lookup_timeout=0.5)
    tier.put(b"k", b"v", None)
    await tier.flush_pending()
    redis_process.stop()
    caplog.set_level(logging.INFO, logger="service.cache.redis_tier")
    for _ in range(3):
        assert await tier.get(b"k") is None
    tier.put(b"k2", b"v2", None)
    await tier.flush_pending()
    assert tier.errors == 4
    assert [r.levelname for r in caplog.records] == ["WARNING"]
    redis_process.start()  # a fresh, empty server on the same port
    tier.put(b"k", b"again", None)
    await tier.flush_pending()
    assert await tier.get(b"k") == b"again"
    assert [r.levelname for r in caplog.records] == ["WARNING", "INFO"]
    await tier.close()


async def test_a_lookup_slower_than_the_timeout_is_a_miss(redis_process):
    tier = RedisTier(redis_process.url, lookup_timeout=0.05)
    tier.put(b"k", b"v", None)
    await tier.flush_pending()
    admin = redis_process.client()
    admin.execute_command("CLIENT", "PAUSE", "300", "ALL")  # every client's commands wait 300 ms
    assert await tier.get(b"k") is None
    assert tier.errors == 1
    assert redis_process.client().ping()  # answered once the pause is over
    assert await tier.get(b"k") == b"v"
    await tier.close()


async def test_a_redis_hit_fills_the_local_tier(redis_process):
    writer = ResponseCache(None, RedisTier(redis_process.url, lookup_timeout=1.0))
    writer.put(b"k", b"answer", None)
    await writer.close()
    reader = ResponseCache(LocalTier(10_000), RedisTier(redis_process.url, lookup_timeout=1.0))
    assert await reader.get("m", b"k", None) == b"answer"
    assert reader.local is not None and reader.local.get(b"k") == b"answer"
    assert await reader.get("m", b"k", None) == b"answer"
    assert reader.stats.hits == {("m", "redis"): 1, ("m", "local"): 1}
    assert await reader.get("m", b"missing", None) is None
    assert reader.stats.misses == {"m": 1}
    await reader.close()
