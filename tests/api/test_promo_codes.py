"""Promo codes (decision 0032): campaigns and their codes made by the admin, codes priced by
calculate (each applied or refused with its reason, never failing the calculation), applied once
by a purchase with the use counted in the purchase's own statement, taken back line by line by a
return, and counted in the campaign's usage."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from processing.core.promo import check_character
from tests.api.test_loyalty_rules_and_checkout import put_rules, receipt_line
from tests.api.test_purchases import purchase
from tests.api.test_returns_by_line import return_lines
from tests.conftest import Api, make_program
from tests.invariants import assert_ledger_clean

rub = 100
# 5 % on the money, a point worth a ruble, points at once.
rules: dict[str, Any] = {
    "point_value_minor": rub,
    "earning": {"base_bp": 500},
    "activation_delay_days": 0,
}


async def campaign(api: Api, **fields: Any) -> Any:
    body = {"name": "Осень", "effect": "bonus_points", "value": 100} | fields
    made = await api.post(f"/v1/programs/{api.program_id}/promo-campaigns", body, key=api.admin_key)
    assert made.status_code == 201, made.text
    return made.json()


async def codes(api: Api, campaign_id: str, **fields: Any) -> Any:
    return await api.post(
        f"/v1/programs/{api.program_id}/promo-campaigns/{campaign_id}/codes",
        fields,
        key=api.admin_key,
    )


async def shared(api: Api, text: str = "AUTUMN25", **fields: Any) -> str:
    made = await campaign(api, **fields)
    answer = await codes(api, made["id"], kind="shared", code=text)
    assert answer.status_code == 201, answer.text
    campaign_id: str = made["id"]
    return campaign_id


async def usage(api: Api, campaign_id: str) -> Any:
    read = await api.get(
        f"/v1/programs/{api.program_id}/promo-campaigns/{campaign_id}", key=api.admin_key
    )
    assert read.status_code == 200, read.text
    return read.json()


async def calculate(api: Api, customer: str, lines: list[Any], *promo: str) -> Any:
    quote = await api.post(
        "/v1/checkout/calculate",
        {"customer_id": customer, "lines": lines, "promo_codes": list(promo)},
        idempotency_key=None,
    )
    assert quote.status_code == 200, quote.text
    return quote.json()


async def test_a_shared_code_adds_its_points_over_the_lines_by_their_money(api: Api) -> None:
    assert (await put_rules(api, rules)).status_code == 200
    await shared(api, "AUTUMN25")
    customer = await api.customer()
    lines = [receipt_line("oil", 1000), receipt_line("brakes", 3000)]

    quote = await calculate(api, customer, lines, "autumn-25")

    assert quote["earned_points"] == 200 + 100
    assert [(line["promo_points"], line["earned_points"]) for line in quote["lines"]] == [
        (25, 50 + 25),
        (75, 150 + 75),
    ]
    [code] = quote["promo_codes"]
    assert (code["code"], code["applied"], code["points"]) == ("autumn-25", True, 100)


async def test_every_refusal_is_per_code_and_the_calculation_stands(api: Api) -> None:
    assert (await put_rules(api, rules)).status_code == 200
    now = datetime.now(UTC)
    await shared(api, "LATER", starts_at=(now + timedelta(days=1)).isoformat())
    await shared(
        api,
        "GONE",
        starts_at=(now - timedelta(days=2)).isoformat(),
        ends_at=(now - timedelta(days=1)).isoformat(),
    )
    await shared(api, "WEBONLY", channels=["shop"])
    await shared(api, "OTHERSTORE", stores=["store-9"])
    await shared(api, "BIGBASKET", min_amount_minor=100_000 * rub)
    await shared(api, "TYRES", categories=["tyres"])
    await shared(api, "ALONE", stacking="exclusive")
    await shared(api, "FIRST")
    batch = await campaign(api)
    made = (await codes(api, batch["id"], kind="batch", count=1)).json()["codes"][0]["code"]
    wrong = made[:-1] + next(c for c in "23456789ABCDEFGH" if c != made[-1])
    someone = await api.customer("+79120000099")
    personal = await campaign(api)
    mine = await codes(api, personal["id"], kind="personal", customer_id=someone, code="FORBOB")
    assert mine.status_code == 201, mine.text
    customer = await api.customer()
    lines = [receipt_line("oil", 1000)]
    typed = {
        "NOSUCH": "unknown",
        wrong: "mistyped",
        "later": "not_yet_valid",
        "gone": "expired",
        "webonly": "wrong_channel",
        "otherstore": "wrong_store",
        "bigbasket": "conditions_not_met",
        "tyres": "conditions_not_met",
        "forbob": "other_customer",
    }

    for text, reason in typed.items():
        quote = await calculate(api, customer, lines, text)
        [result] = quote["promo_codes"]
        assert (result["applied"], result["reason"]) == (False, reason), text
        assert quote["earned_points"] == 50, text

    stacked = await calculate(api, customer, lines, "first", "alone", "first")
    assert [(r["applied"], r["reason"]) for r in stacked["promo_codes"]] == [
        (True, None),
        (False, "not_stackable"),
        (False, "repeated"),
    ]
    assert stacked["earned_points"] == 50 + 100


async def test_more_codes_than_a_receipt_takes_are_refused_naming_the_field(api: Api) -> None:
    customer = await api.customer()
    answer = await api.post(
        "/v1/checkout/calculate",
        {"customer_id": customer, "lines": [receipt_line("oil", 10)], "promo_codes": ["A"] * 6},
        idempotency_key=None,
    )
    assert answer.status_code == 400, answer.text
    assert "promo_codes" in answer.text


async def test_a_purchase_applies_a_code_once_and_its_return_takes_the_points_back(
    api: Api,
) -> None:
    assert (await put_rules(api, rules)).status_code == 200
    campaign_id = await shared(api, "AUTUMN25", uses_per_customer_max=1)
    customer = await api.customer()
    lines = [receipt_line("oil", 1000), receipt_line("brakes", 3000)]
    body = {
        "document": {"id": "R-1"},
        "lines": lines,
        "promo_codes": ["Autumn25"],
    }

    bought = await api.post(f"/v1/customers/{customer}/purchases", body, idempotency_key="promo-1")
    again = await api.post(f"/v1/customers/{customer}/purchases", body, idempotency_key="promo-1")

    assert bought.status_code == 201, bought.text
    assert again.content == bought.content
    assert bought.json()["earned_points"] == 300
    assert bought.json()["promo_codes"][0]["points"] == 100
    used = await usage(api, campaign_id)
    assert (used["used"], used["points_given"], used["customers"]) == (1, 100, 1)
    assert (await api.balance(customer))["available"] == 300

    second = await purchase(api, customer, lines, "R-2", promo_codes=["AUTUMN25"])
    assert second.status_code == 409, second.text
    assert second.json()["code"] == "promo_code_refused"
    assert second.json()["field"] == "promo_codes[0]"
    assert "customer_cap_reached" in second.json()["detail"]
    assert (await api.balance(customer))["available"] == 300
    assert (await usage(api, campaign_id))["used"] == 1

    returned = await return_lines(api, bought.json()["operation"]["id"], [("brakes", 1)], "RET-1")
    assert returned.status_code == 201, returned.text
    assert returned.json()["points_clawed_back"] == 150 + 75
    assert (await api.balance(customer))["available"] == 75
    assert (await usage(api, campaign_id))["used"] == 1  # a return gives no use back
    await assert_ledger_clean(api.runtime)


@pytest.mark.parametrize(
    ("effect", "value", "points", "discount"),
    [
        pytest.param("earn_multiplier_bp", 30_000, [100, 300], [0, 0], id="triple"),
        pytest.param("extra_bp", 1000, [100, 300], [0, 0], id="extra 10 %"),
        pytest.param("discount_bp", 1500, [0, 0], [150 * rub, 450 * rub], id="discount"),
    ],
)
async def test_each_effect_gives_per_line(
    api: Api, effect: str, value: int, points: list[int], discount: list[int]
) -> None:
    assert (await put_rules(api, rules)).status_code == 200
    await shared(api, "EFFECT", effect=effect, value=value)
    customer = await api.customer()
    lines = [receipt_line("oil", 1000), receipt_line("brakes", 3000)]

    quote = await calculate(api, customer, lines, "effect")

    assert [line["promo_points"] for line in quote["lines"]] == points
    assert [line["promo_discount_minor"] for line in quote["lines"]] == discount
    assert quote["earned_points"] == 200 + sum(points)


async def test_campaign_validation_names_the_field_and_writes_nothing(api: Api) -> None:
    path = f"/v1/programs/{api.program_id}/promo-campaigns"
    now = datetime.now(UTC)
    cases = [
        ({"effect": "earn_multiplier_bp", "value": 5000}, "value"),
        ({"effect": "discount_bp", "value": 20_000}, "value"),
        ({"ends_at": (now - timedelta(days=1)).isoformat()}, "ends_at"),
        ({"name": "  "}, "name"),
        ({"effect": "free_beer"}, "effect"),
    ]
    for fields, field in cases:
        body = {"name": "x", "effect": "bonus_points", "value": 10} | fields
        refused = await api.post(path, body, key=api.admin_key)
        assert refused.status_code == 400, refused.text
        assert field in (refused.json().get("field") or refused.text), fields
    listed = await api.get(path, key=api.admin_key)
    assert listed.json()["items"] == []


async def test_codes_are_refused_clearly_and_a_taken_code_is_a_conflict(api: Api) -> None:
    made = await campaign(api)
    cases = [
        ({"kind": "shared"}, 400, "code"),
        ({"kind": "shared", "code": "ЛЕТО"}, 400, "code"),
        ({"kind": "batch"}, 400, "count"),
        ({"kind": "batch", "count": 1001}, 400, "count"),
        ({"kind": "personal"}, 400, "customer_id"),
        ({"kind": "personal", "customer_id": str(made["id"])}, 404, "customer_id"),
    ]
    for fields, status, field in cases:
        refused = await codes(api, made["id"], **fields)
        assert refused.status_code == status, (fields, refused.text)
        assert field in refused.text, fields
    assert (await codes(api, made["id"], kind="shared", code="summer-1")).status_code == 201
    taken = await codes(api, made["id"], kind="shared", code="SUMMER1")
    assert (taken.status_code, taken.json()["code"]) == (409, "promo_code_exists")
    assert (await usage(api, made["id"]))["codes"] == 1


async def test_another_programs_campaign_is_not_found(api: Api) -> None:

    made = await campaign(api)
    other, other_admin, _ = await make_program(api.runtime, "Other")
    for path in (
        f"/v1/programs/{other}/promo-campaigns/{made['id']}",
        f"/v1/programs/{other}/promo-campaigns/{made['id']}/codes/export",
    ):
        assert (await api.get(path, key=other_admin)).status_code == 404, path
    refused = await codes(api, made["id"], kind="batch", count=1)
    assert refused.status_code == 201
    stray = await api.post(
        f"/v1/programs/{other}/promo-campaigns/{made['id']}/codes",
        {"kind": "batch", "count": 1},
        key=other_admin,
    )
    assert stray.status_code == 404, stray.text


async def test_a_batch_is_unique_checked_and_exported_with_its_state(api: Api) -> None:
    assert (await put_rules(api, rules)).status_code == 200
    made = await campaign(api)
    batch = await codes(api, made["id"], kind="batch", count=50)
    assert batch.status_code == 201, batch.text
    texts = [code["code"] for code in batch.json()["codes"]]
    assert len(set(texts)) == 50
    assert all(len(text) == 12 and check_character(text[:-1]) == text[-1] for text in texts)
    assert not set("01IOL") & set("".join(texts))
    customer = await api.customer()
    bought = await purchase(
        api, customer, [receipt_line("oil", 1000)], "R-1", promo_codes=[texts[0].lower()]
    )
    assert bought.status_code == 201, bought.text
    again = await purchase(
        api, customer, [receipt_line("oil", 1000)], "R-2", promo_codes=[texts[0]]
    )
    assert "cap_reached" in again.json()["detail"]

    export = await api.get(
        f"/v1/programs/{api.program_id}/promo-campaigns/{made['id']}/codes/export",
        key=api.admin_key,
    )

    assert export.status_code == 200, export.text
    rows = [line.split(";") for line in export.text.lstrip("\ufeff").splitlines()]
    assert rows[0] == ["code", "kind", "customer_id", "uses_max", "used", "state", "created_at"]
    states = {row[0]: (row[4], row[5]) for row in rows[1:]}
    assert len(states) == 50
    assert states[texts[0]] == ("1", "exhausted")
    assert states[texts[1]] == ("0", "unused")


async def test_a_till_prices_reserves_and_commits_a_cheque_with_a_code_then_returns_a_line(
    api: Api,
) -> None:
    from tests.api.test_pos import basket, customer_at_till, fiscal, till

    customer = await customer_at_till(api)  # silver: 5 % on the money; 10,000 points
    campaign_id = await shared(api, "DOUBLE", effect="earn_multiplier_bp", value=20_000)

    quote = await till(
        api,
        "/calculate",
        {
            "customer_id": customer,
            "lines": basket,
            "redeem_points": 3000,
            "promo_codes": ["double"],
        },
    )
    assert quote.status_code == 200, quote.text
    # 7,000 rubles paid in money earn 350, doubled by the code.
    assert quote.json()["earned_points"] == 700
    soft = await till(
        api, "/cheques/CHK-1/reserve", {"customer_id": customer, "points": 3000, "lines": basket}
    )
    assert soft.status_code == 201, soft.text

    committed = await till(
        api,
        "/cheques/CHK-1/commit",
        {"lines": basket, "fiscal": fiscal, "promo_codes": ["Double"]},
        idempotency_key="commit-CHK-1",
    )

    assert committed.status_code == 200, committed.text
    receipt = committed.json()["receipt"]
    assert (receipt["earned_points"], receipt["promo_codes"][0]["points"]) == (700, 350)
    assert (await api.balance(customer))["available"] == 10_000 - 3000 + 700
    assert (await usage(api, campaign_id))["used"] == 1
    work = next(line for line in receipt["lines"] if line["line_id"] == "work")
    returned = await till(
        api,
        "/cheques/CHK-1/returns",
        {"return_id": "RET-1", "lines": [{"line_id": "work", "quantity": 1}]},
    )
    assert returned.status_code == 201, returned.text
    assert returned.json()["points_clawed_back"] == work["earned_points"]
    assert work["promo_points"] > 0
    await assert_ledger_clean(api.runtime)


async def test_a_till_commit_with_a_refused_code_writes_nothing(api: Api) -> None:
    from tests.api.test_pos import basket, customer_at_till, fiscal, till

    customer = await customer_at_till(api)
    await shared(api, "WEBONLY", channels=["shop"])
    soft = await till(
        api, "/cheques/CHK-1/reserve", {"customer_id": customer, "points": 3000, "lines": basket}
    )
    assert soft.status_code == 201, soft.text

    refused = await till(
        api,
        "/cheques/CHK-1/commit",
        {"lines": basket, "fiscal": fiscal, "promo_codes": ["webonly"]},
    )

    assert refused.status_code == 409, refused.text
    assert refused.json()["code"] == "promo_code_refused"
    assert "wrong_channel" in refused.json()["detail"]
    balance = await api.balance(customer)
    assert (balance["available"], balance["reserved"]) == (7000, 3000)
    committed = await till(api, "/cheques/CHK-1/commit", {"lines": basket, "fiscal": fiscal})
    assert committed.status_code == 200, committed.text
    await assert_ledger_clean(api.runtime)


async def test_a_web_shop_prices_and_pays_an_order_with_a_code(api: Api) -> None:
    from processing.service.admin import create_key
    from tests.api.test_pos import basket, customer_at_till

    async with api.runtime.database.transaction() as store:
        created = await create_key(store, api.program_id_uuid, "web shop", ["shop"], None)
    assert created.key is not None
    key = created.key
    customer = await customer_at_till(api, points=0)
    campaign_id = await shared(api, "WEB500", channels=["shop"], value=500)

    quote = await api.post(
        "/shop/v1/calculate",
        {"customer_id": customer, "lines": basket, "promo_codes": ["web500"]},
        key=key,
        idempotency_key=None,
    )
    assert quote.status_code == 200, quote.text
    assert quote.json()["earned_points"] == 500 + 500
    paid = await api.post(
        "/shop/v1/orders/ORD-1/pay",
        {"customer_id": customer, "lines": basket, "promo_codes": ["WEB500"]},
        key=key,
    )

    assert paid.status_code == 200, paid.text
    assert paid.json()["receipt"]["earned_points"] == 1000
    assert (await api.balance(customer))["available"] == 1000
    used = await usage(api, campaign_id)
    assert (used["used"], used["points_given"]) == (1, 500)
    cancelled = await api.post("/shop/v1/orders/ORD-1/cancel", None, key=key)
    assert cancelled.status_code == 201, cancelled.text
    assert (await api.balance(customer))["available"] == 0
    await assert_ledger_clean(api.runtime)


async def test_the_points_report_counts_what_codes_gave_as_issued_and_adds_up(api: Api) -> None:
    from tests.api.test_reports import liability, moscow_today, points_report, relay_everything

    assert (await put_rules(api, rules)).status_code == 200
    campaign_id = await shared(api, "BONUS", value=70)
    customer = await api.customer()
    bought = await purchase(
        api,
        customer,
        [receipt_line("oil", 1000), receipt_line("brakes", 1000)],
        "R-1",
        promo_codes=["bonus"],
    )
    assert bought.status_code == 201, bought.text
    assert bought.json()["earned_points"] == 100 + 70
    returned = await return_lines(api, bought.json()["operation"]["id"], [("oil", 1)], "RET-1")
    assert returned.json()["points_clawed_back"] == 50 + 35
    await relay_everything(api)

    today = moscow_today()
    report = await points_report(
        api,
        **{"from": (today - timedelta(days=1)).isoformat()},
        to=(today + timedelta(days=1)).isoformat(),
    )

    totals = report["totals"]
    assert (totals["issued"], totals["clawed_back"], totals["net"]) == (170, 85, 85)
    assert (await liability(api, today))["outstanding_points"] == 85
    assert (await api.balance(customer))["available"] == 85
    listed = await api.get(f"/v1/programs/{api.program_id}/promo-campaigns", key=api.admin_key)
    [item] = listed.json()["items"]
    assert item == await usage(api, campaign_id)
    assert (item["used"], item["points_given"], item["customers"]) == (1, 70, 1)
    await assert_ledger_clean(api.runtime)


async def test_a_hold_commits_with_its_receipt_and_a_code_but_not_without_a_receipt(
    api: Api,
) -> None:
    assert (await put_rules(api, rules)).status_code == 200
    await shared(api, "HOLDME")
    customer = await api.customer(points=1000)
    bare = await api.reserve(customer, 100)
    refused = await api.post(f"/v1/holds/{bare.json()['id']}/commit", {"promo_codes": ["holdme"]})
    assert refused.status_code == 400, refused.text
    assert refused.json()["field"] == "promo_codes"
    assert (await api.balance(customer))["reserved"] == 100

    held = await api.reserve(customer, 100, lines=[receipt_line("oil", 1000)])
    committed = await api.post(f"/v1/holds/{held.json()['id']}/commit", {"promo_codes": ["HOLDME"]})

    assert committed.status_code == 200, committed.text
    receipt = committed.json()["receipt"]
    # 900 roubles paid in money earn 45, and the code 100.
    assert (receipt["redeemed_points"], receipt["earned_points"]) == (100, 45 + 100)
    await assert_ledger_clean(api.runtime)


async def test_a_discount_the_till_applies_still_meets_the_codes_minimum_at_purchase(
    api: Api,
) -> None:
    assert (await put_rules(api, rules)).status_code == 200
    campaign_id = await shared(
        api, "TENOFF", effect="discount_bp", value=1000, min_amount_minor=4000 * rub
    )
    customer = await api.customer()
    lines = [receipt_line("oil", 1000), receipt_line("brakes", 3000)]  # exactly the minimum
    quote = await calculate(api, customer, lines, "tenoff")
    discounts = [line["promo_discount_minor"] for line in quote["lines"]]
    assert discounts == [100 * rub, 300 * rub]
    discounted = [
        line | {"discount_minor": discount} for line, discount in zip(lines, discounts, strict=True)
    ]

    bought = await purchase(api, customer, discounted, "R-1", promo_codes=["TENOFF"])

    assert bought.status_code == 201, bought.text
    assert bought.json()["money_minor"] == 3600 * rub
    assert bought.json()["earned_points"] == 180  # 5 % of the money paid
    assert [line["promo_discount_minor"] for line in bought.json()["lines"]] == discounts
    used = await usage(api, campaign_id)
    assert (used["used"], used["discount_minor"], used["points_given"]) == (1, 400 * rub, 0)


async def test_a_campaign_holds_at_most_its_bound_of_codes(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    from processing.core import limits

    monkeypatch.setattr(limits, "promo_codes_per_campaign_max", 3)
    made = await campaign(api)
    assert (await codes(api, made["id"], kind="batch", count=2)).status_code == 201
    refused = await codes(api, made["id"], kind="batch", count=2)
    assert (refused.status_code, refused.json()["field"]) == (400, "count"), refused.text
    assert "room for 1" in refused.json()["detail"]
    assert (await codes(api, made["id"], kind="shared", code="LAST")).status_code == 201
    assert (await usage(api, made["id"]))["codes"] == 3


async def test_an_ended_campaigns_codes_are_expired_and_it_ends_once(api: Api) -> None:
    assert (await put_rules(api, rules)).status_code == 200
    campaign_id = await shared(api, "LEAKED")
    customer = await api.customer()
    lines = [receipt_line("oil", 1000)]
    bought = await purchase(api, customer, lines, "R-1", promo_codes=["leaked"])
    assert bought.status_code == 201, bought.text
    path = f"/v1/programs/{api.program_id}/promo-campaigns/{campaign_id}/end"

    ended = await api.post(path, None, key=api.admin_key, idempotency_key="end-1")
    again = await api.post(path, None, key=api.admin_key, idempotency_key="end-1")
    twice = await api.post(path, None, key=api.admin_key)

    assert ended.status_code == 200, ended.text
    assert ended.json()["ended_at"] is not None
    assert again.content == ended.content
    assert (twice.status_code, twice.json()["code"]) == (409, "promo_campaign_ended")
    [result] = (await calculate(api, customer, lines, "LEAKED"))["promo_codes"]
    assert (result["applied"], result["reason"]) == (False, "expired")
    refused = await purchase(api, customer, lines, "R-2", promo_codes=["leaked"])
    assert refused.status_code == 409, refused.text
    assert (await usage(api, campaign_id))["used"] == 1
    other, other_admin, _ = await make_program(api.runtime, "Other")
    stray = await api.post(
        f"/v1/programs/{other}/promo-campaigns/{campaign_id}/end", None, key=other_admin
    )
    assert stray.status_code == 404, stray.text


async def test_a_personal_code_works_for_its_customer_at_its_store(api: Api) -> None:
    assert (await put_rules(api, rules)).status_code == 200
    made = await campaign(api, stores=["store-1"], value=40)
    customer = await api.customer()
    mine = await codes(api, made["id"], kind="personal", customer_id=customer)
    assert mine.status_code == 201, mine.text
    [code] = mine.json()["codes"]
    assert (code["kind"], code["customer_id"], code["state"]) == ("personal", customer, "unused")
    assert len(code["code"]) == 12  # generated, with its check character

    bought = await purchase(
        api, customer, [receipt_line("oil", 1000)], "R-1", promo_codes=[code["code"].lower()]
    )

    assert bought.status_code == 201, bought.text
    assert bought.json()["earned_points"] == 50 + 40
    export = await api.get(
        f"/v1/programs/{api.program_id}/promo-campaigns/{made['id']}/codes/export",
        key=api.admin_key,
    )
    [_, row] = export.text.lstrip("\ufeff").splitlines()
    assert row.split(";")[:6] == [code["code"], "personal", customer, "", "1", "used"]


async def test_a_merged_customers_personal_code_is_the_survivors(api: Api) -> None:
    from tests.api.test_customer_merge import merge

    assert (await put_rules(api, rules)).status_code == 200
    made = await campaign(api, value=40)
    survivor, duplicate = await api.customer("+79120000001"), await api.customer("+79120000002")
    mine = await codes(api, made["id"], kind="personal", customer_id=duplicate, code="DUP40")
    assert mine.status_code == 201, mine.text
    stranger = await api.customer("+79120000003")
    lines = [receipt_line("oil", 1000)]
    [before] = (await calculate(api, survivor, lines, "dup40"))["promo_codes"]
    assert before["reason"] == "other_customer"
    assert (await merge(api, survivor, duplicate)).status_code == 200

    bought = await purchase(api, survivor, lines, "R-1", promo_codes=["dup40"])

    assert bought.status_code == 201, bought.text
    assert bought.json()["earned_points"] == 50 + 40
    [after] = (await calculate(api, stranger, lines, "dup40"))["promo_codes"]
    assert after["reason"] == "other_customer"
    await assert_ledger_clean(api.runtime)
