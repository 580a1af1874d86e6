"""With Redis stopped, every operation still succeeds through the Postgres path and a metric
counts the degraded requests; when Redis comes back, the locks are used again."""

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator

import httpx
import msgspec
import pytest
from prometheus_client import REGISTRY

from api.app import create_app
from processing.runtime import Runtime
from processing.settings import Settings
from tests.conftest import Api, make_program
from tests.invariants import assert_ledger_clean
from tests.servers import RedisServer


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    with RedisServer() as server:
        yield server


@pytest.fixture
async def fragile_api(settings: Settings, own_redis: RedisServer) -> AsyncIterator[Api]:
    chosen = msgspec.structs.replace(settings, redis_url=own_redis.url)
    runtime = await Runtime.open(chosen)
    transport = httpx.ASGITransport(app=create_app(chosen, runtime))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            harness = Api(client, runtime)
            harness.program_id, harness.admin_key, harness.pos_key = await make_program(runtime)
            yield harness
    finally:
        await runtime.close()


def degraded() -> float:
    total = 0.0
    for reason in ("redis_error", "redis_recently_failed"):
        total += (
            REGISTRY.get_sample_value("bonus_degraded_requests_total", {"reason": reason}) or 0.0
        )
    return total


async def test_operations_succeed_while_redis_is_down(
    fragile_api: Api, own_redis: RedisServer
) -> None:
    api = fragile_api
    customer = await api.customer(points=100)
    assert await api.runtime.redis_ready()
    before = degraded()

    own_redis.stop()
    hold = await api.reserve(customer, 30)
    assert hold.status_code == 201
    commit = await api.post(f"/v1/holds/{hold.json()['id']}/commit", {"points": 20})
    assert commit.status_code == 200
    refund = await api.post(
        f"/v1/operations/{commit.json()['id']}/refunds", {"document": {"id": "ret-1"}}
    )
    assert refund.status_code == 201
    racing = await asyncio.gather(*(api.reserve(customer, 1) for _ in range(120)))
    outcomes = Counter(response.status_code for response in racing)
    assert outcomes == {201: 100, 409: 20}
    assert degraded() > before
    ready = await api.get("/health/ready")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ok", "postgres": "up", "redis": "down"}

    own_redis.start()
    # Redis answers again, and the pause after the last failure is over: no guess at how long.
    deadline = time.monotonic() + 30
    while api.runtime.locks.pausing or not await api.runtime.redis_ready():
        assert time.monotonic() < deadline, "Redis never came back for the locks"
        await asyncio.sleep(0.05)
    after_outage = degraded()
    again = await api.reserve(await api.customer(phone="+79120000002", points=5), 5)
    assert again.status_code == 201
    assert degraded() == after_outage
    assert (await api.get("/health/ready")).json()["redis"] == "up"
    await assert_ledger_clean(api.runtime)
