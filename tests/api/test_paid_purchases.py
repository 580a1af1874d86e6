"""A purchase paid partly with points: a hold reserved with its receipt (or committed with the
final one) becomes ONE purchase operation that spends the held points and earns on the money,
in one transaction; its lines return with the points that paid for them given back and the
points they earned clawed back. The auto service of the customer documents: silver earns 5 %,
gold 10 %, 1 point = 1 ruble, at most 50 % of a receipt in points, spare parts never."""

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.api.test_loyalty_rules_and_checkout import auto_service, put_rules, receipt_line
from tests.api.test_purchases import purchase
from tests.api.test_returns_by_line import return_lines
from tests.conftest import Api
from tests.invariants import assert_ledger_clean

rub = 100
receipt = [receipt_line("oil", 4000), receipt_line("work", 6000)]  # 10,000 rubles


async def customer_with_points(api: Api, points: int = 10_000) -> str:
    assert (await put_rules(api, auto_service)).status_code == 200
    return await api.customer(points=points)


async def reserve(api: Api, customer: str, points: int, doc: str, **fields: Any) -> Any:
    return await api.post(
        f"/v1/customers/{customer}/holds",
        {"points": points, "document": {"id": doc}, **fields},
    )


async def commit(api: Api, hold_id: str, body: dict[str, Any] | None = None, **kw: Any) -> Any:
    return await api.post(f"/v1/holds/{hold_id}/commit", body or {}, **kw)


async def statement_types(api: Api, customer: str) -> list[str]:
    page = (await api.get(f"/v1/customers/{customer}/operations")).json()
    return [item["type"] for item in reversed(page["items"])]


async def legs(api: Api, operation_id: str) -> dict[str, int]:
    """The operation's entries summed by the kind of account they touch."""
    async with api.runtime.pool.acquire() as connection:
        rows = await connection.fetch(
            "select a.kind, sum(e.points)::bigint as points from entries e "
            "join accounts a on a.id = e.account_id where e.operation_id = $1 group by a.kind",
            operation_id,
        )
    return {row["kind"]: row["points"] for row in rows}


async def test_a_hold_with_its_receipt_commits_as_one_purchase_that_spends_and_earns(
    api: Api,
) -> None:
    customer = await customer_with_points(api)
    hold = await reserve(api, customer, 3000, "R-1", lines=receipt)
    assert hold.status_code == 201, hold.text
    assert hold.json()["has_receipt"] is True
    assert (await api.balance(customer))["available"] == 7000

    committed = await commit(api, hold.json()["id"])

    assert committed.status_code == 200, committed.text
    body = committed.json()
    assert (body["type"], body["hold_id"], body["document"]["id"]) == (
        "purchase",
        hold.json()["id"],
        "R-1",
    )
    # Silver (nothing spent yet): 5 % of the 7,000 rubles paid in money; net -3,000 + 350.
    assert (body["points"], body["redeemed_points"], body["rules_version"]) == (-2650, 3000, 1)
    priced = body["receipt"]
    assert (priced["redeemed_points"], priced["money_minor"], priced["earned_points"]) == (
        3000,
        7000 * rub,
        350,
    )
    assert (priced["tier"], priced["tier_after"]) == ("silver", "silver")
    assert [line["redeemed_points"] for line in priced["lines"]] == [1200, 1800]
    assert priced["activates_at"] is not None  # pending for the 14-day activation delay
    balance = await api.balance(customer)
    assert (balance["available"], balance["reserved"], balance["pending"]) == (7000, 0, 350)
    assert await legs(api, body["id"]) == {"customer": -2650, "redeemed": 3000, "issued": -350}
    assert await statement_types(api, customer) == ["accrual", "reserve", "purchase"]
    reserved = (await api.get(f"/v1/operations/{hold.json()['operation_id']}")).json()
    assert reserved["rules_version"] == 1  # the rules that capped the hold
    settled = (await api.get(f"/v1/holds/{hold.json()['id']}")).json()
    assert (settled["status"], settled["committed_points"]) == ("committed", 3000)
    tier = (await api.get(f"/v1/customers/{customer}/tier")).json()
    assert tier["spend_minor"] == 7000 * rub  # the money paid counts toward the tier
    await assert_ledger_clean(api.runtime)


async def test_a_commit_may_bring_the_final_receipt_for_a_hold_reserved_without_one(
    api: Api,
) -> None:
    customer = await customer_with_points(api)
    hold = await reserve(api, customer, 1000, "R-1")
    assert hold.json()["has_receipt"] is False

    committed = await commit(api, hold.json()["id"], {"lines": receipt})

    assert committed.status_code == 200, committed.text
    body = committed.json()
    assert (body["type"], body["redeemed_points"], body["receipt"]["earned_points"]) == (
        "purchase",
        1000,
        450,
    )
    plain = await reserve(api, customer, 10, "R-2")
    spent = await commit(api, plain.json()["id"])
    assert (spent.json()["type"], spent.json()["receipt"]) == ("commit", None)
    await assert_ledger_clean(api.runtime)


async def test_a_final_receipt_too_small_for_the_held_points_is_refused_and_changes_nothing(
    api: Api,
) -> None:
    customer = await customer_with_points(api)
    hold = await reserve(api, customer, 3000, "R-1", lines=receipt)
    hold_id = hold.json()["id"]
    smaller = [receipt_line("oil", 4000), receipt_line("work", 1000)]  # half is 2,500

    refused = await commit(api, hold_id, {"lines": smaller})

    assert refused.status_code == 409, refused.text
    assert refused.json()["code"] == "redemption_exceeds_limit"
    assert "at most 2500" in refused.json()["detail"]
    assert (await api.get(f"/v1/holds/{hold_id}")).json()["status"] == "active"
    assert (await api.balance(customer))["reserved"] == 3000
    assert await statement_types(api, customer) == ["accrual", "reserve"]

    # The till commits what the final receipt allows; the rest of the hold is released.
    committed = await commit(api, hold_id, {"lines": smaller, "points": 2500})
    assert committed.status_code == 200, committed.text
    assert committed.json()["redeemed_points"] == 2500
    assert (await api.balance(customer))["available"] == 7500
    await assert_ledger_clean(api.runtime)


@pytest.mark.parametrize(
    ("points", "lines"),
    [
        pytest.param(5001, receipt, id="above-half-the-receipt"),
        pytest.param(1, [receipt_line("filter", 5000, "parts")], id="parts-never-paid-with-points"),
    ],
)
async def test_a_hold_above_what_its_receipt_lets_points_pay_is_refused(
    api: Api, points: int, lines: list[dict[str, Any]]
) -> None:
    customer = await customer_with_points(api)

    refused = await reserve(api, customer, points, "R-1", lines=lines)

    assert refused.status_code == 409, refused.text
    assert refused.json()["code"] == "redemption_exceeds_limit"
    balance = await api.balance(customer)
    assert (balance["available"], balance["reserved"]) == (10_000, 0)
    assert await statement_types(api, customer) == ["accrual"]


async def test_bad_receipt_lines_on_a_hold_or_commit_are_named(api: Api) -> None:
    customer = await customer_with_points(api)
    twice = [receipt_line("oil", 4000), receipt_line("oil", 10)]
    refused = await reserve(api, customer, 10, "R-1", lines=twice)
    assert (refused.status_code, refused.json()["field"]) == (400, "lines[1].line_id")
    hold = await reserve(api, customer, 10, "R-2")
    empty = await commit(api, hold.json()["id"], {"lines": []})
    assert empty.status_code == 400, empty.text
    assert (await api.get(f"/v1/holds/{hold.json()['id']}")).json()["status"] == "active"


async def test_a_receipt_applies_once_whether_bought_or_paid_with_points(api: Api) -> None:
    customer = await customer_with_points(api)
    hold = await reserve(api, customer, 1000, "R-1", lines=receipt)
    assert (await commit(api, hold.json()["id"])).status_code == 200

    again = await purchase(api, customer, receipt, "R-1")
    assert (again.status_code, again.json()["code"]) == (409, "duplicate_document")
    second_hold = await reserve(api, customer, 1000, "R-1", lines=receipt)
    assert (second_hold.status_code, second_hold.json()["code"]) == (409, "duplicate_document")
    await assert_ledger_clean(api.runtime)


async def test_a_retried_commit_answers_the_same_bytes_and_applies_once(api: Api) -> None:
    customer = await customer_with_points(api)
    hold = await reserve(api, customer, 3000, "R-1", lines=receipt)
    first = await commit(api, hold.json()["id"], idempotency_key="commit-R-1")
    again = await commit(api, hold.json()["id"], idempotency_key="commit-R-1")
    assert first.status_code == again.status_code == 200
    assert first.content == again.content
    assert again.headers["Idempotent-Replayed"] == "true"
    assert await statement_types(api, customer) == ["accrual", "reserve", "purchase"]


async def test_concurrent_commits_and_cancels_of_a_receipt_hold_resolve_it_once(api: Api) -> None:
    customer = await customer_with_points(api)
    for round_ in range(5):
        hold = await reserve(api, customer, 100, f"R-{round_}", lines=receipt)
        hold_id = hold.json()["id"]
        calls = [commit(api, hold_id) for _ in range(4)] + [
            api.post(f"/v1/holds/{hold_id}/cancel") for _ in range(4)
        ]
        answers = await asyncio.gather(*calls)
        winners = [answer for answer in answers if answer.status_code == 200]
        assert len(winners) == 1, [answer.text for answer in answers]
        losers = {answer.json()["code"] for answer in answers if answer.status_code != 200}
        assert losers <= {"hold_already_committed", "hold_already_cancelled"}
    await assert_ledger_clean(api.runtime)


async def test_returning_a_line_gives_back_its_points_and_claws_back_its_earnings(
    api: Api,
) -> None:
    assert (await put_rules(api, auto_service | {"activation_delay_days": 0})).status_code == 200
    customer = await api.customer(points=10_000)
    hold = await reserve(api, customer, 3000, "R-1", lines=receipt)
    bought = (await commit(api, hold.json()["id"])).json()
    assert (await api.balance(customer))["available"] == 7000 + 350

    work = await return_lines(api, bought["id"], [("work", 1)], "RET-1")

    assert work.status_code == 201, work.text
    body = work.json()
    # The work line: 6,000 rubles, 1,800 paid with points, 4,200 in money earning 210.
    assert (body["points_returned"], body["points_clawed_back"]) == (1800, 210)
    assert (body["points"], body["returned_points"]) == (1800 - 210, 1800)
    assert await legs(api, body["id"]) == {"customer": 1590, "redeemed": -1800, "issued": 210}
    assert (await api.balance(customer))["available"] == 7350 + 1590
    original = (await api.get(f"/v1/operations/{bought['id']}")).json()
    assert (original["status"], original["returned_points"], original["refunded_points"]) == (
        "partially_refunded",
        1800,
        210,
    )

    rest = await return_lines(api, bought["id"], [("oil", 1)], "RET-2")
    assert (rest.json()["points_returned"], rest.json()["points_clawed_back"]) == (1200, 140)
    original = (await api.get(f"/v1/operations/{bought['id']}")).json()
    assert original["status"] == "refunded"
    assert (await api.balance(customer))["available"] == 10_000
    again = await return_lines(api, bought["id"], [("oil", 1)], "RET-3")
    assert (again.status_code, again.json()["code"]) == (409, "refund_exceeds_original")
    await assert_ledger_clean(api.runtime)


async def test_a_return_whose_earnings_were_spent_is_covered_by_the_points_given_back(
    api: Api,
) -> None:
    assert (await put_rules(api, auto_service | {"activation_delay_days": 0})).status_code == 200
    customer = await api.customer(points=3000)
    hold = await reserve(api, customer, 3000, "R-1", lines=receipt)
    bought = (await commit(api, hold.json()["id"])).json()
    spend = await reserve(api, customer, 350, "R-2")  # the earned points, all spent
    assert (await commit(api, spend.json()["id"])).status_code == 200
    assert (await api.balance(customer))["available"] == 0

    work = await return_lines(api, bought["id"], [("work", 1)], "RET-1")

    body = work.json()
    assert (body["points_returned"], body["points_clawed_back"]) == (1800, 210)
    assert (body["debt_points"], body["withhold_minor"]) == (0, 0)
    assert (await api.balance(customer))["available"] == 1590
    await assert_ledger_clean(api.runtime)


@pytest.mark.parametrize("body", [{"points": 10}, {}], ids=["by-points", "whole"])
async def test_a_purchase_paid_with_points_is_returned_by_lines_only(
    api: Api, body: dict[str, Any]
) -> None:
    customer = await customer_with_points(api)
    hold = await reserve(api, customer, 3000, "R-1", lines=receipt)
    bought = (await commit(api, hold.json()["id"])).json()

    refused = await api.post(
        f"/v1/operations/{bought['id']}/refunds", {"document": {"id": "RET-1"}, **body}
    )

    assert (refused.status_code, refused.json()["code"]) == (409, "operation_not_refundable")
    assert "lines" in refused.json()["detail"]
    assert await statement_types(api, customer) == ["accrual", "reserve", "purchase"]


async def test_points_whose_lot_expired_come_back_in_a_new_lot_the_claw_back_takes_from(
    api: Api,
) -> None:
    """The one write where a later leg takes from the lot an earlier leg of the same operation
    created: the new lot is written as it ends up, and reconcile agrees."""
    assert (await put_rules(api, auto_service | {"activation_delay_days": 0})).status_code == 200
    customer = await api.customer()
    expiring = datetime.now(UTC) + timedelta(days=30)
    accrual = await api.accrue(customer, 3000, expires_at=expiring.isoformat())
    hold = await reserve(api, customer, 3000, "R-1", lines=receipt)
    bought = (await commit(api, hold.json()["id"])).json()
    spend = await reserve(api, customer, 350, "R-2")
    assert (await commit(api, spend.json()["id"])).status_code == 200
    # The lot runs out now, as if its 30 days had passed (no race with a clock mid-setup).
    await api.runtime.pool.execute(
        "update lots set expires_at = clock_timestamp() where operation_id = $1::uuid",
        accrual["id"],
    )

    work = await return_lines(api, bought["id"], [("work", 1)], "RET-1")

    assert work.status_code == 201, work.text
    assert (work.json()["points_returned"], work.json()["points_clawed_back"]) == (1800, 210)
    async with api.runtime.pool.acquire() as connection:
        reissued = await connection.fetchrow(
            "select points, remaining from lots where operation_id = $1", work.json()["id"]
        )
    assert (reissued["points"], reissued["remaining"]) == (1800, 1590)
    assert (await api.balance(customer))["available"] == 1590
    await assert_ledger_clean(api.runtime)
