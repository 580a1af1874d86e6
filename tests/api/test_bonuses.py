"""Bonuses: welcome on enrollment, birthday once a year in the birthday week, named events as
often as their rule allows, even when the same event arrives many times at once."""

import asyncio
from datetime import date, timedelta
from typing import Any

import pytest

from tests.api.test_loyalty_rules_and_checkout import put_rules, receipt_line
from tests.conftest import Api, make_program
from tests.invariants import assert_ledger_clean

bonus_rules: dict[str, Any] = {
    "bonuses": {
        "welcome": 200,
        "birthday": 500,
        "events": {
            "review": {"points": 50, "every": "month"},
            "newsletter": {"points": 100, "every": "once"},
        },
    }
}


async def event(api: Api, customer: str, kind: str, document: str) -> Any:
    return await api.post(
        f"/v1/customers/{customer}/events", {"type": kind, "document": {"id": document}}
    )


async def enroll(api: Api, phone: str, **fields: Any) -> str:
    response = await api.post("/v1/customers", {"phone": phone, **fields})
    assert response.status_code == 201, response.text
    customer: str = response.json()["id"]
    return customer


async def test_a_new_customer_gets_the_welcome_bonus_once(api: Api) -> None:
    assert (await put_rules(api, bonus_rules)).status_code == 200
    body = {"phone": "+79120000001"}
    first = await api.post("/v1/customers", body, idempotency_key="enroll-1")
    replay = await api.post("/v1/customers", body, idempotency_key="enroll-1")
    assert (replay.status_code, replay.content) == (201, first.content)
    customer = first.json()["id"]

    assert (await api.balance(customer))["available"] == 200
    [item] = (await api.get(f"/v1/customers/{customer}/operations")).json()["items"]
    assert (item["type"], item["points"], item["reason"]) == ("accrual", 200, "welcome bonus")
    assert item["rules_version"] == 1  # the rules that granted it
    await assert_ledger_clean(api.runtime)


async def test_without_a_welcome_bonus_enrollment_accrues_nothing(api: Api) -> None:
    customer = await enroll(api, "+79120000001")
    assert (await api.balance(customer))["available"] == 0


async def born_days_from_today(api: Api, days: int) -> date:
    """A birthday ``days`` from today's date on the database's clock (the one the bonus is
    decided by, in UTC), in a past year that has that day: the same on any day of the year."""
    today: date = await api.runtime.pool.fetchval("select (now() at time zone 'UTC')::date")
    day = today + timedelta(days=days)
    return day.replace(year=1992 if (day.month, day.day) == (2, 29) else 1990)


async def test_the_birthday_bonus_is_granted_once_in_the_birthday_week(api: Api) -> None:
    assert (await put_rules(api, bonus_rules)).status_code == 200
    born = await born_days_from_today(api, -2)
    customer = await enroll(api, "+79120000001", birthday=born.isoformat())

    granted = await event(api, customer, "birthday", "bday-1")
    assert granted.status_code == 201, granted.text
    assert (granted.json()["points"], granted.json()["reason"]) == (500, "birthday bonus")

    again = await event(api, customer, "birthday", "bday-2")
    assert (again.status_code, again.json()["code"]) == (409, "bonus_already_granted")
    assert (await api.balance(customer))["available"] == 700  # welcome + birthday


@pytest.mark.parametrize("birthday", [None, "far"], ids=["no-birthday", "out-of-week"])
async def test_no_birthday_bonus_outside_the_birthday_week(api: Api, birthday: str | None) -> None:
    assert (await put_rules(api, bonus_rules)).status_code == 200
    fields = {}
    if birthday == "far":
        fields["birthday"] = (await born_days_from_today(api, 60)).isoformat()
    customer = await enroll(api, "+79120000001", **fields)

    refused = await event(api, customer, "birthday", "bday-1")

    assert (refused.status_code, refused.json()["code"]) == (409, "not_birthday_week")
    assert (await api.balance(customer))["available"] == 200


async def test_events_follow_their_frequency(api: Api) -> None:
    assert (await put_rules(api, bonus_rules)).status_code == 200
    customer = await enroll(api, "+79120000001")

    assert (await event(api, customer, "review", "review-1")).status_code == 201
    second = await event(api, customer, "review", "review-2")
    assert (second.status_code, second.json()["code"]) == (409, "bonus_already_granted")
    assert (await event(api, customer, "newsletter", "sub-1")).status_code == 201
    assert (await api.balance(customer))["available"] == 350


@pytest.mark.parametrize("kind", ["unboxing", "welcome"])
async def test_an_event_the_rules_do_not_reward_is_refused(api: Api, kind: str) -> None:
    assert (await put_rules(api, bonus_rules)).status_code == 200
    customer = await enroll(api, "+79120000001")
    refused = await event(api, customer, kind, "e-1")
    assert (refused.status_code, refused.json()["code"]) == (409, "bonus_not_configured")
    assert refused.json()["field"] == "type"
    assert (await api.balance(customer))["available"] == 200


async def test_the_same_event_many_times_at_once_is_granted_once(api: Api) -> None:
    assert (await put_rules(api, bonus_rules)).status_code == 200
    customer = await enroll(api, "+79120000001")

    answers = await asyncio.gather(
        *(event(api, customer, "review", f"review-{n}") for n in range(12))
    )

    codes = sorted(
        "ok" if answer.status_code == 201 else answer.json()["code"] for answer in answers
    )
    assert codes == ["bonus_already_granted"] * 11 + ["ok"]
    assert (await api.balance(customer))["available"] == 250
    grants = await api.runtime.pool.fetchval(
        "select count(*) from bonus_grants where account_id = $1::uuid and kind = 'review'",
        customer,
    )
    assert grants == 1
    await assert_ledger_clean(api.runtime)


async def test_an_event_document_applies_once(api: Api) -> None:
    assert (await put_rules(api, bonus_rules)).status_code == 200
    first = await enroll(api, "+79120000001")
    other = await enroll(api, "+79120000002")
    assert (await event(api, first, "newsletter", "campaign-7")).status_code == 201
    reused = await event(api, other, "newsletter", "campaign-7")
    assert (reused.status_code, reused.json()["code"]) == (409, "duplicate_document")


async def test_both_sides_earn_the_referral_bonus_after_the_first_purchase_only(api: Api) -> None:
    rules = bonus_rules | {
        "activation_delay_days": 0,
        "bonuses": bonus_rules["bonuses"] | {"referral": {"referrer": 300, "referred": 150}},
    }
    assert (await put_rules(api, rules)).status_code == 200
    friend = await enroll(api, "+79120000001")
    newcomer = await enroll(api, "+79120000002", referred_by=friend)
    assert (await api.balance(newcomer))["available"] == 200  # welcome only, before buying

    first = await api.post(
        f"/v1/customers/{newcomer}/purchases",
        {"document": {"id": "R-1"}, "lines": [receipt_line("oil", 100)]},
    )
    assert first.status_code == 201, first.text
    second = await api.post(
        f"/v1/customers/{newcomer}/purchases",
        {"document": {"id": "R-2"}, "lines": [receipt_line("oil", 100)]},
    )
    assert second.status_code == 201, second.text

    assert (await api.balance(newcomer))["available"] == 200 + 150
    assert (await api.balance(friend))["available"] == 200 + 300
    reasons = [
        item["reason"]
        for item in (await api.get(f"/v1/customers/{friend}/operations")).json()["items"]
    ]
    assert reasons == ["referral bonus", "welcome bonus"]
    await assert_ledger_clean(api.runtime)


async def test_a_referrer_from_another_program_is_refused(api: Api) -> None:
    _, _, foreign_pos = await make_program(api.runtime, "Other")
    stranger = await api.post("/v1/customers", {"phone": "+79120000009"}, key=foreign_pos)
    response = await api.post(
        "/v1/customers", {"phone": "+79120000001", "referred_by": stranger.json()["id"]}
    )
    assert (response.status_code, response.json()["code"]) == (404, "not_found")
    assert response.json()["field"] == "referred_by"
    found = await api.get("/v1/customers", phone="+79120000001")
    assert found.status_code == 404
