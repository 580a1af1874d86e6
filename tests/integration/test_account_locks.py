"""The per-account lock against a real Redis: requests of one process on one account take turns
first come first served while the one whose turn it is holds the Redis key; two processes (two
lock objects, two clients) still exclude each other through Redis; other accounts never wait; a
wait that reaches its bound, or a waiter cancelled, lets the others go on and leaves nothing
behind."""

import asyncio
import time
from collections.abc import AsyncIterator
from uuid import UUID, uuid4

import pytest
import redis.asyncio as redis
from prometheus_client import REGISTRY

from processing.adapters.redis.locks import RedisAccountLocks, create_client


@pytest.fixture
async def clients(redis_server: str) -> AsyncIterator[list[redis.Redis]]:
    opened = [create_client(redis_server) for _ in range(2)]
    yield opened
    for client in opened:
        await client.aclose()


def lock_key(account: UUID) -> str:
    return f"bonus:lock:account:{account}"


def timeouts() -> float:
    return REGISTRY.get_sample_value("bonus_lock_timeouts_total") or 0.0


class Tally:
    """Who is inside the lock now, the most that ever were at once, and the order they came."""

    def __init__(self) -> None:
        self.inside = 0
        self.most = 0
        self.order: list[int] = []

    async def visit(
        self,
        locks: RedisAccountLocks,
        account: UUID,
        number: int,
        stay: float = 0.002,
        until: asyncio.Event | None = None,
    ) -> None:
        """Goes inside, and stays ``stay`` seconds, or until ``until`` is set when given."""
        async with locks.around(account):
            self.inside += 1
            self.most = max(self.most, self.inside)
            self.order.append(number)
            await (until.wait() if until is not None else asyncio.sleep(stay))
            self.inside -= 1

    async def entered(self, number: int) -> None:
        deadline = time.monotonic() + 10
        while number not in self.order:
            assert time.monotonic() < deadline, f"visitor {number} never got inside"
            await asyncio.sleep(0.005)


async def test_requests_of_one_process_take_turns_in_arrival_order(
    clients: list[redis.Redis],
) -> None:
    locks = RedisAccountLocks(clients[0])
    account = uuid4()
    tally = Tally()
    started = timeouts()

    await asyncio.gather(*(tally.visit(locks, account, number) for number in range(40)))

    assert tally.most == 1
    assert tally.order == list(range(40))
    assert timeouts() == started
    assert locks.accounts_in_use == 0
    assert await clients[1].exists(lock_key(account)) == 0


async def test_the_request_whose_turn_it_is_holds_the_redis_key(
    clients: list[redis.Redis],
) -> None:
    locks = RedisAccountLocks(clients[0])
    account = uuid4()
    async with locks.around(account):
        assert locks.accounts_in_use == 1
        assert 0 < await clients[1].pttl(lock_key(account)) <= locks.ttl_ms
    assert await clients[1].exists(lock_key(account)) == 0


async def test_two_processes_exclude_each_other_through_redis(
    clients: list[redis.Redis],
) -> None:
    first, second = RedisAccountLocks(clients[0]), RedisAccountLocks(clients[1])
    account = uuid4()
    tally = Tally()
    started = timeouts()

    await asyncio.gather(
        *(tally.visit((first, second)[number % 2], account, number) for number in range(30))
    )

    assert tally.most == 1
    assert sorted(tally.order) == list(range(30))
    assert timeouts() == started


async def test_another_account_does_not_wait(clients: list[redis.Redis]) -> None:
    locks = RedisAccountLocks(clients[0])
    busy, free = uuid4(), uuid4()
    gave_up = timeouts()
    async with locks.around(busy), locks.around(free):
        assert locks.accounts_in_use == 2
        # It holds the free account's own Redis lock: it never waited for the busy one.
        assert await clients[1].exists(lock_key(free)) == 1
    assert timeouts() == gave_up


async def test_a_wait_that_reaches_its_bound_goes_on_without_the_lock(
    clients: list[redis.Redis],
) -> None:
    locks = RedisAccountLocks(clients[0], wait_ms_max=50)
    account = uuid4()
    tally = Tally()
    started = timeouts()

    release = asyncio.Event()
    holder = asyncio.create_task(tally.visit(locks, account, 0, until=release))
    await tally.entered(0)
    await tally.visit(locks, account, 1)

    assert tally.order == [0, 1]
    assert tally.most == 2  # the second went in while the first was still inside
    assert timeouts() == started + 1
    release.set()
    await holder
    assert locks.accounts_in_use == 0
    assert await clients[1].exists(lock_key(account)) == 0


async def test_a_cancelled_waiter_leaves_the_queue(clients: list[redis.Redis]) -> None:
    locks = RedisAccountLocks(clients[0])
    account = uuid4()
    tally = Tally()

    release = asyncio.Event()
    holder = asyncio.create_task(tally.visit(locks, account, 0, until=release))
    await tally.entered(0)
    cancelled = asyncio.create_task(tally.visit(locks, account, 1))
    after = asyncio.create_task(tally.visit(locks, account, 2))
    await asyncio.sleep(0.01)  # both get in line (no clock involved: the holder stays)
    cancelled.cancel()
    release.set()
    await asyncio.gather(holder, after)

    assert cancelled.cancelled()
    assert tally.order == [0, 2]
    assert tally.most == 1
    assert locks.accounts_in_use == 0
    assert await clients[1].exists(lock_key(account)) == 0
