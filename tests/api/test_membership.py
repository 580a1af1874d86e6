"""Paid membership (decision 0035) through the API: levels defined by the admin, a membership
bought, renewed and cancelled with money (each refusal a clear 4xx naming its field, writing
nothing), its privileges applied at calculate, the till and the web shop while active or in
grace and not after lapse, the sweep's grace and lapse told once even by sweeps at once, and
renewals and purchases at once applied once."""

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest

from processing.core.membership import Period, add_months
from processing.service.admin import create_key
from processing.service.ledger.reconcile import reconcile
from processing.service.loyalty.membership import sweep_memberships
from tests.api.test_loyalty_rules_and_checkout import put_rules, receipt_line
from tests.conftest import Api
from tests.invariants import assert_ledger_clean

rub = 100
# 3 % base, 5 % at silver (from 0), a point worth a ruble, points at once.
rules: dict[str, Any] = {
    "point_value_minor": rub,
    "earning": {"base_bp": 300, "excluded_categories": ["tobacco"]},
    "tiers": [{"name": "silver", "threshold_minor": 0, "earn_bp": 500}],
    "activation_delay_days": 0,
}
club: dict[str, Any] = {
    "name": "Клуб",
    "price_minor": 299 * rub,
    "currency": "RUB",
    "period": "month",
    "grace_days": 5,
    "privileges": {
        "earn_bp": 1000,
        "earn_mode": "replace",
        "discount_bp": 500,
        "free_delivery": True,
    },
    "cancellation": "pro_rata",
}
basket = [receipt_line("oil", 1000), receipt_line("cigars", 2000, "tobacco")]


async def make_level(api: Api, **fields: Any) -> Any:
    return await api.post(
        f"/v1/programs/{api.program_id}/membership-levels", club | fields, key=api.admin_key
    )


async def level_id(api: Api, **fields: Any) -> str:
    made = await make_level(api, **fields)
    assert made.status_code == 201, made.text
    found: str = made.json()["id"]
    return found


async def buy(api: Api, customer: str, level: str, document: str = "M-1", **fields: Any) -> Any:
    body = {
        "level_id": level,
        "amount_minor": 299 * rub,
        "currency": "RUB",
        "document": {"id": document},
    } | fields
    return await api.post(f"/v1/customers/{customer}/membership/purchase", body)


async def renew(api: Api, customer: str, document: str, **kw: Any) -> Any:
    body = {"amount_minor": 299 * rub, "currency": "RUB", "document": {"id": document}}
    return await api.post(f"/v1/customers/{customer}/membership/renew", body, **kw)


async def cancel(api: Api, customer: str, document: str) -> Any:
    body = {"document": {"id": document}}
    return await api.post(f"/v1/customers/{customer}/membership/cancel", body)


async def quote(api: Api, customer: str) -> Any:
    answered = await api.post(
        "/v1/checkout/calculate", {"customer_id": customer, "lines": basket}, idempotency_key=None
    )
    assert answered.status_code == 200, answered.text
    return answered.json()


async def written(api: Api) -> tuple[int, int, int]:
    async with api.runtime.pool.acquire() as connection:
        row = await connection.fetchrow(
            "select (select count(*) from memberships) as m,"
            " (select count(*) from membership_payments) as p,"
            " (select count(*) from outbox where type like 'membership.%') as e"
        )
    assert row is not None
    return int(row["m"]), int(row["p"]), int(row["e"])


async def events(api: Api) -> list[str]:
    async with api.runtime.pool.acquire() as connection:
        rows = await connection.fetch(
            "select type from outbox where type like 'membership.%' order by id"
        )
    return [row["type"] for row in rows]


async def backdate(api: Api, customer: str, days: float) -> None:
    """Moves the customer's membership chain ``days`` into the past, its ends recomputed from
    the anchor as the core computes them (time passing, without waiting for it)."""
    async with api.runtime.pool.acquire() as connection:
        row = await connection.fetchrow(
            "select m.id, m.anchor_at, m.periods, l.grace_days from memberships m"
            " join membership_levels l on l.id = m.level_id"
            " where m.customer_id = $1 order by m.created_at desc limit 1",
            UUID(customer),
        )
        assert row is not None
        anchor = row["anchor_at"].astimezone(UTC) - timedelta(days=days)
        ends = add_months(anchor, row["periods"])
        await connection.execute(
            "update memberships set anchor_at = $2, ends_at = $3, grace_ends_at = $4 where id = $1",
            row["id"],
            anchor,
            ends,
            ends + timedelta(days=row["grace_days"]),
        )
        await connection.execute(
            "update membership_payments set period_starts_at = period_starts_at - $2::interval,"
            " period_ends_at = period_ends_at - $2::interval where membership_id = $1",
            row["id"],
            timedelta(days=days),
        )


async def test_levels_are_made_listed_and_refused_naming_the_field(api: Api) -> None:
    made = await make_level(api)
    assert made.status_code == 201, made.text
    assert made.json()["privileges"]["earn_mode"] == "replace"

    dollars = await make_level(api, name="Dollar club", currency="USD")
    twice = await make_level(api)
    long_grace = await make_level(api, name="Long", grace_days=91)
    free = await make_level(api, name="Free", price_minor=0)
    over = await make_level(api, name="Over", privileges={"discount_bp": 10_001})
    assert (dollars.status_code, dollars.json()["field"]) == (400, "currency")
    assert (twice.status_code, twice.json()["code"], twice.json()["field"]) == (
        409,
        "membership_level_exists",
        "name",
    )
    for refused in (long_grace, free, over):
        assert refused.status_code == 400, refused.text
    listed = await api.get(f"/v1/programs/{api.program_id}/membership-levels", key=api.admin_key)
    assert [level["name"] for level in listed.json()["items"]] == ["Клуб"]


async def test_every_refusal_of_a_purchase_names_its_field_and_writes_nothing(api: Api) -> None:
    level = await level_id(api)
    customer = await api.customer()
    stranger = "00000000-0000-4000-8000-000000000000"

    refusals = [
        (await buy(api, customer, stranger), 404, "not_found", "level_id"),
        (
            await buy(api, customer, level, amount_minor=298 * rub),
            400,
            "validation_error",
            "amount_minor",
        ),
        (await buy(api, customer, level, currency="USD"), 400, "validation_error", "currency"),
        (await buy(api, stranger, level), 404, "not_found", None),
    ]
    for answered, status, code, field in refusals:  # the body's field, or none for the path
        assert answered.status_code == status, answered.text
        assert answered.json().get("field") == field
        assert answered.json()["code"] == code
    assert await written(api) == (0, 0, 0)

    assert (await buy(api, customer, level, "M-1")).status_code == 201
    again = await buy(api, customer, level, "M-2")
    reused = await buy(api, await api.customer("+79120000002"), level, "M-1")
    assert (again.status_code, again.json()["code"]) == (409, "membership_exists")
    assert (reused.status_code, reused.json()["code"], reused.json()["field"]) == (
        409,
        "duplicate_document",
        "document.id",
    )
    assert await written(api) == (1, 1, 1)


async def test_renewal_and_cancellation_refusals_write_nothing(api: Api) -> None:
    level = await level_id(api)
    customer = await api.customer()
    none = await renew(api, customer, "R-1")
    nothing = await cancel(api, customer, "C-1")
    assert (none.status_code, none.json()["code"]) == (409, "membership_not_active")
    assert (nothing.status_code, nothing.json()["code"]) == (409, "membership_not_active")

    assert (await buy(api, customer, level, "M-1")).status_code == 201
    short = await api.post(
        f"/v1/customers/{customer}/membership/renew",
        {"amount_minor": 1, "currency": "RUB", "document": {"id": "R-1"}},
    )
    taken = await renew(api, customer, "M-1")  # a purchase's document may renew: other type
    assert (short.status_code, short.json()["field"]) == (400, "amount_minor")
    assert taken.status_code == 200, taken.text
    twice = await renew(api, customer, "M-1")
    assert (twice.status_code, twice.json()["field"]) == (409, "document.id")
    assert await written(api) == (1, 2, 2)
    await assert_ledger_clean(api.runtime)


async def test_a_membership_starts_renews_lapses_and_its_privileges_follow(api: Api) -> None:
    assert (await put_rules(api, rules)).status_code == 200
    level = await level_id(api)
    customer = await api.customer()
    plain = await quote(api, customer)
    assert (plain["earned_points"], plain.get("membership")) == (50, None)  # 5 % of 1 000

    bought = await buy(api, customer, level, "M-1")
    assert bought.status_code == 201, bought.text
    started = bought.json()
    assert (started["state"], started["periods"], started["payment"]["amount_minor"]) == (
        "active",
        1,
        299 * rub,
    )

    member = await quote(api, customer)
    assert member["earned_points"] == 100  # 10 % replaces the tier's 5 %; tobacco earns nothing
    assert member["membership"]["privileges"]["free_delivery"] is True
    assert [line["membership_discount_minor"] for line in member["lines"]] == [50 * rub, 0]

    at_till = await api.post(
        "/pos/v1/cheques/CHK-1/commit", {"customer_id": customer, "lines": basket}
    )
    assert at_till.status_code == 200, at_till.text
    receipt = at_till.json()["receipt"]
    assert (receipt["earned_points"], receipt["membership"]["state"]) == (100, "active")

    renewed = await renew(api, customer, "R-1")
    assert renewed.status_code == 200, renewed.text
    assert renewed.json()["periods"] == 2
    assert renewed.json()["payment"]["period_starts_at"] == started["ends_at"]

    await backdate(api, customer, 62)  # two months on: the second period has ended
    await sweep_memberships(api.runtime.database)
    graced = await quote(api, customer)
    assert (graced["earned_points"], graced["membership"]["state"]) == (100, "grace")
    found = await api.post(
        "/pos/v1/identify",
        {"identifier": {"type": "phone", "value": "+79120000001"}},
        idempotency_key=None,
    )
    assert found.json()["membership"]["state"] == "grace"
    card = await api.get(f"/v1/customers/{customer}")
    assert card.json()["membership"]["state"] == "grace"

    await backdate(api, customer, 6)  # past the 5 days of grace
    await sweep_memberships(api.runtime.database)
    lapsed = await quote(api, customer)
    assert (lapsed["earned_points"], lapsed.get("membership")) == (50, None)
    after = await api.post(
        "/pos/v1/cheques/CHK-2/commit", {"customer_id": customer, "lines": basket}
    )
    assert after.json()["receipt"]["earned_points"] == 50
    read = await api.get(f"/v1/customers/{customer}/membership")
    assert read.json()["state"] == "lapsed"
    assert (await api.get(f"/v1/customers/{customer}")).json()["membership"] is None
    late = await renew(api, customer, "R-2")
    assert (late.status_code, late.json()["code"]) == (409, "membership_not_active")

    assert await events(api) == [
        "membership.started",
        "membership.renewed",
        "membership.lapsing",
        "membership.lapsed",
    ]
    again = await buy(api, customer, level, "M-2")  # a new chain
    assert (again.status_code, again.json()["periods"]) == (201, 1)
    await assert_ledger_clean(api.runtime)


async def test_the_web_shop_is_told_the_discount_and_free_delivery(api: Api) -> None:
    assert (await put_rules(api, rules)).status_code == 200
    customer = await api.customer()
    assert (await buy(api, customer, await level_id(api))).status_code == 201
    async with api.runtime.database.transaction() as store:
        created = await create_key(store, api.program_id_uuid, "web shop", ["shop"], None)
    assert created.key is not None
    priced = await api.post(
        "/shop/v1/calculate",
        {"customer_id": customer, "lines": basket},
        key=created.key,
        idempotency_key=None,
    )
    assert priced.status_code == 200, priced.text
    assert priced.json()["membership"]["privileges"]["free_delivery"] is True
    assert priced.json()["lines"][0]["membership_discount_minor"] == 50 * rub

    # The order as the shop sends it, the member's discount taken off the oil: it earns 10 %
    # of the 950 rubles paid, and a return of the oil takes back exactly that.
    oil = receipt_line("oil", 1000) | {"discount_minor": 50 * rub}
    paid = await api.post(
        "/shop/v1/orders/7001/pay",
        {"customer_id": customer, "lines": [oil, basket[1]]},
        key=created.key,
    )
    assert paid.status_code == 200, paid.text
    receipt = paid.json()["receipt"]
    assert (receipt["earned_points"], receipt["membership"]["state"]) == (95, "active")
    returned = await api.post(
        "/shop/v1/orders/7001/returns",
        {"return_id": "rma-1", "lines": [{"line_id": "oil", "quantity": 1}]},
        key=created.key,
    )
    assert returned.status_code == 201, returned.text
    assert returned.json()["points_clawed_back"] == 95
    await assert_ledger_clean(api.runtime)


async def test_a_reserved_cheque_commits_at_the_members_rate(api: Api) -> None:
    assert (await put_rules(api, rules)).status_code == 200
    customer = await api.customer(points=1000)
    assert (await buy(api, customer, await level_id(api))).status_code == 201
    soft = await api.post(
        "/pos/v1/cheques/CHK-9/reserve", {"customer_id": customer, "points": 100, "lines": basket}
    )
    assert soft.status_code == 201, soft.text
    fiscal = await api.post("/pos/v1/cheques/CHK-9/commit", {"lines": basket})
    assert fiscal.status_code == 200, fiscal.text
    receipt = fiscal.json()["receipt"]
    # The 100 points are spread over both lines; the money left on the oil earns the member's
    # 10 % and the cigars nothing (the rules exclude tobacco from earning).
    earned = sum(line["earned_points"] for line in receipt["lines"])
    assert receipt["earned_points"] == earned
    assert receipt["lines"][1]["earned_points"] == 0  # tobacco earns nothing, member or not
    assert receipt["membership"]["privileges"]["earn_bp"] == 1000
    money_on_oil = receipt["lines"][0]["money_minor"]
    assert receipt["lines"][0]["earned_points"] == money_on_oil * 1000 // (10_000 * rub)
    await assert_ledger_clean(api.runtime)


async def test_cancellation_refunds_the_unused_whole_days_pro_rata(api: Api) -> None:
    level = await level_id(api)
    customer = await api.customer()
    assert (await buy(api, customer, level)).status_code == 201
    await backdate(api, customer, 10.5)

    cancelled = await cancel(api, customer, "C-1")
    assert cancelled.status_code == 200, cancelled.text
    body = cancelled.json()
    days = (
        datetime.fromisoformat(body["ends_at"]) - datetime.fromisoformat(body["anchor_at"])
    ).days
    unused = (datetime.fromisoformat(body["ends_at"]) - datetime.now(UTC)).days
    assert body["state"] == "cancelled"
    assert body["refund_minor"] == 299 * rub * unused // days
    assert body["payment"]["type"] == "refund"
    assert (await quote(api, customer)).get("membership") is None
    assert (await cancel(api, customer, "C-2")).status_code == 409
    assert (await events(api))[-1] == "membership.cancelled"
    await assert_ledger_clean(api.runtime)


async def test_cancelling_after_an_early_renewal_refunds_the_period_ahead_whole(
    api: Api,
) -> None:
    level = await level_id(api)
    customer = await api.customer()
    assert (await buy(api, customer, level)).status_code == 201
    assert (await renew(api, customer, "R-1")).status_code == 200  # a month ahead

    cancelled = await cancel(api, customer, "C-1")

    assert cancelled.status_code == 200, cancelled.text
    body = cancelled.json()
    anchor = datetime.fromisoformat(body["anchor_at"])
    first_end = add_months(anchor, 1)
    days = (first_end - anchor).days
    unused = (first_end - datetime.now(UTC)).days
    assert body["payment"]["period_starts_at"] == body["anchor_at"]  # the period it is in
    assert body["refund_minor"] == 299 * rub + 299 * rub * unused // days
    await assert_ledger_clean(api.runtime)


async def test_no_refund_cancels_with_nothing_back(api: Api) -> None:
    level = await level_id(api, name="Kept", cancellation="no_refund")
    customer = await api.customer()
    assert (await buy(api, customer, level)).status_code == 201
    cancelled = await cancel(api, customer, "C-1")
    assert (cancelled.json()["state"], cancelled.json()["refund_minor"]) == ("cancelled", 0)


async def test_renewals_at_once_with_one_document_apply_once(api: Api) -> None:
    level = await level_id(api)
    customer = await api.customer()
    assert (await buy(api, customer, level)).status_code == 201

    answers = await asyncio.gather(*(renew(api, customer, "R-1") for _ in range(8)))

    assert sorted(answer.status_code for answer in answers) == [200] + [409] * 7
    read = await api.get(f"/v1/customers/{customer}/membership")
    assert read.json()["periods"] == 2
    assert await written(api) == (1, 2, 2)
    await assert_ledger_clean(api.runtime)


async def test_renewals_at_once_with_their_own_documents_each_add_a_period(api: Api) -> None:
    level = await level_id(api)
    customer = await api.customer()
    assert (await buy(api, customer, level)).status_code == 201

    answers = await asyncio.gather(*(renew(api, customer, f"R-{n}") for n in range(5)))

    assert [answer.status_code for answer in answers] == [200] * 5
    read = await api.get(f"/v1/customers/{customer}/membership")
    assert read.json()["periods"] == 6
    await assert_ledger_clean(api.runtime)


async def test_purchases_at_once_start_one_membership(api: Api) -> None:
    level = await level_id(api)
    customer = await api.customer()

    answers = await asyncio.gather(*(buy(api, customer, level, f"M-{n}") for n in range(8)))

    assert sorted(answer.status_code for answer in answers) == [201] + [409] * 7
    assert await written(api) == (1, 1, 1)


async def test_sweeps_at_once_tell_grace_and_lapse_once(api: Api) -> None:
    level = await level_id(api)
    customers = [await api.customer(f"+7912000010{n}") for n in range(4)]
    for n, customer in enumerate(customers):
        assert (await buy(api, customer, level, f"M-{n}")).status_code == 201
        await backdate(api, customer, 32)  # in grace

    await asyncio.gather(*(sweep_memberships(api.runtime.database) for _ in range(6)))
    assert (await events(api)).count("membership.lapsing") == 4

    for customer in customers:
        await backdate(api, customer, 10)
    await asyncio.gather(*(sweep_memberships(api.runtime.database) for _ in range(6)))
    assert (await events(api)).count("membership.lapsed") == 4
    await assert_ledger_clean(api.runtime)


@pytest.mark.parametrize("period", [Period.month])
def test_the_helpers_backdate_with_the_cores_months(period: Period) -> None:
    anchor = datetime(2026, 1, 31, tzinfo=UTC)
    assert add_months(anchor, 1) == datetime(2026, 2, 28, tzinfo=UTC)


async def test_a_merged_customers_membership_is_the_survivors(api: Api) -> None:
    assert (await put_rules(api, rules)).status_code == 200
    level = await level_id(api)
    survivor, duplicate = await api.customer(), await api.customer("+79120000002")
    assert (await buy(api, duplicate, level, "M-1")).status_code == 201
    merged = await api.post(
        f"/v1/customers/{survivor}/merge",
        {"from_customer_id": duplicate, "reason": "one person, two records"},
        key=api.admin_key,
    )
    assert merged.status_code == 200, merged.text

    assert (await quote(api, survivor))["membership"]["state"] == "active"
    assert (await api.get(f"/v1/customers/{survivor}")).json()["membership"] is not None
    second = await buy(api, survivor, level, "M-2")
    assert (second.status_code, second.json()["code"]) == (409, "membership_exists")
    renewed = await renew(api, survivor, "R-1")
    assert (renewed.status_code, renewed.json()["periods"]) == (200, 2)
    await assert_ledger_clean(api.runtime)


async def test_reconcile_reports_a_membership_whose_money_does_not_add_up(api: Api) -> None:
    customer = await api.customer()
    bought = await buy(api, customer, await level_id(api))
    assert bought.status_code == 201
    assert (await reconcile(api.runtime.database)).differences == []
    async with api.runtime.pool.acquire() as connection:
        await connection.execute("update memberships set periods = 2")  # a period unpaid

    found = (await reconcile(api.runtime.database)).differences

    assert found == [
        f"membership {bought.json()['id']}: 2 periods, 1 paid, 0 refunds, refund 0 of {299 * rub}"
    ]
