"""The API-key cache: a hit skips the database, an entry lives a bounded time, revocation
through this process drops it at once, and the cache cannot grow without bound; unknown keys
are remembered briefly, and failures per address drain a bucket that refills in time."""

from uuid import uuid4

from processing.service.admin import KeyCache, UnknownKeys
from processing.service.records import Actor
from processing.service.throttles import FailureThrottle


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def actor() -> Actor:
    return Actor(key_id=uuid4(), program_id=uuid4(), scopes=frozenset({"pos"}), store_id=None)


def test_an_entry_lives_for_the_configured_seconds_only() -> None:
    clock = Clock()
    cache = KeyCache(seconds=2, clock=clock)
    cached = actor()
    cache.put(b"digest", cached)
    clock.now += 1.99
    assert cache.get(b"digest") == cached
    clock.now += 0.01
    assert cache.get(b"digest") is None


def test_forgetting_a_key_drops_it_at_once() -> None:
    cache = KeyCache(clock=Clock())
    kept, revoked = actor(), actor()
    cache.put(b"kept", kept)
    cache.put(b"revoked", revoked)
    cache.forget(revoked.key_id)
    assert (cache.get(b"kept"), cache.get(b"revoked")) == (kept, None)
    cache.forget()
    assert cache.get(b"kept") is None


def test_the_cache_is_bounded() -> None:
    cache = KeyCache(size_max=3, clock=Clock())
    for index in range(10):
        cache.put(bytes([index]), actor())
    assert len(cache.entries) <= 3


def test_an_unknown_key_is_remembered_for_its_second_and_the_memory_is_bounded() -> None:
    clock = Clock()
    unknown = UnknownKeys(seconds=1, size_max=2, clock=clock)
    unknown.add(b"bad")
    clock.now += 0.99
    assert b"bad" in unknown
    clock.now += 0.01
    assert b"bad" not in unknown
    for digest in (b"a", b"b", b"c"):
        unknown.add(digest)
    assert len(unknown.entries) <= 2


def test_failures_empty_an_addresss_bucket_which_refills_one_token_per_period() -> None:
    clock = Clock()
    throttle = FailureThrottle(burst=3, refill_seconds=3, addresses_max=2, clock=clock)
    for _ in range(3):
        assert throttle.wait_seconds("10.0.0.1") == 0
        throttle.failed("10.0.0.1")
    assert throttle.wait_seconds("10.0.0.1") == 3
    assert throttle.wait_seconds("10.0.0.2") == 0  # another address has its own bucket
    clock.now += 2
    assert throttle.wait_seconds("10.0.0.1") == 1
    clock.now += 1
    assert throttle.wait_seconds("10.0.0.1") == 0
    throttle.failed("10.0.0.2")
    throttle.failed("10.0.0.3")
    assert list(throttle.buckets) == ["10.0.0.2", "10.0.0.3"]  # bounded: the oldest left
