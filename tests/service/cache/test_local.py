"""The in-process tier: LRU within a byte budget, entries expiring by an injected clock."""

from __future__ import annotations

from service.cache.local import ENTRY_OVERHEAD_BYTES, LocalTier


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def entry_size(key: bytes, value: bytes) -> int:
    return len(key) + len(value) + ENTRY_OVERHEAD_BYTES


def test_evicts_least_recently_used_to_stay_within_its_bytes():
    value = b"x" * 100
    tier = LocalTier(max_bytes=3 * entry_size(b"k1", value))
    for name in (b"k1", b"k2", b"k3"):
        tier.put(name, value, None)
    assert tier.get(b"k1") == value  # k1 is now the most recently used
    tier.put(b"k4", value, None)
    assert tier.get(b"k2") is None
    assert [tier.get(k) for k in (b"k1", b"k3", b"k4")] == [value] * 3
    assert tier.evictions == 1
    assert tier.entries == 3
    assert tier.bytes == 3 * entry_size(b"k1", value) <= tier.max_bytes


def test_a_big_entry_evicts_as_many_as_it_needs():
    tier = LocalTier(max_bytes=4 * entry_size(b"k1", b"x" * 10))
    for name in (b"k1", b"k2", b"k3", b"k4"):
        tier.put(name, b"x" * 10, None)
    tier.put(b"big", b"y" * 300, None)  # room for one small entry beside it, not two
    assert tier.evictions == 3
    assert tier.get(b"k4") == b"x" * 10
    assert tier.bytes <= tier.max_bytes


def test_an_entry_larger_than_the_whole_cache_is_not_stored():
    tier = LocalTier(max_bytes=1000)
    tier.put(b"small", b"s", None)
    tier.put(b"huge", b"h" * 2000, None)
    assert tier.get(b"huge") is None
    assert tier.get(b"small") == b"s"
    assert tier.evictions == 0


def test_replacing_a_key_keeps_the_byte_count_exact():
    tier = LocalTier(max_bytes=10_000)
    tier.put(b"k", b"a" * 50, None)
    tier.put(b"k", b"b" * 20, None)
    assert tier.get(b"k") == b"b" * 20
    assert tier.bytes == entry_size(b"k", b"b" * 20)


def test_entries_expire_after_their_ttl():
    clock = Clock()
    tier = LocalTier(max_bytes=10_000, clock=clock)
    tier.put(b"short", b"v", ttl=5)
    tier.put(b"forever", b"w", ttl=None)
    clock.now += 4.999
    assert tier.get(b"short") == b"v"
    clock.now += 0.001
    assert tier.get(b"short") is None
    assert tier.entries == 1 and tier.bytes == entry_size(b"forever", b"w")
    clock.now += 1e6
    assert tier.get(b"forever") == b"w"
