"""Purchases earn points under the program's rules: pending for the activation delay, expiring
by the rules, recorded with the rule version, applied once per receipt, and counted toward the
customer's tier, which is reached at once."""

from datetime import datetime, timedelta
from typing import Any

from tests.api.test_loyalty_rules_and_checkout import auto_service, put_rules, receipt_line
from tests.conftest import Api
from tests.invariants import assert_ledger_clean

rub = 100


async def purchase(
    api: Api, customer: str, lines: list[dict[str, Any]], receipt: str, **fields: Any
) -> Any:
    return await api.post(
        f"/v1/customers/{customer}/purchases",
        {"document": {"id": receipt, "name": f"Receipt {receipt}"}, "lines": lines, **fields},
    )


async def test_a_purchase_earns_pending_points_under_the_rules(api: Api) -> None:
    assert (await put_rules(api, auto_service)).status_code == 200
    customer = await api.customer()

    response = await purchase(
        api, customer, [receipt_line("oil", 4000), receipt_line("pads", 6000, "parts")], "R-1"
    )

    assert response.status_code == 201, response.text
    bought = response.json()
    assert (bought["tier"], bought["rules_version"]) == ("silver", 1)
    assert (bought["amount_minor"], bought["money_minor"]) == (10_000 * rub, 10_000 * rub)
    assert bought["earned_points"] == 500  # 5 % of 10,000 rubles, 1 point = 1 ruble
    assert [line["earned_points"] for line in bought["lines"]] == [200, 300]
    operation = bought["operation"]
    assert (operation["type"], operation["points"], operation["rules_version"]) == (
        "purchase",
        500,
        1,
    )
    created = datetime.fromisoformat(operation["created_at"])
    activates = datetime.fromisoformat(bought["activates_at"])
    assert activates - created == timedelta(days=14)
    # End of the month twelve months after activation.
    expires = datetime.fromisoformat(bought["expires_at"])
    assert (expires.day, expires.hour, expires.minute) == (1, 0, 0)
    assert 12 * 30 < (expires - activates).days <= 13 * 31

    balance = await api.balance(customer)
    assert (balance["available"], balance["pending"]) == (0, 500)
    statement = await api.get(f"/v1/customers/{customer}/operations")
    [item] = statement.json()["items"]
    assert (item["type"], item["rules_version"], item["document"]["id"]) == ("purchase", 1, "R-1")
    await assert_ledger_clean(api.runtime)


async def test_spend_reaches_a_tier_at_once_and_the_next_purchase_earns_at_it(api: Api) -> None:
    assert (await put_rules(api, auto_service | {"activation_delay_days": 0})).status_code == 200
    customer = await api.customer()

    crossing = await purchase(api, customer, [receipt_line("engine", 100_000)], "R-1")
    assert crossing.status_code == 201, crossing.text
    assert (crossing.json()["tier"], crossing.json()["tier_after"]) == ("silver", "gold")
    assert crossing.json()["earned_points"] == 5000

    quote = await api.post(
        "/v1/checkout/calculate",
        {"customer_id": customer, "lines": [receipt_line("wash", 1000)]},
        idempotency_key=None,
    )
    assert quote.json()["tier"] == "gold"
    next_one = await purchase(api, customer, [receipt_line("wash", 1000)], "R-2")
    assert (next_one.json()["tier"], next_one.json()["earned_points"]) == ("gold", 100)
    assert (await api.balance(customer))["available"] == 5100


async def test_a_receipt_applies_once_and_a_replay_is_the_same_answer(api: Api) -> None:
    customer = await api.customer()
    body = {"document": {"id": "R-7"}, "lines": [receipt_line("a", 100)]}
    path = f"/v1/customers/{customer}/purchases"
    first = await api.post(path, body, idempotency_key="buy-7")
    replay = await api.post(path, body, idempotency_key="buy-7")
    assert (replay.status_code, replay.content) == (201, first.content)

    again = await api.post(path, body, idempotency_key="buy-7-retyped")
    assert (again.status_code, again.json()["code"]) == (409, "duplicate_document")
    assert again.json()["operation_id"] == first.json()["operation"]["id"]
    count = await api.runtime.pool.fetchval(
        "select count(*) from purchases where account_id = $1::uuid", customer
    )
    assert count == 1


async def test_a_purchase_that_earns_nothing_is_still_recorded_for_the_tier(api: Api) -> None:
    rules = auto_service | {"earning": {"base_bp": 0, "excluded_categories": ["parts"]}}
    assert (await put_rules(api, rules)).status_code == 200
    customer = await api.customer()

    response = await purchase(
        api, customer, [receipt_line("pads", 100_000, category="parts")], "R-1"
    )

    assert response.status_code == 201, response.text
    assert response.json()["earned_points"] == 0
    assert response.json()["operation"]["points"] == 0
    assert response.json()["tier_after"] == "gold"
    assert (await api.balance(customer))["available"] == 0
    await assert_ledger_clean(api.runtime)


async def test_refunding_a_purchase_claws_back_what_it_earned(api: Api) -> None:
    assert (await put_rules(api, auto_service | {"activation_delay_days": 0})).status_code == 200
    customer = await api.customer()
    bought = (await purchase(api, customer, [receipt_line("oil", 4000)], "R-1")).json()

    refund = await api.post(
        f"/v1/operations/{bought['operation']['id']}/refunds",
        {"points": 150, "document": {"id": "RET-1"}},
    )

    assert refund.status_code == 201, refund.text
    assert (await api.balance(customer))["available"] == 50
    await assert_ledger_clean(api.runtime)


async def test_a_purchase_on_a_blocked_account_changes_nothing(api: Api) -> None:
    customer = await api.customer()
    blocked = await api.post(
        f"/v1/customers/{customer}/block", {"reason": "fraud check"}, key=api.admin_key
    )
    assert blocked.status_code == 200, blocked.text
    response = await purchase(api, customer, [receipt_line("a", 100)], "R-1")
    assert (response.status_code, response.json()["code"]) == (409, "account_blocked")
    assert await api.runtime.pool.fetchval("select count(*) from purchases") == 0


async def test_a_bad_receipt_is_refused_and_writes_nothing(api: Api) -> None:
    customer = await api.customer()
    response = await purchase(api, customer, [receipt_line("a", 1), receipt_line("a", 2)], "R-1")
    assert (response.status_code, response.json()["field"]) == (400, "lines[1].line_id")
    unknown = await purchase(api, customer, [receipt_line("a", 1) | {"colour": "red"}], "R-2")
    assert unknown.status_code == 400, unknown.text
    assert await api.runtime.pool.fetchval("select count(*) from purchases") == 0
    assert (
        await api.runtime.pool.fetchval("select count(*) from operations where type = 'purchase'")
        == 0
    )
