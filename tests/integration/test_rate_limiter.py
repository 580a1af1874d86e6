"""The token bucket partners' calls are paced by, against a real Redis: racing takers (in one
process or several clients, as several workers are) never get more than the burst, the bucket
refills at its rate, and a Redis that is away lets calls through (the partner's own limit
answer then defers them). Time is passed in where the answer depends on it, so a slow machine
cannot move a refill into or out of a test's window; one test runs on Redis's own clock."""

import asyncio
import time
from collections.abc import AsyncIterator
from uuid import uuid4

import pytest

from processing.adapters.redis.locks import create_client
from processing.adapters.redis.rate import RedisRateLimiter
from tests.servers import free_port

start_ms = 1_000_000_000
# These tests are about what racing takers get, not about a slow Redis (the last test is): a
# loaded machine must not turn a slow answer into the fail-open path.
patient_timeout_ms = 5_000


@pytest.fixture
async def clients(redis_server: str) -> AsyncIterator[list[RedisRateLimiter]]:
    opened = [create_client(redis_server, patient_timeout_ms) for _ in range(3)]
    yield [RedisRateLimiter(client) for client in opened]
    for client in opened:
        await client.aclose()


async def test_racing_takers_across_clients_get_exactly_the_burst(
    clients: list[RedisRateLimiter],
) -> None:
    key = f"test:{uuid4()}"
    waits = await asyncio.gather(*(
        clients[i % 3].acquire(key, rate=1, burst=5, now_ms=start_ms) for i in range(30)
    ))  # fmt: skip
    assert sorted(waits) == [0] * 5 + [1.0] * 25  # the next token is a second away


async def test_the_bucket_refills_at_its_rate(clients: list[RedisRateLimiter]) -> None:
    key = f"test:{uuid4()}"
    first, second = clients[0], clients[1]

    async def take(limiter: RedisRateLimiter, at_ms: int) -> float:
        return await limiter.acquire(key, rate=4, burst=2, now_ms=start_ms + at_ms)

    assert [await take(first, 0) for _ in range(3)] == [0, 0, 0.25]
    assert await take(second, 100) == 0.15  # 0.4 of a token by now
    assert await take(second, 250) == 0  # a token every 250 ms
    # 600 ms later there would be 2.4 tokens, but the bucket holds at most the burst of 2.
    assert [await take(second, 850) for _ in range(3)] == [0, 0, 0.25]


async def test_on_redis_own_clock_a_token_comes_back_and_an_empty_bucket_waits(
    clients: list[RedisRateLimiter],
) -> None:
    slow, fast = f"test:{uuid4()}", f"test:{uuid4()}"
    # One token per thousand seconds: no test run is slow enough to see it refill.
    assert await clients[0].acquire(slow, rate=0.001, burst=1) == 0
    assert await clients[1].acquire(slow, rate=0.001, burst=1) > 900
    assert await clients[0].acquire(fast, rate=100, burst=1) == 0
    deadline = time.monotonic() + 10
    while (wait := await clients[1].acquire(fast, rate=100, burst=1)) > 0:
        assert wait <= 0.01  # a token every 10 ms
        assert time.monotonic() < deadline, "the bucket never refilled"
        await asyncio.sleep(wait)


async def test_a_redis_that_is_away_lets_calls_through() -> None:
    client = create_client(f"redis://127.0.0.1:{free_port()}/0")
    try:
        limiter = RedisRateLimiter(client)
        waits = [await limiter.acquire("test:away", rate=1, burst=1) for _ in range(3)]
        assert waits == [0, 0, 0]
    finally:
        await client.aclose()
