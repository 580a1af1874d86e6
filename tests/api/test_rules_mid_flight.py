"""Rules that change while a purchase is in flight: a return claws back what the purchase earned
under the rules it was priced with, and settles by their return policy, but reports the tier by
the rules in force; a hold reserved under old rules commits under the new ones (refused, never
silently charged more than they allow); and a purchase that ages out of the tier window stops
counting toward the tier, at the window's edge and when the window itself shrinks."""

import json
from typing import Any

import pytest

from tests.api.test_loyalty_rules_and_checkout import put_rules, receipt_line
from tests.api.test_paid_purchases import commit, reserve
from tests.api.test_purchases import purchase
from tests.api.test_returns_by_line import now_rules, return_lines
from tests.api.test_tiers import tier_of
from tests.conftest import Api
from tests.invariants import assert_ledger_clean

rub = 100


def with_tiers(rules: dict[str, Any], silver_bp: int, gold_bp: int, gold_rub: int) -> Any:
    return rules | {
        "tiers": [
            {"name": "silver", "threshold_minor": 0, "earn_bp": silver_bp},
            {"name": "gold", "threshold_minor": gold_rub * rub, "earn_bp": gold_bp},
        ]
    }


async def tier_changes(api: Api, customer: str) -> list[tuple[str, str, str]]:
    async with api.runtime.pool.acquire() as connection:
        rows = await connection.fetch(
            "select payload from outbox where type = 'tier.changed'"
            " and payload->>'customer_id' = $1 order by id",
            customer,
        )
    told = [json.loads(row["payload"]) for row in rows]
    return [(item["tier_before"], item["tier_after"], item["cause"]) for item in told]


async def test_a_return_after_a_rules_change_claws_back_what_the_purchase_earned(
    api: Api,
) -> None:
    v1 = now_rules | {"return_policy": "withhold"}
    assert (await put_rules(api, v1)).status_code == 200
    customer = await api.customer()
    bought = await purchase(api, customer, [receipt_line("oil", 1000) | {"quantity": 2}], "R-1")
    assert bought.json()["earned_points"] == 100  # silver: 5 % of 2,000 rubles
    hold = await api.reserve(customer, 80)
    assert (await commit(api, hold.json()["id"])).status_code == 200  # 20 points left

    v2 = with_tiers(now_rules, 2000, 3000, 100_000) | {"return_policy": "floor"}
    assert (await put_rules(api, v2)).json()["version"] == 2
    returned = await return_lines(api, bought.json()["operation"]["id"], [("oil", 1)], "RET-1")

    assert returned.status_code == 201, returned.text
    body = returned.json()
    # What the line earned under version 1 (50), not what it would earn under version 2 (200);
    # the 30 already spent are withheld by version 1's policy, not floored by version 2's.
    assert body["lines"][0]["earned_points"] == 50
    assert (body["points_clawed_back"], body["withhold_minor"]) == (20, 30 * rub)
    assert (await api.balance(customer))["available"] == 0
    await assert_ledger_clean(api.runtime)


async def test_a_return_after_a_rules_change_reports_the_tier_under_the_rules_in_force(
    api: Api,
) -> None:
    assert (await put_rules(api, now_rules)).status_code == 200  # gold from 100,000 rubles
    customer = await api.customer()
    bought = await purchase(
        api, customer, [receipt_line("engine", 60_000), receipt_line("body", 50_000)], "R-1"
    )
    assert bought.json()["tier_after"] == "gold", bought.text
    lowered = with_tiers(now_rules, 500, 1000, 40_000)  # gold now from 40,000 rubles
    assert (await put_rules(api, lowered)).status_code == 200

    returned = await return_lines(api, bought.json()["operation"]["id"], [("engine", 1)], "RET-1")

    assert returned.status_code == 201, returned.text
    # 50,000 rubles are left: gold under the rules in force, silver only under the old ones.
    assert returned.json()["tier_after"] == "gold"
    assert (await tier_of(api, customer))["tier"] == "gold"
    assert await tier_changes(api, customer) == [("silver", "gold", "purchase")]

    raised = with_tiers(now_rules, 500, 1000, 200_000)  # gold now from 200,000 rubles
    assert (await put_rules(api, raised)).status_code == 200
    again = await return_lines(api, bought.json()["operation"]["id"], [("body", 1)], "RET-2")
    # Silver before and after under the rules in force: nothing to tell.
    assert again.json()["tier_after"] == "silver"
    assert await tier_changes(api, customer) == [("silver", "gold", "purchase")]
    await assert_ledger_clean(api.runtime)


async def test_a_hold_reserved_under_old_rules_commits_under_the_new_ones(api: Api) -> None:
    v1 = now_rules | {"redemption": {"max_share_bp": 5000}}
    assert (await put_rules(api, v1)).status_code == 200
    customer = await api.customer(points=5000)
    receipt = [receipt_line("oil", 4000), receipt_line("work", 6000)]  # 10,000 rubles
    hold = await reserve(api, customer, 3000, "R-1", lines=receipt)
    assert hold.status_code == 201, hold.text

    v2 = with_tiers(now_rules, 1000, 2000, 100_000) | {"redemption": {"max_share_bp": 2000}}
    assert (await put_rules(api, v2)).status_code == 200
    refused = await commit(api, hold.json()["id"])

    # Version 2 lets points pay 2,000 of this receipt: the held 3,000 are refused, not charged.
    assert (refused.status_code, refused.json()["code"]) == (409, "redemption_exceeds_limit")
    assert (await api.get(f"/v1/holds/{hold.json()['id']}")).json()["status"] == "active"
    assert (await api.balance(customer))["available"] == 2000

    committed = await commit(api, hold.json()["id"], {"points": 2000})

    assert committed.status_code == 200, committed.text
    body = committed.json()
    assert body["rules_version"] == 2
    assert body["receipt"]["redeemed_points"] == 2000
    assert body["receipt"]["earned_points"] == 800  # 10 % of the 8,000 rubles paid in money
    balance = await api.balance(customer)
    assert (balance["available"], balance["reserved"]) == (5000 - 2000 + 800, 0)
    await assert_ledger_clean(api.runtime)


async def age(api: Api, purchase_id: str, days: int) -> None:
    """Moves a purchase ``days`` into the past, as if that much time had gone by."""
    await api.runtime.pool.execute(
        "update purchases set created_at = clock_timestamp() - make_interval(days => $2)"
        " where operation_id = $1::uuid",
        purchase_id,
        days,
    )


@pytest.mark.parametrize(
    ("days", "tier", "spend_rub"),
    [pytest.param(364, "gold", 110_000, id="inside"), pytest.param(366, "silver", 0, id="out")],
)
async def test_a_purchase_aged_out_of_the_tier_window_no_longer_counts(
    api: Api, days: int, tier: str, spend_rub: int
) -> None:
    assert (await put_rules(api, now_rules)).status_code == 200  # a window of 365 days
    customer = await api.customer()
    bought = await purchase(api, customer, [receipt_line("engine", 110_000)], "R-1")
    assert bought.json()["tier_after"] == "gold", bought.text

    await age(api, bought.json()["operation"]["id"], days)

    standing = await tier_of(api, customer)
    assert (standing["tier"], standing["spend_minor"]) == (tier, spend_rub * rub)
    quote = await api.post(
        "/v1/checkout/calculate",
        {"customer_id": customer, "lines": [receipt_line("wash", 1000)]},
        idempotency_key=None,
    )
    assert quote.json()["tier"] == tier
    earned = await purchase(api, customer, [receipt_line("wash", 1000)], "R-2")
    assert earned.json()["earned_points"] == (100 if tier == "gold" else 50)

    # Returning the old purchase takes nothing from the spend of purchases still in the window.
    returned = await return_lines(api, bought.json()["operation"]["id"], [("engine", 1)], "RET-1")
    assert returned.status_code == 201, returned.text
    assert (await tier_of(api, customer))["spend_minor"] == 1000 * rub
    await assert_ledger_clean(api.runtime)


async def test_a_shorter_tier_window_drops_purchases_outside_it(api: Api) -> None:
    assert (await put_rules(api, now_rules)).status_code == 200
    customer = await api.customer()
    bought = await purchase(api, customer, [receipt_line("engine", 110_000)], "R-1")
    await age(api, bought.json()["operation"]["id"], 60)
    assert (await tier_of(api, customer))["tier"] == "gold"

    assert (await put_rules(api, now_rules | {"tier_window_days": 30})).status_code == 200

    standing = await tier_of(api, customer)
    assert (standing["tier"], standing["spend_minor"], standing["rules_version"]) == (
        "silver",
        0,
        2,
    )
