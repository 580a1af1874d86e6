"""Program rules are versioned through the admin API, and the checkout calculation prices a
receipt with them, without side effects."""

from typing import Any
from uuid import UUID

import asyncpg
import pytest

from processing.service.admin import create_key
from tests.conftest import Api, make_program

rub = 100

auto_service: dict[str, Any] = {
    "point_value_minor": 1 * rub,
    "earning": {"base_bp": 300},
    "redemption": {"max_share_bp": 5000, "excluded_categories": ["parts"]},
    "tiers": [
        {"name": "silver", "threshold_minor": 0, "earn_bp": 500},
        {"name": "gold", "threshold_minor": 100_000 * rub, "earn_bp": 1000},
    ],
    "tier_window_days": 365,
    "activation_delay_days": 14,
    "expiry": {"mode": "end_of_month", "months": 12},
    "return_policy": "withhold",
}


def receipt_line(line_id: str, price_rub: int, category: str = "service") -> dict[str, Any]:
    return {
        "line_id": line_id,
        "sku": f"sku-{line_id}",
        "category": category,
        "quantity": 1,
        "unit_price_minor": price_rub * rub,
    }


async def put_rules(api: Api, rules: dict[str, Any], *, key: str | None = None) -> Any:
    return await api.client.put(
        f"/v1/programs/{api.program_id}/rules",
        json=rules,
        headers=api.headers(key or api.admin_key),
    )


async def get_rules(api: Api) -> Any:
    response = await api.get(f"/v1/programs/{api.program_id}/rules", key=api.admin_key)
    assert response.status_code == 200, response.text
    return response.json()


async def test_a_program_never_given_rules_has_the_defaults_as_version_0(api: Api) -> None:
    current = await get_rules(api)
    assert (current["version"], current["created_at"]) == (0, None)
    assert current["rules"]["point_value_minor"] == 100
    assert current["rules"]["redemption"]["max_share_bp"] == 10_000
    assert current["rules"]["tiers"] == []


async def test_each_replacement_is_a_new_version_and_old_ones_stay(api: Api) -> None:
    first = await put_rules(api, auto_service)
    assert first.status_code == 200, first.text
    assert first.json()["version"] == 1
    assert first.json()["rules"] == auto_service | {
        "earning": auto_service["earning"]
        | {"category_bp": {}, "sku_bp": {}, "excluded_categories": [], "excluded_skus": []},
        "redemption": auto_service["redemption"]
        | {
            "excluded_skus": [],
            "min_money_minor": 0,
            "offline_cap_points": 0,
        },
        "expiry": {"mode": "end_of_month", "days": None, "months": 12},
        "bonuses": {
            "welcome": 0,
            "birthday": 0,
            "referral": {"referrer": 0, "referred": 0},
            "events": {},
        },
        "tiers": [tier | {"discount_bp": None} for tier in auto_service["tiers"]],
        "discount": {
            "base_bp": 0,
            "excluded_categories": [],
            "excluded_skus": [],
            "rounding": "minor",
            "whole_unit_minor": 100,
        },
    }
    second = await put_rules(api, auto_service | {"activation_delay_days": 0})
    assert second.json()["version"] == 2
    current = await get_rules(api)
    assert (current["version"], current["rules"]["activation_delay_days"]) == (2, 0)

    versions = await api.runtime.pool.fetch(
        "select version, rules->>'activation_delay_days' as delay from program_rules"
        " where program_id = $1 order by version",
        api.program_id_uuid,
    )
    assert [(row["version"], row["delay"]) for row in versions] == [(1, "14"), (2, "0")]
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await api.runtime.pool.execute("update program_rules set version = 9")


async def test_a_replayed_replacement_adds_no_version(api: Api) -> None:
    headers = api.headers(api.admin_key, "rules-once")
    path = f"/v1/programs/{api.program_id}/rules"
    first = await api.client.put(path, json=auto_service, headers=headers)
    again = await api.client.put(path, json=auto_service, headers=headers)
    assert (again.status_code, again.content) == (first.status_code, first.content)
    assert again.headers["idempotent-replayed"] == "true"
    assert (await get_rules(api))["version"] == 1


def tiers(*rows: tuple[str, int]) -> dict[str, Any]:
    return {"tiers": [{"name": name, "threshold_minor": at, "earn_bp": 100} for name, at in rows]}


@pytest.mark.parametrize(
    ("change", "field", "text"),
    [
        pytest.param({"earning": {"base_bp": 10_001}}, "earning.base_bp", "10000",
                     id="rate-over-100"),
        pytest.param({"point_value_minor": 0}, "point_value_minor", ">= 1", id="worthless-point"),
        pytest.param({"return_policy": "forgive"}, "return_policy", "forgive",
                     id="unknown-policy"),
        pytest.param(tiers(("a", 1), ("b", 5), ("c", 3)), "tiers[2].threshold_minor", "rising",
                     id="tiers-out-of-order"),
        pytest.param(tiers(("a", 1), ("b", 5), ("a", 9)), "tiers[2].name", "unique",
                     id="duplicate-tier-name"),
        pytest.param({"expiry": {"mode": "days"}}, "expiry.days", "takes days",
                     id="days-without-days"),
        pytest.param({"expiry": {"mode": "end_of_month", "days": 30}}, "expiry.days",
                     "takes months", id="month-mode-with-days"),
        pytest.param({"bonus": 1}, "bonus", "unknown", id="unknown-field"),
        pytest.param({"earning": {"category_bp": {"oil": 5, "": 5}}}, 'earning.category_bp[""]',
                     "key", id="empty-map-key"),
        pytest.param({"earning": {"sku_bp": {"a": 1, "oil": 20_000}}}, 'earning.sku_bp["oil"]',
                     "10000", id="map-value"),
        pytest.param({"bonuses": {"events": {"review": {"points": 5}, "Big Day": {"points": 5}}}},
                     'bonuses.events["Big Day"]', "key", id="bad-event-name"),
        pytest.param({"bonuses": {"events": {"review": {"points": 5, "pointz": 5}}}},
                     'bonuses.events["review"].pointz', "unknown", id="unknown-field-in-map"),
    ],
)  # fmt: skip
async def test_bad_rules_are_refused_naming_the_field_and_change_nothing(
    api: Api, change: dict[str, Any], field: str, text: str
) -> None:
    response = await put_rules(api, auto_service | change)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert (problem["code"], problem["field"]) == ("validation_error", field)
    assert text in problem["detail"]
    assert (await get_rules(api))["version"] == 0


async def test_rules_are_for_operators_and_stay_inside_their_program(api: Api) -> None:
    refused = await put_rules(api, auto_service, key=api.pos_key)
    assert (refused.status_code, refused.json()["code"]) == (403, "forbidden_scope")

    other_program, _, _ = await make_program(api.runtime, "Other")
    async with api.runtime.database.transaction() as store:
        foreign_admin = await create_key(store, UUID(other_program), "ops", ["admin"], None)
    response = await put_rules(api, auto_service, key=str(foreign_admin.key))
    assert (response.status_code, response.json()["code"]) == (404, "not_found")


async def calculate(api: Api, body: dict[str, Any], *, key: str | None = None) -> Any:
    return await api.client.post(
        "/v1/checkout/calculate", json=body, headers=api.headers(key, idempotency_key=None)
    )


async def test_checkout_prices_the_auto_service_receipt_without_side_effects(api: Api) -> None:
    assert (await put_rules(api, auto_service)).status_code == 200
    customer = await api.customer(points=3000)
    before = await api.runtime.pool.fetchval("select count(*) from operations")

    response = await calculate(
        api,
        {
            "customer_id": customer,
            "lines": [
                receipt_line("brake-pads", 8000, category="parts"),
                receipt_line("fitting", 2000),
                receipt_line("diagnostics", 4000),
            ],
            "redeem_points": 5000,
        },
    )

    assert response.status_code == 200, response.text
    quote = response.json()
    assert quote["tier"] == "silver"  # no spend yet: the tier reached at zero
    assert (quote["rules_version"], quote["available_points"]) == (1, 3000)
    assert quote["amount_minor"] == 14_000 * rub
    # Half of the 6000 rubles points may pay for, but the customer has 3000.
    assert (quote["max_redeemable_points"], quote["redeemed_points"]) == (3000, 3000)
    assert quote["money_minor"] == 11_000 * rub
    lines = {line["line_id"]: line for line in quote["lines"]}
    order = ("brake-pads", "fitting", "diagnostics")
    assert [lines[x]["max_redeemable_points"] for x in order] == [0, 1000, 2000]
    assert [lines[x]["redeemed_points"] for x in order] == [0, 1000, 2000]
    # 5 % of the money paid, line by line: 8000 → 400, 1000 → 50, 2000 → 100.
    assert [lines[x]["earned_points"] for x in order] == [400, 50, 100]
    assert quote["earned_points"] == 550
    assert sum(line["redeemed_points"] for line in quote["lines"]) == quote["redeemed_points"]

    assert await api.runtime.pool.fetchval("select count(*) from operations") == before
    assert (await api.balance(customer))["available"] == 3000


async def test_checkout_without_rules_uses_the_defaults(api: Api) -> None:
    customer = await api.customer(points=10)
    response = await calculate(
        api, {"customer_id": customer, "lines": [receipt_line("a", 50)], "redeem_points": 4}
    )
    assert response.status_code == 200, response.text
    quote = response.json()
    assert (quote["rules_version"], quote["tier"], quote["earned_points"]) == (0, None, 0)
    assert (quote["max_redeemable_points"], quote["redeemed_points"]) == (10, 4)


@pytest.mark.parametrize(
    ("lines", "field"),
    [
        pytest.param([receipt_line("a", 1), receipt_line("a", 2)], "lines[1].line_id", id="dup"),
        pytest.param(
            [receipt_line("a", 1) | {"discount_minor": 101}], "lines[0].discount_minor",
            id="discount-above-amount",
        ),
        pytest.param([], "lines", id="empty-receipt"),
        pytest.param([receipt_line("a", 1) | {"quantity": 0}], "lines[0].quantity", id="zero-qty"),
    ],
)  # fmt: skip
async def test_a_bad_receipt_is_refused_naming_the_field(
    api: Api, lines: list[dict[str, Any]], field: str
) -> None:
    customer = await api.customer()
    response = await calculate(api, {"customer_id": customer, "lines": lines})
    assert response.status_code == 400, response.text
    assert (response.json()["code"], response.json()["field"]) == ("validation_error", field)


async def test_checkout_answers_404_for_another_programs_customer(api: Api) -> None:
    _, _, foreign_pos = await make_program(api.runtime, "Other")
    customer = await api.customer()
    response = await calculate(
        api, {"customer_id": customer, "lines": [receipt_line("a", 1)]}, key=foreign_pos
    )
    assert (response.status_code, response.json()["code"]) == (404, "not_found")


async def test_checkout_needs_a_program_key(api: Api) -> None:
    customer = await api.customer()
    response = await calculate(
        api, {"customer_id": customer, "lines": [receipt_line("a", 1)]}, key=api.admin_key
    )
    assert (response.status_code, response.json()["code"]) == (403, "program_key_required")
