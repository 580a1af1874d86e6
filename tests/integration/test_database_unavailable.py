"""When Postgres goes away, a till gets an answer it can act on, and the ledger stays exact.

A connection cut in the middle of a write (Postgres terminating the backend, as a restart or a
failover does) is retried once on a fresh connection inside the server: the till sees 201 and
the hold exists once. A database that cannot be reached at all answers 503
``service_unavailable`` with Retry-After, for reads and writes, instead of a 500.
"""

import asyncio
import time
from collections.abc import AsyncIterator
from urllib.parse import urlsplit
from uuid import uuid4

import asyncpg
import httpx
import pytest
import redis.asyncio as redis

from api.app import create_app
from processing.runtime import Runtime
from processing.service.admin import secret_hash
from processing.service.records import Actor
from processing.settings import Settings
from tests import servers
from tests.conftest import Api
from tests.invariants import assert_ledger_clean


async def backend_waiting_on_a_lock(watcher: asyncpg.Connection, database: str) -> int:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        pid = await watcher.fetchval(
            "select pid from pg_stat_activity where application_name = 'bonus-processing'"
            " and datname = $1 and wait_event_type = 'Lock'",
            database,
        )
        if pid is not None:
            return int(pid)
        await asyncio.sleep(0.02)
    raise AssertionError("the hold never waited on the account's row lock")


async def test_a_write_whose_connection_is_cut_is_retried_once_and_applies_once(
    api: Api, database_url: str
) -> None:
    customer = await api.customer(points=50)
    database = urlsplit(database_url).path.lstrip("/")
    watcher = await asyncpg.connect(database_url)
    blocker = await asyncpg.connect(database_url)
    try:
        blocking = blocker.transaction()
        await blocking.start()
        await blocker.execute("select 1 from accounts where id = $1::uuid for update", customer)
        hold = asyncio.create_task(api.reserve(customer, 20))
        pid = await backend_waiting_on_a_lock(watcher, database)

        # What a restart does to a connection in use: Postgres ends it mid-transaction.
        assert await watcher.fetchval("select pg_terminate_backend($1)", pid)
        await blocking.rollback()
        answer = await hold
    finally:
        await blocker.close()
        await watcher.close()

    assert answer.status_code == 201, answer.text
    holds = await api.runtime.pool.fetchval(
        "select count(*) from holds where account_id = $1::uuid", customer
    )
    assert holds == 1
    balance = await api.balance(customer)
    assert (balance["available"], balance["reserved"]) == (30, 20)
    await assert_ledger_clean(api.runtime)


cached_key = "bk_cached-before-the-database-went-away"


@pytest.fixture
async def unreachable_api(
    settings: Settings, redis_server: str
) -> AsyncIterator[httpx.AsyncClient]:
    """The app over a real asyncpg pool whose server is gone: nothing listens on its port. The
    till's key is in the key cache (as it is for a till that was just working), so each call
    gets past authentication and fails where it reaches Postgres."""
    dead = f"postgresql://postgres@127.0.0.1:{servers.free_port()}/bonus"
    pool = await asyncpg.create_pool(dead, min_size=0, max_size=2)
    runtime = Runtime(settings, pool, redis.Redis.from_url(redis_server))
    till = Actor(key_id=uuid4(), program_id=uuid4(), scopes=frozenset({"pos"}), store_id=None)
    runtime.admin.keys.put(secret_hash(cached_key), till)
    transport = httpx.ASGITransport(app=create_app(settings, runtime))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client
    finally:
        await runtime.close()


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/v1/customers/00000000-0000-0000-0000-000000000001/balance", None),
        (
            "POST",
            "/v1/customers/00000000-0000-0000-0000-000000000001/holds",
            {"points": 5, "document": {"id": "r-1"}},
        ),
    ],
    ids=["read", "write"],
)
async def test_an_unreachable_database_answers_503_with_retry_after(
    unreachable_api: httpx.AsyncClient, method: str, path: str, body: object
) -> None:
    # The key is known without Postgres: an operator call is refused on its scope, not 503.
    scoped = await unreachable_api.get(
        "/v1/programs/00000000-0000-0000-0000-000000000001/rules",
        headers={"Authorization": f"Bearer {cached_key}"},
    )
    assert (scoped.status_code, scoped.json()["code"]) == (403, "forbidden_scope")

    answer = await unreachable_api.request(
        method,
        path,
        json=body,
        headers={"Authorization": f"Bearer {cached_key}", "Idempotency-Key": "k-1"},
    )
    assert answer.status_code == 503, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.headers["retry-after"] == "1"
    assert answer.json()["code"] == "service_unavailable"


async def test_a_key_that_cannot_be_checked_answers_503_not_401(
    unreachable_api: httpx.AsyncClient,
) -> None:
    """A key not in the cache needs Postgres to be checked: the till is told to retry, never
    that its key is wrong."""
    answer = await unreachable_api.get(
        "/v1/customers/00000000-0000-0000-0000-000000000001/balance",
        headers={"Authorization": "Bearer bk_not-in-the-cache"},
    )
    assert answer.status_code == 503, answer.text
    assert answer.json()["code"] == "service_unavailable"
