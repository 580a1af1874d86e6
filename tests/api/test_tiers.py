"""A customer's tier: computed from money paid over the window, shown with the next tier, and a
manually set tier that acts as a floor (never a ceiling)."""

import json
from typing import Any

import pytest

from tests.api.test_loyalty_rules_and_checkout import auto_service, put_rules, receipt_line
from tests.api.test_purchases import purchase
from tests.conftest import Api

rub = 100
now_rules = auto_service | {"activation_delay_days": 0}


async def tier_of(api: Api, customer: str) -> Any:
    response = await api.get(f"/v1/customers/{customer}/tier")
    assert response.status_code == 200, response.text
    return response.json()


async def set_tier(api: Api, customer: str, tier: str | None, *, key: str | None = None) -> Any:
    return await api.client.put(
        f"/v1/customers/{customer}/tier",
        json={"tier": tier, "reason": "loyal since 2010"},
        headers=api.headers(key or api.admin_key),
    )


async def test_the_tier_follows_spend_and_names_the_next_one(api: Api) -> None:
    assert (await put_rules(api, now_rules)).status_code == 200
    customer = await api.customer()
    await purchase(api, customer, [receipt_line("oil", 40_000)], "R-1")

    standing = await tier_of(api, customer)

    assert standing == {
        "customer_id": customer,
        "tier": "silver",
        "tier_floor": None,
        "spend_minor": 40_000 * rub,
        "next_tier": "gold",
        "next_threshold_minor": 100_000 * rub,
        "rules_version": 1,
    }


async def test_a_manual_tier_is_a_floor_for_earning_and_checkout(api: Api) -> None:
    assert (await put_rules(api, now_rules)).status_code == 200
    customer = await api.customer()

    answer = await set_tier(api, customer, "gold")
    assert answer.status_code == 200, answer.text
    assert (answer.json()["tier"], answer.json()["tier_floor"]) == ("gold", "gold")

    bought = await purchase(api, customer, [receipt_line("oil", 1000)], "R-1")
    assert (bought.json()["tier"], bought.json()["earned_points"]) == ("gold", 100)

    cleared = await set_tier(api, customer, None)
    assert (cleared.json()["tier"], cleared.json()["tier_floor"]) == ("silver", None)


async def test_a_floor_never_caps_a_higher_tier(api: Api) -> None:
    assert (await put_rules(api, now_rules)).status_code == 200
    customer = await api.customer()
    await purchase(api, customer, [receipt_line("engine", 100_000)], "R-1")
    answer = await set_tier(api, customer, "silver")
    assert answer.json()["tier"] == "gold"


@pytest.mark.parametrize(
    ("tier", "key_kind", "status", "code"),
    [
        pytest.param("platinum", "admin", 400, "validation_error", id="unknown-tier"),
        pytest.param("gold", "pos", 403, "forbidden_scope", id="till-may-not"),
    ],
)
async def test_a_manual_tier_is_refused_when_it_cannot_be(
    api: Api, tier: str, key_kind: str, status: int, code: str
) -> None:
    assert (await put_rules(api, now_rules)).status_code == 200
    customer = await api.customer()
    key = api.admin_key if key_kind == "admin" else api.pos_key
    answer = await set_tier(api, customer, tier, key=key)
    assert (answer.status_code, answer.json()["code"]) == (status, code)
    assert (await tier_of(api, customer))["tier_floor"] is None


async def test_every_change_of_tier_is_told_once_with_its_cause(api: Api) -> None:
    """tier.changed goes to the outbox with the operation that moved the tier: a purchase
    crossing the threshold, a return dropping below it, a manual tier (no operation)."""
    assert (await put_rules(api, now_rules)).status_code == 200
    customer = await api.customer()
    await purchase(api, customer, [receipt_line("oil", 40_000)], "R-1")  # silver stays silver
    crossing = await purchase(api, customer, [receipt_line("engine", 70_000)], "R-2")
    assert crossing.json()["tier_after"] == "gold"
    returned = await api.post(
        f"/v1/operations/{crossing.json()['operation']['id']}/refunds",
        {"document": {"id": "RET-2"}, "lines": [{"line_id": "engine", "quantity": 1}]},
    )
    assert returned.json()["tier_after"] == "silver"
    assert (await set_tier(api, customer, "gold")).status_code == 200
    assert (await set_tier(api, customer, "gold")).status_code == 200  # no change: not told
    assert (await set_tier(api, customer, None)).status_code == 200

    async with api.runtime.pool.acquire() as connection:
        rows = await connection.fetch(
            "select operation_id, payload from outbox where type = 'tier.changed'"
            " and payload->>'customer_id' = $1 order by id",
            customer,
        )
    payloads = [json.loads(row["payload"]) for row in rows]
    told = [(item["tier_before"], item["tier_after"], item["cause"]) for item in payloads]
    assert told == [
        ("silver", "gold", "purchase"),
        ("gold", "silver", "return"),
        ("silver", "gold", "manual"),
        ("gold", "silver", "manual"),
    ]
    assert [str(row["operation_id"]) if row["operation_id"] else None for row in rows] == [
        crossing.json()["operation"]["id"],
        returned.json()["id"],
        None,
        None,
    ]
