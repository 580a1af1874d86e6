"""A flood of bad keys is cheap and throttled: the same unknown key is looked up once, an
address that fails too often gets 429 ``authentication_throttled`` with Retry-After and no
further lookups, while a good key from another address, and a live key this process already
knows from the throttled one, go on working."""

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY

from api.app import create_app
from processing.core import limits
from processing.runtime import Runtime
from processing.settings import Settings
from tests.conftest import Api


def counted(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def lookups() -> float:
    return sum(
        counted("bonus_api_key_lookups_total", result=result) for result in ("found", "unknown")
    )


@pytest.fixture
async def from_address(settings: Settings, runtime: Runtime) -> AsyncIterator[Any]:
    """Clients of the same app and runtime that connect from the address given."""
    opened: list[httpx.AsyncClient] = []

    def client(address: str) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=create_app(settings, runtime), client=(address, 4000))
        made = httpx.AsyncClient(transport=transport, base_url="http://testserver")
        opened.append(made)
        return made

    yield client
    for made in opened:
        await made.aclose()


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def test_a_burst_of_bad_keys_is_throttled_and_other_addresses_are_not(
    api: Api, from_address: Any
) -> None:
    customer = await api.customer(points=10)
    balance = f"/v1/customers/{customer}/balance"
    # The buckets' clock stands still, so a slow machine refills no token mid-burst.
    api.runtime.admin.failures.clock = lambda: 1_000.0
    attacker, neighbour = from_address("203.0.113.7"), from_address("198.51.100.9")
    known = await attacker.get(balance, headers=bearer(api.pos_key))  # now cached as live
    assert known.status_code == 200, known.text
    before = lookups()

    answers = [
        await attacker.get(balance, headers=bearer(f"bk_bad-{n}"))
        for n in range(limits.auth_failures_burst + 10)
    ]

    statuses = [answer.status_code for answer in answers]
    assert statuses == [401] * limits.auth_failures_burst + [429] * 10
    throttled = answers[-1]
    assert throttled.headers["content-type"].startswith("application/problem+json")
    assert throttled.json()["code"] == "authentication_throttled"
    assert 1 <= int(throttled.headers["retry-after"]) <= limits.auth_failure_refill_seconds
    assert lookups() == before + limits.auth_failures_burst  # none once throttled
    # A key this process knows to be live still passes from the throttled address ...
    assert (await attacker.get(balance, headers=bearer(api.pos_key))).status_code == 200
    # ... and another address, with a key never seen before, is not touched by the throttle.
    admin_read = await neighbour.get(balance, headers=bearer(api.admin_key))
    assert admin_read.status_code == 200, admin_read.text
    assert admin_read.json()["available"] == 10


async def test_the_same_unknown_key_is_looked_up_once_and_counted_as_failures(
    api: Api, from_address: Any
) -> None:
    client = from_address("192.0.2.44")
    failures = counted("bonus_auth_failures_total", reason="unknown_key")
    missing = counted("bonus_auth_failures_total", reason="missing_key")
    unknown = counted("bonus_api_key_lookups_total", result="unknown")

    for _ in range(5):
        refused = await client.get("/v1/programs/" + api.program_id, headers=bearer("bk_same"))
        assert (refused.status_code, refused.json()["code"]) == (401, "unauthorized")
    nothing = await client.get("/v1/programs/" + api.program_id)
    assert (nothing.status_code, nothing.json()["code"]) == (401, "unauthorized")
    assert "Authorization: Bearer" in nothing.json()["detail"]

    assert counted("bonus_api_key_lookups_total", result="unknown") == unknown + 1
    assert counted("bonus_auth_failures_total", reason="unknown_key") == failures + 5
    assert counted("bonus_auth_failures_total", reason="missing_key") == missing + 1
