"""Discount programs (decision 0036), through the API the way a till and a web shop use them: a
discount-card customer's cheque priced at the till with its discount per line, recorded by the
fiscal cheque, a return by line giving back the discounted price, the next receipt after the
spend threshold getting the higher discount, a discount-only program end to end, and every
refusal of the discount rules naming its field and writing nothing."""

from typing import Any

import pytest

from processing.service.admin import create_key
from processing.service.ledger.reconcile import reconcile
from tests.api.test_console import signed_in
from tests.api.test_customer_reports import report
from tests.api.test_loyalty_rules_and_checkout import get_rules, put_rules
from tests.api.test_pos import till
from tests.api.test_reports import moscow_today, relay_everything
from tests.api.test_shop import shop
from tests.conftest import Api
from tests.invariants import assert_ledger_clean

rub = 100

# 3 % for every card holder, 5 % from 2 000 ₽ spent; tobacco never discounted; 1 % in points.
discount_card: dict[str, Any] = {
    "point_value_minor": 1 * rub,
    "redemption": {"max_share_bp": 5000},
    "discount": {"base_bp": 300, "excluded_categories": ["tobacco"]},
    "tiers": [
        {"name": "card", "threshold_minor": 0, "earn_bp": 100},
        {"name": "silver", "threshold_minor": 2_000 * rub, "earn_bp": 100, "discount_bp": 500},
    ],
}


def line(line_id: str, unit_price_minor: int, quantity: int = 1, category: str = "food") -> Any:
    return {
        "line_id": line_id,
        "sku": f"sku-{line_id}",
        "category": category,
        "quantity": quantity,
        "unit_price_minor": unit_price_minor,
    }


cheese = line("cheese", 123_456, quantity=2)  # 2 × 1 234.56 ₽
cigarettes = line("cigarettes", 300 * rub, category="tobacco")


def by_line(answer: Any) -> dict[str, Any]:
    return {item["line_id"]: item for item in answer["lines"]}


async def test_a_discount_card_cheque_at_the_till_its_return_and_the_next_tier(
    api: Api,
) -> None:
    assert (await put_rules(api, discount_card)).status_code == 200
    customer = await api.customer()
    basket = [cheese, cigarettes]

    quote = await till(api, "/calculate", {"customer_id": customer, "lines": basket})
    assert quote.status_code == 200, quote.text
    priced = quote.json()
    lines = by_line(priced)
    # 3 % of 2 469.12 ₽ is 74.0736 ₽: 7 407 kopecks off; none off tobacco.
    assert (lines["cheese"]["program_discount_bp"], lines["cheese"]["program_discount_minor"]) == (
        300,
        7_407,
    )
    tobacco = lines["cigarettes"]
    assert (tobacco["program_discount_bp"], tobacco["program_discount_minor"]) == (0, 0)
    assert priced["tier"] == "card"
    assert priced["amount_minor"] == 246_912 + 30_000
    assert priced["program_discount_minor"] == 7_407
    assert priced["money_minor"] == 246_912 + 30_000 - 7_407
    # 1 % of the money after the discount, line by line, in whole points.
    assert (lines["cheese"]["earned_points"], lines["cigarettes"]["earned_points"]) == (23, 3)

    cheque = await till(api, "/cheques/CHK-D1/commit", {"customer_id": customer, "lines": basket})
    assert cheque.status_code == 200, cheque.text
    receipt = cheque.json()["receipt"]
    assert receipt["program_discount_minor"] == 7_407
    assert by_line(receipt)["cheese"]["program_discount_minor"] == 7_407
    assert receipt["money_minor"] == priced["money_minor"]
    assert receipt["earned_points"] == 26
    assert receipt["tier_after"] == "silver"  # 2 695.05 ₽ spent reaches 2 000 ₽
    async with api.runtime.pool.acquire() as connection:
        stored = await connection.fetchrow(
            "select money_minor, lines->0->>'program_discount_minor' as discount"
            " from purchases where operation_id = $1",
            cheque.json()["id"],
        )
    assert (stored["money_minor"], stored["discount"]) == (priced["money_minor"], "7407")

    # The next receipt gets the silver discount: 5 % of 2 469.12 ₽, down to the kopeck.
    next_quote = await till(api, "/calculate", {"customer_id": customer, "lines": [cheese]})
    assert next_quote.json()["tier"] == "silver"
    assert by_line(next_quote.json())["cheese"]["program_discount_minor"] == 12_345

    # One cheese back: half the line's money as paid, the price after the discount.
    returned = await till(
        api,
        "/cheques/CHK-D1/returns",
        {"return_id": "RET-D1", "lines": [{"line_id": "cheese", "quantity": 1}]},
    )
    assert returned.status_code == 201, returned.text
    refund = returned.json()
    assert refund["money_minor"] == (246_912 - 7_407) // 2 == 119_752
    assert refund["program_discount_minor"] == 7_407 // 2
    assert (refund["lines"][0]["money_minor"], refund["lines"][0]["program_discount_minor"]) == (
        119_752,
        3_703,
    )
    assert refund["points_clawed_back"] == 23 // 2
    assert refund["tier_after"] == "card"  # the returned money leaves the spend
    # The other cheese: the rest of the line, so the two parts add up to what was paid.
    second = await till(
        api,
        "/cheques/CHK-D1/returns",
        {"return_id": "RET-D2", "lines": [{"line_id": "cheese", "quantity": 1}]},
    )
    assert second.json()["money_minor"] == 246_912 - 7_407 - 119_752
    assert second.json()["program_discount_minor"] == 7_407 - 3_703
    await assert_ledger_clean(api.runtime)


async def test_points_are_reserved_and_spent_on_the_price_after_the_discount(api: Api) -> None:
    assert (await put_rules(api, discount_card)).status_code == 200
    customer = await api.customer(points=5_000)
    basket = [line("tv", 1_000 * rub)]
    quote = await till(
        api, "/calculate", {"customer_id": customer, "lines": basket, "redeem_points": 5_000}
    )
    # 970 ₽ after 3 % off; points pay at most half of that.
    assert (quote.json()["program_discount_minor"], quote.json()["max_redeemable_points"]) == (
        30 * rub,
        485,
    )
    reserve = {"customer_id": customer, "points": 485, "lines": basket}
    assert (await till(api, "/cheques/CHK-P1/reserve", reserve)).status_code == 201
    committed = await till(api, "/cheques/CHK-P1/commit", {"lines": basket})
    assert committed.status_code == 200, committed.text
    receipt = committed.json()["receipt"]
    assert (receipt["redeemed_points"], receipt["money_minor"]) == (485, 485 * rub)
    assert receipt["earned_points"] == 4  # 1 % of 485 ₽
    returned = await till(
        api,
        "/cheques/CHK-P1/returns",
        {"return_id": "RET-P1", "lines": [{"line_id": "tv", "quantity": 1}]},
    )
    assert (returned.json()["money_minor"], returned.json()["points_returned"]) == (485 * rub, 485)
    await assert_ledger_clean(api.runtime)


async def test_a_discount_only_program_works_end_to_end(api: Api) -> None:
    rules = {
        "redemption": {"max_share_bp": 0},
        "discount": {"base_bp": 1000, "rounding": "whole"},
    }
    assert (await put_rules(api, rules)).status_code == 200
    customer = await api.customer()
    basket = [line("shoes", 499_999)]  # 4 999.99 ₽
    quote = await api.post(
        "/v1/checkout/calculate", {"customer_id": customer, "lines": basket}, idempotency_key=None
    )
    assert quote.status_code == 200, quote.text
    # 10 % of 4 999.99 ₽ is 499.999 ₽: 499 whole rubles off.
    assert quote.json()["program_discount_minor"] == 499 * rub
    assert (quote.json()["earned_points"], quote.json()["max_redeemable_points"]) == (0, 0)

    bought = await api.post(
        f"/v1/customers/{customer}/purchases", {"document": {"id": "S-1"}, "lines": basket}
    )
    assert bought.status_code == 201, bought.text
    assert bought.json()["program_discount_minor"] == 499 * rub
    assert bought.json()["money_minor"] == 499_999 - 499 * rub
    assert bought.json()["earned_points"] == 0
    assert (await api.balance(customer))["available"] == 0

    operation = bought.json()["operation"]["id"]
    returned = await api.post(
        f"/v1/operations/{operation}/refunds",
        {"document": {"id": "S-1-R"}, "lines": [{"line_id": "shoes", "quantity": 1}]},
    )
    assert returned.status_code == 201, returned.text
    assert returned.json()["money_minor"] == 499_999 - 499 * rub
    assert returned.json()["program_discount_minor"] == 499 * rub
    await assert_ledger_clean(api.runtime)


async def test_a_web_shop_order_is_priced_paid_and_cancelled_with_the_discount(
    api: Api,
) -> None:
    assert (await put_rules(api, discount_card)).status_code == 200
    customer = await api.customer()
    async with api.runtime.database.transaction() as store:
        created = await create_key(store, api.program_id_uuid, "web shop", ["shop"], None)
    assert created.key is not None
    quote = await shop(
        api, created.key, "/calculate", {"customer_id": customer, "lines": [cheese, cigarettes]}
    )
    assert quote.status_code == 200, quote.text
    assert by_line(quote.json())["cheese"]["program_discount_minor"] == 7_407
    assert quote.json()["program_discount_minor"] == 7_407
    body = {"customer_id": customer, "lines": [cheese, cigarettes]}
    paid = await shop(api, created.key, "/orders/7001/pay", body)
    assert paid.status_code == 200, paid.text
    assert paid.json()["receipt"]["program_discount_minor"] == 7_407
    assert paid.json()["receipt"]["money_minor"] == quote.json()["money_minor"]
    cancelled = await shop(api, created.key, "/orders/7001/cancel")
    assert cancelled.status_code == 201, cancelled.text
    assert cancelled.json()["money_minor"] == quote.json()["money_minor"]
    assert cancelled.json()["program_discount_minor"] == 7_407
    await assert_ledger_clean(api.runtime)


def tier(**fields: Any) -> dict[str, Any]:
    return {"tiers": [{"name": "card", "threshold_minor": 0, **fields}]}


@pytest.mark.parametrize(
    ("change", "field", "text"),
    [
        pytest.param({"discount": {"base_bp": 10_001}}, "discount.base_bp", "10000",
                     id="rate-over-100"),
        pytest.param({"discount": {"base_bp": -1}}, "discount.base_bp", ">= 0",
                     id="rate-below-0"),
        pytest.param(tier(discount_bp=20_000), "tiers[0].discount_bp", "10000",
                     id="tier-rate-over-100"),
        pytest.param({"discount": {"rounding": "nearest"}}, "discount.rounding", "nearest",
                     id="unknown-rounding"),
        pytest.param({"discount": {"whole_unit_minor": 0}}, "discount.whole_unit_minor", ">= 1",
                     id="zero-whole-unit"),
        pytest.param({"discount": {"whole_unit_minor": 1_000_001}}, "discount.whole_unit_minor",
                     "<= 1000000", id="huge-whole-unit"),
        pytest.param({"discount": {"excluded_skus": ["ok", ""]}}, "discount.excluded_skus[1]",
                     "length", id="empty-excluded-sku"),
        pytest.param({"discount": {"percent": 5}}, "discount.percent", "unknown",
                     id="unknown-field"),
    ],
)  # fmt: skip
async def test_bad_discount_rules_are_refused_naming_the_field_and_change_nothing(
    api: Api, change: dict[str, Any], field: str, text: str
) -> None:
    response = await put_rules(api, discount_card | change)
    assert response.status_code == 400, response.text
    problem = response.json()
    assert (problem["code"], problem["field"]) == ("validation_error", field)
    assert text in problem["detail"]
    assert (await get_rules(api))["version"] == 0


async def test_the_discount_rules_read_back_as_written(api: Api) -> None:
    assert (await put_rules(api, discount_card)).status_code == 200
    stored = (await get_rules(api))["rules"]
    assert stored["discount"] == {
        "base_bp": 300,
        "excluded_categories": ["tobacco"],
        "excluded_skus": [],
        "rounding": "minor",
        "whole_unit_minor": 100,
    }
    assert stored["tiers"][1]["discount_bp"] == 500
    assert stored["tiers"][0]["discount_bp"] is None


async def test_the_purchases_report_counts_the_discount_given_and_reconciles(api: Api) -> None:
    assert (await put_rules(api, discount_card)).status_code == 200
    customer = await api.customer(points=5_000)
    first = await till(
        api, "/cheques/CHK-R1/commit", {"customer_id": customer, "lines": [cheese, cigarettes]}
    )
    assert first.status_code == 200, first.text
    # The second cheque at silver: 5 % off 1 000 ₽, and 475 points pay half of the rest.
    basket = [line("tv", 1_000 * rub)]
    reserve = {"customer_id": customer, "points": 475, "lines": basket}
    assert (await till(api, "/cheques/CHK-R2/reserve", reserve)).status_code == 201
    second = await till(api, "/cheques/CHK-R2/commit", {"lines": basket})
    assert second.json()["receipt"]["program_discount_minor"] == 50 * rub
    await relay_everything(api)

    today = moscow_today().isoformat()
    found = await report(api, "purchases", **{"from": today, "to": today}, period="day")
    totals = found["totals"]
    assert totals["program_discount_minor"] == 7_407 + 50 * rub
    assert totals["amount_minor"] == 276_912 + 100_000
    assert totals["money_minor"] == 276_912 - 7_407 + 47_500
    # Points paid 475 ₽ of the 3 644.05 ₽ asked after the discount: 13.03 %, half up.
    after_discount = 276_912 + 100_000 - totals["program_discount_minor"]
    assert totals["points_share_bp"] == (2 * 47_500 * 10_000 + after_discount) // (
        2 * after_discount
    )
    assert found["rows"][0]["program_discount_minor"] == totals["program_discount_minor"]

    async with api.runtime.pool.acquire() as connection:
        await connection.execute(
            "update report_purchases set program_discount_minor = program_discount_minor + 1"
        )
    differences = (await reconcile(api.runtime.database)).differences
    assert any("report purchases" in difference for difference in differences)
    await api.runtime.reports.rebuild(None)
    rebuilt = await report(api, "purchases", **{"from": today, "to": today}, period="day")
    assert rebuilt["totals"] == totals
    await signed_in(api)
    page = await api.client.get("/console/reports", params={"program": api.program_id})
    assert page.status_code == 200, page.text
    panel = page.text[page.text.index('data-report="purchases"') :]
    assert f'<dd data-figure="program_discount_minor">{7_407 + 50 * rub}</dd>' in panel
    await assert_ledger_clean(api.runtime)


async def test_a_hold_reserved_before_a_tier_rise_commits_at_the_higher_discount(
    api: Api,
) -> None:
    assert (await put_rules(api, discount_card)).status_code == 200
    customer = await api.customer(points=5_000)
    basket = [line("tv", 1_000 * rub)]
    reserve = {"customer_id": customer, "points": 485, "lines": basket}  # half of 970 ₽
    assert (await till(api, "/cheques/CHK-H1/reserve", reserve)).status_code == 201
    # Another cheque takes the customer past 2 000 ₽: silver, 5 % off from now on.
    crossing = {"customer_id": customer, "lines": [line("sofa", 2_500 * rub)]}
    assert (await till(api, "/cheques/CHK-H2/commit", crossing)).json()["receipt"][
        "tier_after"
    ] == "silver"
    refused = await till(api, "/cheques/CHK-H1/commit", {"lines": basket})
    assert (refused.status_code, refused.json()["code"]) == (409, "redemption_exceeds_limit")
    committed = await till(api, "/cheques/CHK-H1/commit", {"lines": basket, "points": 475})
    assert committed.status_code == 200, committed.text
    receipt = committed.json()["receipt"]
    assert (receipt["program_discount_minor"], receipt["money_minor"]) == (50 * rub, 475 * rub)
    assert (await api.balance(customer))["reserved"] == 0
    await assert_ledger_clean(api.runtime)
