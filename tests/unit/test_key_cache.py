"""The API-key cache: a hit skips the database, an entry lives a bounded time, revocation
through this process drops it at once, and the cache cannot grow without bound."""

from uuid import uuid4

from processing.service.admin import KeyCache
from processing.service.records import Actor


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
