"""Concurrent requests on one account against real Postgres and Redis: exactly the funded holds
succeed, a hold resolves once, and duplicates of one idempotent request take effect once.

Every test runs twice: with the Redis account locks, and with them switched off, because the
Redis lock only spares Postgres some contention; Postgres must be right on its own."""

import asyncio
from collections import Counter

import pytest

from processing.adapters.redis.locks import NoAccountLocks
from tests.conftest import Api
from tests.invariants import assert_ledger_clean


@pytest.fixture(autouse=True, params=["redis-locks", "postgres-alone"])
def locking(request: pytest.FixtureRequest, api: Api) -> None:
    if request.param == "postgres-alone":
        api.runtime.runner.locks = NoAccountLocks()


async def test_150_points_and_200_concurrent_holds_of_one(api: Api) -> None:
    customer = await api.customer(points=150)
    responses = await asyncio.gather(*(api.reserve(customer, 1) for _ in range(200)))

    outcomes = Counter(
        "ok" if response.status_code == 201 else response.json()["code"] for response in responses
    )
    assert outcomes == {"ok": 150, "insufficient_points": 50}
    assert all(response.status_code < 500 for response in responses)
    balance = await api.balance(customer)
    assert (balance["available"], balance["reserved"]) == (0, 150)
    await assert_ledger_clean(api.runtime)


async def test_commit_and_cancel_race_on_one_hold_exactly_one_wins(api: Api) -> None:
    customer = await api.customer(points=1000)
    for _ in range(10):
        hold = (await api.reserve(customer, 10)).json()
        commit, cancel = await asyncio.gather(
            api.post(f"/v1/holds/{hold['id']}/commit"),
            api.post(f"/v1/holds/{hold['id']}/cancel"),
        )
        statuses = sorted([commit.status_code, cancel.status_code])
        assert statuses == [200, 409], (commit.text, cancel.text)
        loser = cancel if commit.status_code == 200 else commit
        winner_status = "committed" if commit.status_code == 200 else "cancelled"
        assert loser.json()["code"] == f"hold_already_{winner_status}"
        assert (await api.get(f"/v1/holds/{hold['id']}")).json()["status"] == winner_status
    await assert_ledger_clean(api.runtime)


async def test_concurrent_duplicates_of_one_request_take_effect_once(api: Api) -> None:
    customer = await api.customer()
    body = {"points": 10, "document": {"id": "receipt-1"}}
    responses = await asyncio.gather(
        *(
            api.post(f"/v1/customers/{customer}/accruals", body, idempotency_key="same-key")
            for _ in range(20)
        )
    )
    created = [response for response in responses if response.status_code == 201]
    others = [response for response in responses if response.status_code != 201]
    assert created, "at least one duplicate answers with the operation"
    assert {response.json()["id"] for response in created} == {created[0].json()["id"]}
    assert {response.json()["code"] for response in others} <= {"idempotency_request_in_progress"}
    assert all(response.status_code == 409 for response in others)
    assert (await api.balance(customer))["available"] == 10
    await assert_ledger_clean(api.runtime)


async def test_concurrent_commits_of_one_hold_with_different_keys_spend_once(api: Api) -> None:
    customer = await api.customer(points=50)
    hold = (await api.reserve(customer, 50)).json()
    responses = await asyncio.gather(
        *(api.post(f"/v1/holds/{hold['id']}/commit") for _ in range(10))
    )
    assert sorted(response.status_code for response in responses) == [200] + [409] * 9
    assert (await api.balance(customer))["available"] == 0
    await assert_ledger_clean(api.runtime)


async def test_one_document_under_many_keys_at_once_applies_once(api: Api) -> None:
    customer = await api.customer(points=100)
    body = {"points": 5, "document": {"id": "receipt-race"}}
    accruals = await asyncio.gather(
        *(api.post(f"/v1/customers/{customer}/accruals", body) for _ in range(10))
    )
    holds = await asyncio.gather(*(
        api.post(f"/v1/customers/{customer}/holds", {**body, "document": {"id": "cart-race"}})
        for _ in range(10)
    ))  # fmt: skip

    for responses in (accruals, holds):
        codes = Counter("ok" if r.status_code == 201 else r.json()["code"] for r in responses)
        assert codes == {"ok": 1, "duplicate_document": 9}
    assert (await api.balance(customer))["available"] == 100 + 5 - 5
    await assert_ledger_clean(api.runtime)
