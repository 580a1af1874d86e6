"""Donations through the API (decision 0034): a program names its charities, a customer gives
points to one (the soonest-expiring first), the charity's account receives them and its
report counts them, the points report takes them off the net as ``donated``; every refusal
writes nothing, and donations racing holds on one account never spend a point twice."""

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.api.test_loyalty_rules_and_checkout import auto_service, put_rules, receipt_line
from tests.api.test_purchases import purchase
from tests.api.test_reports import points_report, relay_everything
from tests.conftest import Api, make_program
from tests.invariants import assert_ledger_clean

now_rules = auto_service | {"activation_delay_days": 0}


async def charity(api: Api, name: str = "Food bank", program_id: str | None = None) -> Any:
    response = await api.post(
        f"/v1/programs/{program_id or api.program_id}/charities",
        {"name": name, "details": "Registered charity no. 7"},
        key=api.admin_key,
    )
    assert response.status_code == 201, response.text
    return response.json()


async def donate(api: Api, customer: str, charity_id: str, points: Any, **headers: Any) -> Any:
    return await api.post(
        f"/v1/customers/{customer}/donations",
        {"charity_id": charity_id, "points": points},
        **headers,
    )


async def written(api: Api) -> tuple[int, int, int]:
    """Donation operations, their entries, their outbox events."""
    async with api.runtime.pool.acquire() as connection:
        row = await connection.fetchrow(
            "select (select count(*) from operations where type = 'donation') as operations,"
            " (select count(*) from entries e join operations o on o.id = e.operation_id"
            "  where o.type = 'donation') as entries,"
            " (select count(*) from outbox where type = 'donation.made') as events"
        )
    assert row is not None
    return row["operations"], row["entries"], row["events"]


def window() -> dict[str, str]:
    now = datetime.now(UTC)
    return {
        "from": (now - timedelta(hours=1)).isoformat(),
        "to": (now + timedelta(hours=1)).isoformat(),
    }


async def test_a_donation_moves_points_to_the_charity_and_shows_in_its_report(api: Api) -> None:
    food = await charity(api)
    assert (food["name"], food["received_points"]) == ("Food bank", 0)
    customer = await api.customer(points=0)
    # Two lots: the one expiring first is given first, as a commit spends.
    late = await api.accrue(customer, 100, expires_at="2099-06-01T00:00:00Z")
    early = await api.accrue(customer, 30, expires_at="2099-01-01T00:00:00Z")

    given = await donate(api, customer, food["id"], 50, idempotency_key="give-1")
    assert given.status_code == 201, given.text
    body = given.json()
    assert (body["points"], body["available_after"], body["charity_id"]) == (50, 80, food["id"])
    again = await donate(api, customer, food["id"], 50, idempotency_key="give-1")
    assert (again.status_code, again.json()) == (201, body)  # a replay gives nothing twice
    assert (await api.balance(customer))["available"] == 80

    async with api.runtime.pool.acquire() as connection:
        entries = await connection.fetch(
            "select e.account_id, e.lot_id, e.points from entries e"
            " where e.operation_id = $1 order by e.points",
            body["operation_id"],
        )
        lots = {
            str(row["operation_id"]): row["remaining"]
            for row in await connection.fetch("select operation_id, remaining from lots")
        }
    assert [str(row["account_id"]) for row in entries].count(food["id"]) == 1
    assert sum(row["points"] for row in entries) == 0
    assert (lots[early["id"]], lots[late["id"]]) == (0, 80)

    statement = await api.get(f"/v1/customers/{customer}/operations")
    assert statement.json()["items"][0]["type"] == "donation"
    assert statement.json()["items"][0]["points"] == -50

    other = await api.customer("+79120000002", points=20)
    assert (await donate(api, other, food["id"], 20)).status_code == 201
    assert (await donate(api, customer, food["id"], 5)).status_code == 201

    path = f"/v1/programs/{api.program_id}/charities/{food['id']}"
    shown = await api.get(path, key=api.admin_key)
    assert shown.json()["received_points"] == 75
    report = await api.get(f"{path}/report", key=api.admin_key, **window())
    assert report.status_code == 200, report.text
    assert {k: report.json()[k] for k in ("points", "donors", "donations")} == {
        "points": 75,
        "donors": 2,
        "donations": 3,
    }
    past = {"from": "2020-01-01T00:00:00Z", "to": "2021-01-01T00:00:00Z"}
    empty = await api.get(f"{path}/report", key=api.admin_key, **past)
    assert (empty.json()["points"], empty.json()["donations"]) == (0, 0)
    assert await written(api) == (3, 3 + 3 + 1, 3)  # the first took two lots

    # The points report: donations are their own figure, and the figures still add up.
    await relay_everything(api)
    today = datetime.now(UTC).date()
    totals = (
        await points_report(
            api,
            **{"from": (today - timedelta(days=2)).isoformat()},
            to=(today + timedelta(days=2)).isoformat(),
        )
    )["totals"]
    assert (totals["donated"], totals["issued"], totals["other"]) == (75, 150, 0)
    assert totals["net"] == totals["issued"] - totals["donated"] == 75
    await assert_ledger_clean(api.runtime)


async def test_every_refusal_names_its_field_and_writes_nothing(api: Api) -> None:
    food = await charity(api)
    customer = await api.customer(points=40)
    elsewhere, _, _ = await make_program(api.runtime, "Another program")
    foreign = await charity(api, "Theirs", program_id=elsewhere)

    short = await donate(api, customer, food["id"], 41)
    assert (short.status_code, short.json()["code"]) == (409, "insufficient_points")
    assert short.json()["field"] == "points"
    unknown = await donate(api, customer, "00000000-0000-4000-8000-000000000000", 5)
    assert (unknown.status_code, unknown.json()["code"]) == (404, "charity_not_found")
    assert unknown.json()["field"] == "charity_id"
    theirs = await donate(api, customer, foreign["id"], 5)
    assert (theirs.status_code, theirs.json()["code"]) == (404, "charity_not_found")
    for bad in (0, -3, 1_000_000_001, "ten"):
        refused = await donate(api, customer, food["id"], bad)
        assert (refused.status_code, refused.json()["code"]) == (400, "validation_error")
        assert "points" in refused.text
    nobody = await donate(api, "00000000-0000-4000-8000-000000000001", food["id"], 5)
    assert (nobody.status_code, nobody.json()["code"]) == (404, "not_found")
    blocked = await api.post(
        f"/v1/customers/{customer}/block", {"reason": "fraud check"}, key=api.admin_key
    )
    assert blocked.status_code == 200, blocked.text
    on_blocked = await donate(api, customer, food["id"], 5)
    assert (on_blocked.status_code, on_blocked.json()["code"]) == (409, "account_blocked")

    assert await written(api) == (0, 0, 0)
    assert (await api.balance(customer))["available"] == 40
    await assert_ledger_clean(api.runtime)


async def test_charities_are_listed_a_page_at_a_time_and_not_across_programs(api: Api) -> None:
    made = [await charity(api, f"Charity {n}") for n in range(3)]
    path = f"/v1/programs/{api.program_id}/charities"
    first = await api.get(path, key=api.admin_key, limit=2)
    assert first.status_code == 200
    page = first.json()
    assert [c["id"] for c in page["items"]] == [made[2]["id"], made[1]["id"]]
    rest = await api.get(path, key=api.admin_key, limit=2, cursor=page["next_cursor"])
    assert ([c["id"] for c in rest.json()["items"]], rest.json()["next_cursor"]) == (
        [made[0]["id"]],
        None,
    )
    elsewhere, _, _ = await make_program(api.runtime, "Another program")
    across = await api.get(f"/v1/programs/{elsewhere}/charities/{made[0]['id']}", key=api.admin_key)
    assert (across.status_code, across.json()["code"]) == (404, "charity_not_found")
    missing = await api.get(
        f"/v1/programs/{api.program_id}/charities/{elsewhere}", key=api.admin_key
    )
    assert missing.status_code == 404
    till = await api.get(path)  # a till's key does not name charities
    assert till.status_code == 403
    bad = await api.get(
        f"{path}/{made[0]['id']}/report",
        key=api.admin_key,
        **{"from": "2026-01-02T00:00:00Z", "to": "2026-01-01T00:00:00Z"},
    )
    assert (bad.status_code, bad.json()["field"]) == (400, "to")


async def test_donations_racing_holds_on_one_account_never_overspend(api: Api) -> None:
    food = await charity(api)
    customer = await api.customer(points=100)

    async def give() -> Any:
        return await donate(api, customer, food["id"], 15)

    async def hold() -> Any:
        return await api.reserve(customer, 15)

    answers = await asyncio.gather(*(give() if n % 2 else hold() for n in range(14)))
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses.count(201) == 6, [answer.text for answer in answers]
    assert {a.json()["code"] for a in answers if a.status_code != 201} == {"insufficient_points"}
    balance = await api.balance(customer)
    given = sum(
        a.json()["points"] for a in answers if a.status_code == 201 and "charity_id" in a.json()
    )
    held = sum(
        a.json()["points"] for a in answers if a.status_code == 201 and "charity_id" not in a.json()
    )
    assert given + held == 90
    assert (balance["available"], balance["reserved"]) == (10, held)
    received = await api.get(
        f"/v1/programs/{api.program_id}/charities/{food['id']}", key=api.admin_key
    )
    assert received.json()["received_points"] == given
    await assert_ledger_clean(api.runtime)


async def test_donations_racing_purchases_on_one_account_lose_no_update(api: Api) -> None:
    """Purchases earning on the account while donations take from it: each donation is decided
    again on a fresh load when a purchase moved the account first, so every point is counted
    once and none is given twice."""
    assert (await put_rules(api, now_rules)).status_code == 200
    food = await charity(api)
    customer = await api.customer(points=100)

    async def give() -> Any:
        return await donate(api, customer, food["id"], 20)

    async def buy(n: int) -> Any:
        return await purchase(api, customer, [receipt_line("oil", 1000)], f"R-{n}")

    answers = await asyncio.gather(*(give() if n % 2 else buy(n) for n in range(12)))
    assert [answer.status_code for answer in answers] == [201] * 12, [a.text for a in answers]
    earned = sum(a.json()["earned_points"] for n, a in enumerate(answers) if not n % 2)
    assert earned > 0
    balance = await api.balance(customer)
    assert balance["available"] + balance["pending"] == 100 + earned - 6 * 20
    received = await api.get(
        f"/v1/programs/{api.program_id}/charities/{food['id']}", key=api.admin_key
    )
    assert received.json()["received_points"] == 120
    await assert_ledger_clean(api.runtime)
