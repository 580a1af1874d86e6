"""The token bucket partners' calls are paced by, against a real Redis: racing takers (in one
process or several clients, as several workers are) never get more than the burst, the bucket
refills at its rate on Redis's clock, and a Redis that is away lets calls through (the partner's
own limit answer then defers them)."""

import asyncio
from collections.abc import AsyncIterator
from uuid import uuid4

import pytest

from processing.adapters.redis.locks import create_client
from processing.adapters.redis.rate import RedisRateLimiter
from tests.servers import free_port


@pytest.fixture
async def clients(redis_server: str) -> AsyncIterator[list[RedisRateLimiter]]:
    opened = [create_client(redis_server) for _ in range(3)]
    yield [RedisRateLimiter(client) for client in opened]
    for client in opened:
        await client.aclose()


async def test_racing_takers_across_clients_get_exactly_the_burst(
    clients: list[RedisRateLimiter],
) -> None:
    key = f"test:{uuid4()}"
    waits = await asyncio.gather(*(clients[i % 3].acquire(key, rate=1, burst=5) for i in range(30)))
    assert sum(1 for wait in waits if wait == 0) == 5
    refused = [wait for wait in waits if wait > 0]
    assert len(refused) == 25
    assert all(0 < wait <= 1.0 for wait in refused)  # a token is at most a second away


async def test_the_bucket_refills_at_its_rate(clients: list[RedisRateLimiter]) -> None:
    key = f"test:{uuid4()}"
    first, second = clients[0], clients[1]
    assert [await first.acquire(key, rate=4, burst=2) for _ in range(3)][:2] == [0, 0]
    await asyncio.sleep(0.6)  # 2.4 tokens at 4 a second, capped at the burst of 2
    waits = [await second.acquire(key, rate=4, burst=2) for _ in range(3)]
    assert waits[:2] == [0, 0]
    assert waits[2] > 0


async def test_a_redis_that_is_away_lets_calls_through() -> None:
    client = create_client(f"redis://127.0.0.1:{free_port()}/0")
    try:
        limiter = RedisRateLimiter(client)
        waits = [await limiter.acquire("test:away", rate=1, burst=1) for _ in range(3)]
        assert waits == [0, 0, 0]
    finally:
        await client.aclose()
