"""Returns by line: a return claws back what the returned lines earned (pending first), settles
points already spent by the return policy, takes the money out of the tier's spend, and several
partial returns never pass what was bought."""

from typing import Any

import pytest

from processing.service.ledger.reconcile import reconcile
from tests.api.test_loyalty_rules_and_checkout import auto_service, put_rules, receipt_line
from tests.api.test_purchases import purchase
from tests.conftest import Api
from tests.invariants import assert_ledger_clean

rub = 100
now_rules = auto_service | {"activation_delay_days": 0}


async def return_lines(api: Api, operation_id: str, lines: list[tuple[str, int]], doc: str) -> Any:
    return await api.post(
        f"/v1/operations/{operation_id}/refunds",
        {
            "document": {"id": doc},
            "lines": [{"line_id": line_id, "quantity": quantity} for line_id, quantity in lines],
        },
    )


async def bought_and_spent(api: Api, policy: str) -> tuple[str, str]:
    """A silver customer buys two oil changes (earning 100) and brakes (earning 100), then spends
    180 of the 200 points."""
    assert (await put_rules(api, now_rules | {"return_policy": policy})).status_code == 200
    customer = await api.customer()
    lines = [receipt_line("oil", 1000) | {"quantity": 2}, receipt_line("brakes", 2000)]
    bought = await purchase(api, customer, lines, "R-1")
    assert bought.json()["earned_points"] == 200, bought.text
    hold = await api.reserve(customer, 180)
    committed = await api.post(f"/v1/holds/{hold.json()['id']}/commit", {})
    assert committed.status_code == 200, committed.text
    return customer, bought.json()["operation"]["id"]


@pytest.mark.parametrize(
    ("policy", "withhold_minor"),
    [pytest.param("floor", 0, id="floor"), pytest.param("withhold", 80 * rub, id="withhold")],
)
async def test_a_return_after_the_points_were_spent_follows_the_policy(
    api: Api, policy: str, withhold_minor: int
) -> None:
    customer, purchase_id = await bought_and_spent(api, policy)

    returned = await return_lines(api, purchase_id, [("brakes", 1)], "RET-1")

    assert returned.status_code == 201, returned.text
    body = returned.json()
    assert (body["type"], body["refund_of"]) == ("refund", purchase_id)
    assert (body["points_clawed_back"], body["debt_points"]) == (20, 0)
    assert body["withhold_minor"] == withhold_minor
    assert body["lines"] == [
        {
            "line_id": "brakes",
            "quantity": 1,
            "earned_points": 100,
            "redeemed_points": 0,
            "money_minor": 2000 * rub,
            "certificate_minor": 0,
            "program_discount_minor": 0,
        }
    ]
    assert (await api.balance(customer))["available"] == 0
    await assert_ledger_clean(api.runtime)


async def test_under_the_debt_policy_the_shortfall_is_recorded_and_repaid_first(
    api: Api,
) -> None:
    customer, purchase_id = await bought_and_spent(api, "debt")

    returned = await return_lines(api, purchase_id, [("brakes", 1)], "RET-1")

    assert returned.status_code == 201, returned.text
    body = returned.json()
    assert (body["points_clawed_back"], body["debt_points"], body["withhold_minor"]) == (20, 80, 0)
    balance = await api.balance(customer)
    assert (balance["available"], balance["debt"]) == (0, 80)
    await assert_ledger_clean(api.runtime)

    # The next purchase earns 100 (5 % of 2,000 rubles): 80 repay the debt, 20 land.
    later = await purchase(api, customer, [receipt_line("wash", 2000)], "R-2")
    assert (later.json()["earned_points"], later.json()["debt_repaid"]) == (100, 80)
    assert later.json()["operation"]["points"] == 20
    balance = await api.balance(customer)
    assert (balance["available"], balance["debt"]) == (20, 0)
    await assert_ledger_clean(api.runtime)


async def test_reconcile_reports_debt_that_no_operation_recorded(api: Api) -> None:
    customer, purchase_id = await bought_and_spent(api, "debt")
    await return_lines(api, purchase_id, [("brakes", 1)], "RET-1")
    await api.runtime.pool.execute("update accounts set debt = 5 where id = $1::uuid", customer)
    report = await reconcile(api.runtime.database)
    assert [line for line in report.differences if "debt" in line] == [
        f"account {customer}: debt 5, recorded by operations 80"
    ]


async def test_partial_returns_add_up_to_the_line_and_never_pass_it(api: Api) -> None:
    assert (await put_rules(api, now_rules)).status_code == 200
    customer = await api.customer()
    bought = await purchase(api, customer, [receipt_line("tyre", 1000) | {"quantity": 3}], "R-1")
    purchase_id = bought.json()["operation"]["id"]
    assert bought.json()["earned_points"] == 150

    clawed = []
    for number in range(3):
        answer = await return_lines(api, purchase_id, [("tyre", 1)], f"RET-{number}")
        assert answer.status_code == 201, answer.text
        clawed.append(answer.json()["points_clawed_back"])
    assert clawed == [50, 50, 50]

    too_many = await return_lines(api, purchase_id, [("tyre", 1)], "RET-9")
    assert (too_many.status_code, too_many.json()["code"]) == (409, "refund_exceeds_original")
    assert too_many.json()["field"] == "lines"
    assert (await api.balance(customer))["available"] == 0
    await assert_ledger_clean(api.runtime)


async def test_odd_shares_round_so_the_parts_sum_to_the_whole(api: Api) -> None:
    rules = now_rules | {"earning": {"base_bp": 0, "sku_bp": {"sku-wiper": 1000}}}
    assert (await put_rules(api, rules)).status_code == 200
    customer = await api.customer()
    bought = await purchase(api, customer, [receipt_line("wiper", 334) | {"quantity": 3}], "R-1")
    assert bought.json()["earned_points"] == 100  # 10 % of 1,002 rubles, rounded down
    purchase_id = bought.json()["operation"]["id"]
    shares = []
    for number in range(3):
        answer = await return_lines(api, purchase_id, [("wiper", 1)], f"RET-{number}")
        shares.append(answer.json()["points_clawed_back"])
    assert shares == [33, 33, 34]  # cumulative floors: 33, 66, 100


async def test_a_return_takes_the_customer_down_a_tier(api: Api) -> None:
    assert (await put_rules(api, now_rules)).status_code == 200
    customer = await api.customer()
    bought = await purchase(
        api, customer, [receipt_line("engine", 100_000), receipt_line("filter", 500)], "R-1"
    )
    assert bought.json()["tier_after"] == "gold"

    returned = await return_lines(api, bought.json()["operation"]["id"], [("engine", 1)], "RET-1")

    assert returned.json()["tier_after"] == "silver"
    quote = await api.post(
        "/v1/checkout/calculate",
        {"customer_id": customer, "lines": [receipt_line("wash", 100)]},
        idempotency_key=None,
    )
    assert quote.json()["tier"] == "silver"


async def test_pending_points_are_clawed_back_first(api: Api) -> None:
    assert (await put_rules(api, auto_service)).status_code == 200  # 14 days pending
    customer = await api.customer(points=300)
    bought = await purchase(api, customer, [receipt_line("oil", 2000)], "R-1")
    assert (await api.balance(customer))["pending"] == 100

    returned = await return_lines(api, bought.json()["operation"]["id"], [("oil", 1)], "RET-1")

    assert returned.json()["points_clawed_back"] == 100
    balance = await api.balance(customer)
    assert (balance["available"], balance["pending"]) == (300, 0)
    await assert_ledger_clean(api.runtime)


@pytest.mark.parametrize(
    ("body", "status", "code", "field"),
    [
        pytest.param(
            {"document": {"id": "R"}, "lines": [{"line_id": "nope", "quantity": 1}]},
            400, "validation_error", "lines", id="unknown-line",
        ),
        pytest.param(
            {"document": {"id": "R"}, "lines": [{"line_id": "oil", "quantity": 1},
                                                {"line_id": "oil", "quantity": 1}]},
            400, "validation_error", "lines", id="line-twice",
        ),
        pytest.param(
            {"document": {"id": "R"}, "points": 5, "lines": [{"line_id": "oil", "quantity": 1}]},
            400, "validation_error", "points", id="points-and-lines",
        ),
        pytest.param(
            {"document": {"id": "R"}, "lines": [{"line_id": "oil", "quantity": 0}]},
            400, "validation_error", "lines[0].quantity", id="zero-quantity",
        ),
    ],
)  # fmt: skip
async def test_a_bad_return_is_refused_and_changes_nothing(
    api: Api, body: dict[str, Any], status: int, code: str, field: str
) -> None:
    assert (await put_rules(api, now_rules)).status_code == 200
    customer = await api.customer()
    bought = await purchase(api, customer, [receipt_line("oil", 1000)], "R-1")
    answer = await api.post(f"/v1/operations/{bought.json()['operation']['id']}/refunds", body)
    assert answer.status_code == status, answer.text
    assert (answer.json()["code"], answer.json()["field"]) == (code, field)
    assert (await api.balance(customer))["available"] == 50
    assert await api.runtime.pool.fetchval("select count(*) from purchase_returns") == 0


async def test_lines_can_only_be_returned_from_a_purchase(api: Api) -> None:
    customer = await api.customer()
    accrual = await api.accrue(customer, 10)
    answer = await return_lines(api, accrual["id"], [("oil", 1)], "RET-1")
    assert (answer.status_code, answer.json()["code"]) == (409, "operation_not_refundable")
    assert (await api.balance(customer))["available"] == 10


async def test_a_replayed_return_is_the_same_answer_and_applies_once(api: Api) -> None:
    assert (await put_rules(api, now_rules)).status_code == 200
    customer = await api.customer()
    bought = await purchase(api, customer, [receipt_line("oil", 1000) | {"quantity": 2}], "R-1")
    path = f"/v1/operations/{bought.json()['operation']['id']}/refunds"
    body = {"document": {"id": "RET-1"}, "lines": [{"line_id": "oil", "quantity": 1}]}
    first = await api.post(path, body, idempotency_key="ret-1")
    again = await api.post(path, body, idempotency_key="ret-1")
    assert (again.status_code, again.content) == (201, first.content)
    assert (await api.balance(customer))["available"] == 50


async def test_after_a_refund_by_points_a_return_claws_back_only_what_is_left(api: Api) -> None:
    """Found by the randomized simulation: a line return after a points refund of the same
    purchase must not claw back past what the purchase earned."""
    assert (await put_rules(api, now_rules)).status_code == 200
    customer = await api.customer(points=500)
    bought = await purchase(api, customer, [receipt_line("oil", 1000) | {"quantity": 2}], "R-1")
    purchase_id = bought.json()["operation"]["id"]
    refund = await api.post(
        f"/v1/operations/{purchase_id}/refunds", {"points": 80, "document": {"id": "RET-P"}}
    )
    assert refund.json()["points_clawed_back"] == 80

    returned = await return_lines(api, purchase_id, [("oil", 2)], "RET-L")

    assert returned.status_code == 201, returned.text
    assert returned.json()["points_clawed_back"] == 20  # 100 earned, 80 already clawed back
    assert (await api.balance(customer))["available"] == 500
    await assert_ledger_clean(api.runtime)
