"""Expiry by the database clock: lots past expiry burn, holds past their TTL release, points a
hold earmarked before expiry still pay for that purchase, and two sweeps at once burn each lot
once. Tests move time by moving the rows' timestamps into the past."""

import asyncio
from typing import Any
from uuid import UUID

from processing.service.ledger.expiry import sweep
from tests.conftest import Api
from tests.invariants import assert_ledger_clean


def swept(*, lots: int, points: int, holds: int) -> dict[str, int]:
    """What a sweep answers: the lots and points it burned, the holds it released, and the
    gift certificates it closed with the money they burned (decision 0033; none here)."""
    return {
        "expired_lots": lots,
        "expired_points": points,
        "expired_holds": holds,
        "expired_certificates": 0,
        "burned_minor": 0,
    }


async def age_lots(api: Api, customer: str) -> None:
    """Makes every lot of the customer expire a second ago."""
    await api.runtime.pool.execute(
        "update lots set activates_at = clock_timestamp() - interval '2 days',"
        " expires_at = clock_timestamp() - interval '1 second' where account_id = $1",
        UUID(customer),
    )


async def age_holds(api: Api, customer: str) -> None:
    await api.runtime.pool.execute(
        "update holds set expires_at = clock_timestamp() - interval '1 second'"
        " where account_id = $1",
        UUID(customer),
    )


async def expire(api: Api) -> Any:
    response = await api.post("/v1/expirations", key=api.admin_key)
    assert response.status_code == 200, response.text
    return response.json()


async def test_expired_points_burn_once_and_are_never_spendable(api: Api) -> None:
    customer = await api.customer()
    await api.accrue(customer, 30, expires_at="2099-01-01T00:00:00Z")
    await api.accrue(customer, 12)
    await age_lots(api, customer)
    # Past expiry but not yet swept: already not spendable.
    assert (await api.balance(customer))["available"] == 0
    assert (await api.reserve(customer, 1)).json()["code"] == "insufficient_points"

    assert await expire(api) == swept(lots=2, points=42, holds=0)
    assert await expire(api) == swept(lots=0, points=0, holds=0)
    statement = (await api.get(f"/v1/customers/{customer}/operations")).json()["items"]
    assert statement[0]["type"] == "expire"
    assert statement[0]["points"] == -42
    await assert_ledger_clean(api.runtime)


async def test_holds_past_ttl_are_released_and_cannot_be_committed(api: Api) -> None:
    customer = await api.customer(points=20)
    hold = (await api.reserve(customer, 15)).json()
    await age_holds(api, customer)
    assert (await api.get(f"/v1/holds/{hold['id']}")).json()["status"] == "expired"
    late = await api.post(f"/v1/holds/{hold['id']}/commit")
    assert late.status_code == 409
    assert late.json()["code"] == "hold_expired"

    assert (await expire(api))["expired_holds"] == 1
    balance = await api.balance(customer)
    assert (balance["available"], balance["reserved"]) == (20, 0)
    await assert_ledger_clean(api.runtime)


async def test_points_held_before_expiry_still_pay_for_that_purchase(api: Api) -> None:
    customer = await api.customer()
    await api.accrue(customer, 50)
    hold = (await api.reserve(customer, 40)).json()
    await age_lots(api, customer)
    report = await expire(api)
    assert report["expired_points"] == 10  # only the free part burns

    committed = await api.post(f"/v1/holds/{hold['id']}/commit", {"points": 25})
    assert committed.status_code == 200
    assert (await expire(api))["expired_points"] == 15  # what the commit released burns next
    balance = await api.balance(customer)
    assert (balance["available"], balance["reserved"]) == (0, 0)
    await assert_ledger_clean(api.runtime)


async def test_two_sweeps_at_once_burn_each_lot_once(api: Api) -> None:
    customers = [await api.customer(phone=f"+7912000{index:04d}") for index in range(20)]
    for customer in customers:
        await api.accrue(customer, 7)
        await age_lots(api, customer)
    first, second = await asyncio.gather(sweep(api.runtime.database), sweep(api.runtime.database))
    assert first.expired_points + second.expired_points == 20 * 7
    assert first.expired_lots + second.expired_lots == 20
    expired = await api.runtime.pool.fetchval(
        "select count(*) from operations where type = 'expire'"
    )
    assert expired == 20
    await assert_ledger_clean(api.runtime)


async def test_refund_to_an_expired_lot_comes_back_with_fresh_expiry(api: Api) -> None:
    customer = await api.customer()
    await api.accrue(customer, 10, expires_at="2099-01-01T00:00:00Z")
    hold = (await api.reserve(customer, 10)).json()
    commit = (await api.post(f"/v1/holds/{hold['id']}/commit")).json()
    await age_lots(api, customer)
    refund = await api.post(f"/v1/operations/{commit['id']}/refunds", {"document": {"id": "ret"}})
    assert refund.status_code == 201
    balance = await api.balance(customer)
    assert balance["available"] == 10
    await assert_ledger_clean(api.runtime)
