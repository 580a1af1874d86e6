"""The cash-register protocol, driven the way a till drives it: identify the customer, price
the basket, reserve with the soft cheque, commit with the fiscal cheque (or cancel), return
lines against the original cheque; every call keyed by the till's own cheque id, every mutating
call replayed with its Idempotency-Key; a reservation that timed out, a fiscal cheque sent
twice, a return larger than the cheque, and an offline till posting its cheques late."""

import asyncio
from typing import Any

import pytest

from processing.service.admin import create_key
from tests.api.test_loyalty_rules_and_checkout import auto_service, put_rules, receipt_line
from tests.conftest import Api
from tests.invariants import assert_ledger_clean

basket = [receipt_line("oil", 4000), receipt_line("work", 6000)]  # 10,000 rubles
fiscal = {"receipt_number": "000123", "fn": "7281440500123456", "fd": "4521", "fp": "2882131223"}


async def till(api: Api, path: str, body: Any, *, key: str | None = None, **kw: Any) -> Any:
    return await api.post(f"/pos/v1{path}", body, key=key, **kw)


async def customer_at_till(api: Api, points: int = 10_000) -> str:
    rules = auto_service | {"activation_delay_days": 0}
    assert (await put_rules(api, rules)).status_code == 200
    customer = await api.customer(phone="+79161234567", points=points)
    card = await api.post(f"/v1/customers/{customer}/cards", {"number": "2000-0001"})
    assert card.status_code == 201, card.text
    return customer


async def test_a_sale_paid_partly_with_points_from_identify_to_return(api: Api) -> None:
    customer = await customer_at_till(api)

    found = await till(
        api, "/identify", {"identifier": {"type": "phone", "value": "8 916 123-45-67"}}
    )
    assert found.status_code == 200, found.text
    assert (found.json()["customer_id"], found.json()["tier"]) == (customer, "silver")
    assert found.json()["balance"]["available"] == 10_000

    quote = await till(
        api, "/calculate", {"customer_id": customer, "lines": basket, "redeem_points": 3000}
    )
    assert (quote.json()["max_redeemable_points"], quote.json()["earned_points"]) == (5000, 350)

    soft = await till(
        api,
        "/cheques/CHK-1/reserve",
        {"customer_id": customer, "points": 3000, "lines": basket},
        idempotency_key="till-1-reserve-CHK-1",
    )
    assert soft.status_code == 201, soft.text
    assert (soft.json()["document_id"], soft.json()["has_receipt"]) == ("CHK-1", True)

    body = {"lines": basket, "fiscal": fiscal}
    fiscal_cheque = await till(api, "/cheques/CHK-1/commit", body, idempotency_key="commit-CHK-1")
    assert fiscal_cheque.status_code == 200, fiscal_cheque.text
    committed = fiscal_cheque.json()
    assert (committed["type"], committed["document"]["id"]) == ("purchase", "CHK-1")
    assert (committed["redeemed_points"], committed["receipt"]["earned_points"]) == (3000, 350)
    replayed = await till(api, "/cheques/CHK-1/commit", body, idempotency_key="commit-CHK-1")
    assert replayed.content == fiscal_cheque.content
    async with api.runtime.pool.acquire() as connection:
        kept = await connection.fetchval(
            "select fiscal->>'fn' from purchases where operation_id = $1", committed["id"]
        )
    assert kept == fiscal["fn"]

    returned = await till(
        api,
        "/cheques/CHK-1/returns",
        {"return_id": "RET-1", "lines": [{"line_id": "work", "quantity": 1}]},
    )
    assert returned.status_code == 201, returned.text
    assert (returned.json()["points_returned"], returned.json()["points_clawed_back"]) == (
        1800,
        210,
    )
    too_much = await till(
        api,
        "/cheques/CHK-1/returns",
        {"return_id": "RET-2", "lines": [{"line_id": "work", "quantity": 1}]},
    )
    assert (too_much.status_code, too_much.json()["code"]) == (409, "refund_exceeds_original")
    card = await till(api, "/identify", {"identifier": {"type": "qr", "value": "2000-0001"}})
    assert card.json()["balance"]["available"] == 10_000 - 3000 + 350 + 1800 - 210
    await assert_ledger_clean(api.runtime)


async def test_a_fiscal_cheque_sent_twice_under_new_keys_applies_once(api: Api) -> None:
    customer = await customer_at_till(api)
    await till(
        api, "/cheques/CHK-2/reserve", {"customer_id": customer, "points": 100, "lines": basket}
    )
    stranger = await api.customer(phone="+79160000009")
    wrong = await till(api, "/cheques/CHK-2/commit", {"lines": basket, "customer_id": stranger})
    assert (wrong.status_code, wrong.json()["field"]) == (400, "customer_id")
    first = await till(api, "/cheques/CHK-2/commit", {"lines": basket, "customer_id": customer})
    second = await till(api, "/cheques/CHK-2/commit", {"lines": basket})
    assert first.status_code == 200, first.text
    assert (second.status_code, second.json()["code"]) == (409, "hold_already_committed")
    await assert_ledger_clean(api.runtime)


async def test_a_reservation_that_timed_out_cannot_be_committed(api: Api) -> None:
    customer = await customer_at_till(api)
    soft = await till(
        api,
        "/cheques/CHK-3/reserve",
        {"customer_id": customer, "points": 100, "lines": basket, "ttl_seconds": 10},
    )
    await api.runtime.pool.execute(
        "update holds set expires_at = clock_timestamp() where id = $1", soft.json()["id"]
    )
    late = await till(api, "/cheques/CHK-3/commit", {"lines": basket})
    assert (late.status_code, late.json()["code"]) == (409, "hold_expired")
    swept = await api.post("/v1/expirations", None, key=api.admin_key)
    assert swept.json()["expired_holds"] == 1
    assert (await api.balance(customer))["available"] == 10_000  # nothing spent, nothing earned
    statement = (await api.get(f"/v1/customers/{customer}/operations")).json()["items"]
    assert [item["type"] for item in statement] == ["expire", "reserve", "accrual"]


async def test_an_abandoned_sale_releases_its_points(api: Api) -> None:
    customer = await customer_at_till(api)
    await till(
        api, "/cheques/CHK-4/reserve", {"customer_id": customer, "points": 500, "lines": basket}
    )
    assert (await api.balance(customer))["available"] == 9_500
    cancelled = await till(api, "/cheques/CHK-4/cancel", None)
    assert (cancelled.status_code, cancelled.json()["status"]) == (200, "cancelled")
    assert (await api.balance(customer))["available"] == 10_000
    nothing = await till(api, "/cheques/CHK-none/cancel", None)
    assert (nothing.status_code, nothing.json()["code"]) == (404, "hold_not_found")


async def test_an_offline_till_posts_its_cheques_late_and_each_applies_once(api: Api) -> None:
    customer = await customer_at_till(api, points=0)
    late = [
        till(api, f"/cheques/OFF-{n}/commit", {"customer_id": customer, "lines": basket})
        for n in range(3)
    ]
    answers = await asyncio.gather(*late)
    assert [answer.status_code for answer in answers] == [200, 200, 200]
    assert all(answer.json()["receipt"]["earned_points"] == 500 for answer in answers)
    again = await till(api, "/cheques/OFF-1/commit", {"customer_id": customer, "lines": basket})
    assert (again.status_code, again.json()["code"]) == (409, "duplicate_document")
    assert (await api.balance(customer))["available"] == 1500

    spends = await till(
        api, "/cheques/OFF-9/commit", {"customer_id": customer, "lines": basket, "points": 100}
    )
    assert (spends.status_code, spends.json()["code"]) == (409, "reservation_required")
    nameless = await till(api, "/cheques/OFF-10/commit", {"lines": basket})
    assert (nameless.status_code, nameless.json()["field"]) == (400, "customer_id")
    assert (await api.balance(customer))["available"] == 1500
    await assert_ledger_clean(api.runtime)


async def test_a_till_sees_only_its_own_stores_cheques(api: Api) -> None:
    customer = await customer_at_till(api)
    await till(
        api, "/cheques/CHK-5/reserve", {"customer_id": customer, "points": 100, "lines": basket}
    )
    async with api.runtime.database.transaction() as store:
        other = await create_key(store, api.program_id_uuid, "till 9", ["pos"], "store-9")
    assert other.key is not None
    foreign = await till(api, "/cheques/CHK-5/commit", {"lines": basket}, key=other.key)
    assert foreign.status_code == 400  # no reservation there, and no customer named
    cancel = await till(api, "/cheques/CHK-5/cancel", None, key=other.key)
    assert cancel.status_code == 404
    assert (await api.balance(customer))["reserved"] == 100


@pytest.mark.parametrize(
    ("identifier", "status", "code"),
    [
        pytest.param({"type": "phone", "value": "+79160000000"}, 404, "not_found", id="unknown"),
        pytest.param({"type": "phone", "value": "12"}, 400, "validation_error", id="bad-phone"),
        pytest.param({"type": "card", "value": "9999"}, 404, "not_found", id="unknown-card"),
        pytest.param({"type": "app", "value": "123456"}, 400, "validation_error", id="bad-type"),
    ],
)
async def test_an_unknown_customer_at_the_till_is_named_clearly(
    api: Api, identifier: dict[str, str], status: int, code: str
) -> None:
    await customer_at_till(api)
    answer = await till(api, "/identify", {"identifier": identifier})
    assert (answer.status_code, answer.json()["code"]) == (status, code)


async def test_a_blocked_card_is_refused_at_the_till(api: Api) -> None:
    await customer_at_till(api)
    blocked = await api.post("/v1/cards/2000-0001/block", {"reason": "lost"})
    assert blocked.status_code == 200, blocked.text
    answer = await till(api, "/identify", {"identifier": {"type": "card", "value": "2000-0001"}})
    assert (answer.status_code, answer.json()["code"]) == (409, "card_blocked")


async def test_only_till_keys_speak_the_till_protocol(api: Api) -> None:
    await customer_at_till(api)
    answer = await till(
        api,
        "/identify",
        {"identifier": {"type": "phone", "value": "+79161234567"}},
        key=api.admin_key,
    )
    assert (answer.status_code, answer.json()["code"]) == (403, "forbidden_scope")


async def test_an_offline_till_may_post_points_it_let_pay_up_to_the_programs_cap(
    api: Api,
) -> None:
    rules = auto_service | {
        "activation_delay_days": 0,
        "redemption": auto_service["redemption"] | {"offline_cap_points": 200},
    }
    assert (await put_rules(api, rules)).status_code == 200
    customer = await api.customer(points=1000)
    body = {"customer_id": customer, "lines": basket, "points": 150}

    late = await till(api, "/cheques/OFF-1/commit", body, idempotency_key="late-OFF-1")

    assert late.status_code == 200, late.text
    assert (late.json()["type"], late.json()["redeemed_points"]) == ("purchase", 150)
    assert late.json()["receipt"]["earned_points"] == 492  # 5 % (silver) of 9,850 rubles
    replay = await till(api, "/cheques/OFF-1/commit", body, idempotency_key="late-OFF-1")
    assert replay.content == late.content
    again = await till(api, "/cheques/OFF-1/commit", body)
    assert (again.status_code, again.json()["code"]) == (409, "duplicate_document")
    over = await till(api, "/cheques/OFF-2/commit", body | {"points": 201})
    assert (over.status_code, over.json()["code"]) == (409, "reservation_required")
    assert (await api.balance(customer))["available"] == 1000 - 150 + 492
    await assert_ledger_clean(api.runtime)
