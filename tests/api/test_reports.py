"""Reports on the ledger (decision 0025): the points report and the liability read rollups that
the outbox relay keeps, and they must say what the ledger says. Operations are made through
the API, spread over a year by moving their dates before the relay rolls them up, and every
figure is compared with a computation over the ledger's own rows."""

import asyncio
import csv
import io
from collections import defaultdict
from datetime import date, datetime, timedelta
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from processing.adapters.postgres.store import PostgresStore
from processing.service.admin import create_key
from processing.service.ledger.reconcile import reconcile
from tests.api.test_customer_merge import merge
from tests.api.test_loyalty_rules_and_checkout import put_rules, receipt_line
from tests.api.test_purchases import purchase
from tests.api.test_returns_by_line import return_lines
from tests.conftest import Api
from tests.invariants import assert_ledger_clean

rub = 100
moscow = ZoneInfo("Europe/Moscow")
rules = {
    "point_value_minor": 1 * rub,
    "earning": {"base_bp": 1000},
    "redemption": {"max_share_bp": 5000},
    "activation_delay_days": 0,
    "expiry": {"mode": "days", "days": 365},
    "return_policy": "floor",
}
figures = (
    "issued",
    "redeemed",
    "clawed_back",
    "returned",
    "expired",
    "adjusted",
    "opening",
    "transferred",
    "donated",
    "other",
    "net",
    "operations",
)


async def relay_everything(api: Api) -> int:
    """What the worker's relay does, until the outbox is empty: the rollups follow."""
    relayed = 0
    while True:
        async with api.runtime.database.transaction() as store:
            events, _ = await store.fan_out(500)
        if not events:
            return relayed
        relayed += events


async def points_report(api: Api, **params: Any) -> Any:
    response = await api.get(
        f"/v1/programs/{api.program_id}/reports/points", key=api.admin_key, **params
    )
    assert response.status_code == 200, response.text
    return response.json()


async def liability(api: Api, on: date) -> Any:
    response = await api.get(
        f"/v1/programs/{api.program_id}/reports/liability", key=api.admin_key, on=on.isoformat()
    )
    assert response.status_code == 200, response.text
    return response.json()


async def till(api: Api, store_id: str, scopes: list[str]) -> str:
    async with api.runtime.database.transaction() as store:
        key = await create_key(store, api.program_id_uuid, store_id, scopes, store_id)
    return str(key.key)


async def spend(api: Api, customer: str, points: int, key: str) -> str:
    document = {"id": f"hold-{next(api.keys)}"}
    hold = await api.post(
        f"/v1/customers/{customer}/holds", {"points": points, "document": document}, key=key
    )
    assert hold.status_code == 201, hold.text
    committed = await api.post(f"/v1/holds/{hold.json()['id']}/commit", {}, key=key)
    assert committed.status_code == 200, committed.text
    operation_id: str = committed.json()["id"]
    return operation_id


async def test_each_figure_names_what_happened_to_the_points(api: Api) -> None:
    assert (await put_rules(api, rules)).status_code == 200
    buyer = await api.customer("+79120000001")
    duplicate = await api.customer("+79120000002", points=40)
    bought = await purchase(api, buyer, [receipt_line("oil", 3000)], "R-1")
    assert bought.json()["earned_points"] == 300, bought.text  # 10 % of 3,000 roubles
    await spend(api, buyer, 100, api.pos_key)
    # A receipt paid partly with points: its hold commits as one purchase.
    hold = await api.post(
        f"/v1/customers/{buyer}/holds",
        {"points": 50, "document": {"id": "R-2"}, "lines": [receipt_line("oil", 1000)]},
    )
    assert hold.status_code == 201, hold.text
    paid = await api.post(f"/v1/holds/{hold.json()['id']}/commit", {})
    assert paid.status_code == 200, paid.text
    assert (paid.json()["type"], paid.json()["redeemed_points"]) == ("purchase", 50), paid.text
    assert paid.json()["points"] == 95 - 50  # earns 10 % of the 950 roubles paid in money
    returned = await return_lines(api, paid.json()["id"], [("oil", 1)], "RET-2")
    assert returned.status_code == 201, returned.text
    clawed_back = returned.json()["points_clawed_back"]
    assert clawed_back == 95, returned.text
    adjusted = await api.post(
        f"/v1/customers/{buyer}/adjustments",
        {"points": -7, "reason": "a typo last week"},
        key=api.admin_key,
    )
    assert adjusted.status_code == 201, adjusted.text
    assert (await merge(api, buyer, duplicate)).status_code == 200
    await relay_everything(api)

    today = moscow_today()
    window = {"from": (today - timedelta(days=2)).isoformat()}
    report = await points_report(api, **window, to=(today + timedelta(days=2)).isoformat())

    totals = report["totals"]
    issued = 40 + 300 + 95
    assert {name: totals[name] for name in figures} == {
        "issued": issued,
        "redeemed": 100 + 50,
        "clawed_back": 95,
        "returned": 50,  # the return gave back what the returned receipt paid with points
        "expired": 0,
        "adjusted": -7,
        "opening": 0,
        "transferred": 0,  # a merge moves points between two records of one person
        "donated": 0,
        "other": 0,
        "net": issued - 150 - 95 + 50 - 7,
        # accrual, purchase, reserve, commit, reserve, purchase, refund, adjustment, merge
        "operations": 9,
    }
    assert totals["breakage_bp"] == 0
    assert totals["redemption_bp"] == (150 * 10_000 * 2 + issued) // (2 * issued)
    owed = await liability(api, today)
    balance = await api.balance(buyer)
    held = balance["available"] + balance["pending"] + balance["reserved"]
    assert owed["outstanding_points"] == held == totals["net"]
    assert owed["outstanding_value_minor"] == totals["net"] * 100
    assert (owed["currency"], owed["point_value_minor"]) == ("RUB", 100)
    await assert_ledger_clean(api.runtime)


def moscow_today() -> date:
    """The program's today: its days are counted in its time zone (Moscow by default)."""
    return datetime.now(moscow).date()


def local_day(moment: Any) -> date:
    day: date = moment.astimezone(moscow).date()
    return day


async def ledger_rows(connection: asyncpg.Connection, program_id: UUID) -> list[asyncpg.Record]:
    """Every operation of the program with what it moved on customers' accounts, straight
    from the ledger's tables."""
    return await connection.fetch(
        """
        select o.id, o.type, o.created_at, coalesce(o.store_id, '') as store_id, o.channel,
               coalesce((select sum(e.points) from entries e join accounts a on a.id = e.account_id
                         where e.operation_id = o.id and a.kind = 'customer' and e.points > 0), 0)
                   as credited,
               coalesce((select sum(e.points) from entries e join accounts a on a.id = e.account_id
                         where e.operation_id = o.id and a.kind = 'customer' and e.points < 0), 0)
                   as debited
        from operations o where o.program_id = $1
        """,
        program_id,
    )


def expected_figures(rows: list[asyncpg.Record]) -> dict[str, int]:
    """The figures as an accountant reads them off the ledger's rows."""
    totals = dict.fromkeys(figures, 0)
    for row in rows:
        credited, debited, kind = int(row["credited"]), int(row["debited"]), row["type"]
        if kind in ("accrual", "purchase"):
            totals["issued"] += credited
            totals["redeemed" if kind == "purchase" else "clawed_back"] -= debited
        elif kind == "refund":
            totals["returned"] += credited
            totals["clawed_back"] -= debited
        elif kind == "commit":
            totals["redeemed"] -= credited + debited
        elif kind == "expire":
            totals["expired"] -= credited + debited
        elif kind == "adjustment":
            totals["adjusted"] += credited + debited
        elif kind == "merge":
            totals["transferred"] += credited + debited
        elif kind == "donation":
            totals["donated"] -= credited + debited
        totals["net"] += credited + debited
        totals["operations"] += 1
    return totals


async def a_year_of_operations(api: Api, customers: int) -> list[str]:
    """Customers buying, spending, returning and being corrected at two tills and a web shop;
    then each customer's history moved back by a different number of days, lots with it, so
    the year fills up, and some of their points past their expiry for the sweep."""
    assert (await put_rules(api, rules)).status_code == 200
    second_till = await till(api, "store-2", ["pos"])
    shop = await till(api, "web", ["shop"])
    ids = []
    for n in range(customers):
        customer = await api.customer(f"+7912{n:07d}", points=20 + n)
        ids.append(customer)
        key = (api.pos_key, second_till, shop)[n % 3]
        bought = await api.post(
            f"/v1/customers/{customer}/purchases",
            {"document": {"id": f"R-{n}"}, "lines": [receipt_line("oil", 1000 + 100 * n)]},
            key=key,
        )
        assert bought.status_code == 201, bought.text
        await spend(api, customer, 10 + n % 7, (second_till, api.pos_key, shop)[n % 3])
        if n % 4 == 0:
            back = await api.post(
                f"/v1/operations/{bought.json()['operation']['id']}/refunds",
                {"document": {"id": f"RET-{n}"}, "lines": [{"line_id": "oil", "quantity": 1}]},
                key=key,
            )
            assert back.status_code == 201, back.text
        if n % 5 == 0:
            corrected = await api.post(
                f"/v1/customers/{customer}/adjustments",
                {"points": 3, "reason": "goodwill"},
                key=api.admin_key,
            )
            assert corrected.status_code == 201, corrected.text
    async with api.runtime.pool.acquire() as connection:
        for n, customer in enumerate(ids):
            back_by = timedelta(days=(n * 37) % 400)
            await connection.execute(
                "update operations set created_at = created_at - $2::interval "
                "where account_id = $1",
                UUID(customer),
                back_by,
            )
            await connection.execute(
                "update lots set activates_at = activates_at - $2::interval, "
                "expires_at = expires_at - $2::interval "
                "where account_id = $1",
                UUID(customer),
                back_by,
            )
    swept = await api.post("/v1/expirations", {}, key=api.admin_key)
    assert swept.status_code == 200, swept.text
    return ids


async def test_a_year_of_reports_says_what_the_ledger_says(api: Api) -> None:
    await a_year_of_operations(api, 24)
    await relay_everything(api)
    async with api.runtime.pool.acquire() as connection:
        rows = await ledger_rows(connection, api.program_id_uuid)
    first = min(local_day(row["created_at"]) for row in rows)
    last = max(local_day(row["created_at"]) for row in rows)
    assert (last - first).days > 300  # the history covers most of a year
    window = {"from": first.isoformat(), "to": last.isoformat()}

    # The window's totals, and each month's by store and by channel.
    report = await points_report(api, **window, period="month", by="store")
    assert {name: report["totals"][name] for name in figures} == expected_figures(rows)
    assert report["totals"]["expired"] > 0
    assert report["totals"]["clawed_back"] > 0
    for by, column in (("store", "store_id"), ("channel", "channel")):
        report = await points_report(api, **window, period="month", by=by)
        grouped: defaultdict[tuple[str, str], list[asyncpg.Record]] = defaultdict(list)
        for row in rows:
            month = local_day(row["created_at"]).replace(day=1).isoformat()
            grouped[(month, row[column] or None)].append(row)
        assert {(r["period"], r[column]): {n: r[n] for n in figures} for r in report["rows"]} == {
            key: expected_figures(group) for key, group in grouped.items()
        }
    # A week and a day inside the window count only their own days.
    some = local_day(rows[len(rows) // 2]["created_at"])
    week = some - timedelta(days=some.weekday())
    report = await points_report(
        api, **{"from": week.isoformat()}, to=(week + timedelta(days=6)).isoformat(), period="week"
    )
    in_week = [r for r in rows if week <= local_day(r["created_at"]) <= week + timedelta(days=6)]
    assert [r["period"] for r in report["rows"]] == [week.isoformat()]
    assert {n: report["totals"][n] for n in figures} == expected_figures(in_week)

    # The liability on a day equals the balances replayed to that day's end.
    async with api.runtime.pool.acquire() as connection:
        for on in (first, first + timedelta(days=90), some, last - timedelta(days=1), last):
            end = date(on.year, on.month, on.day) + timedelta(days=1)
            replayed = await connection.fetchrow(
                """
                select coalesce(sum(e.points), 0) as outstanding,
                       coalesce(sum(e.points) filter (where l.activates_at >= $2), 0) as pending
                from entries e
                join operations o on o.id = e.operation_id
                join accounts a on a.id = e.account_id and a.kind = 'customer'
                join lots l on l.id = e.lot_id
                where o.program_id = $1 and o.created_at < $2
                """,
                api.program_id_uuid,
                _midnight(end),
            )
            owed = await liability(api, on)
            assert (owed["outstanding_points"], owed["pending_points"]) == (
                replayed["outstanding"],
                replayed["pending"],
            ), on
            assert owed["available_points"] == replayed["outstanding"] - replayed["pending"]
            assert sum(s["outstanding_points"] for s in owed["stores"]) == replayed["outstanding"]
        now_held = await connection.fetchval(
            "select sum(posted) from accounts where program_id = $1 and kind = 'customer'",
            api.program_id_uuid,
        )
    assert (await liability(api, last))["outstanding_points"] == now_held
    await assert_ledger_clean(api.runtime)


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=moscow)


async def rollups(connection: asyncpg.Connection) -> tuple[list[Any], list[Any]]:
    points = await connection.fetch("select * from report_points order by 1, 2, 3, 4, 5")
    owed = await connection.fetch(
        "select * from report_liability where points <> 0 order by 1, 2, 3, 4"
    )
    return [tuple(r) for r in points], [tuple(r) for r in owed]


async def test_a_rebuild_recomputes_the_rollups_and_reconcile_finds_them_apart(
    api: Api,
) -> None:
    await a_year_of_operations(api, 9)
    await relay_everything(api)
    async with api.runtime.pool.acquire() as connection:
        kept = await rollups(connection)
        assert kept[0]
        assert kept[1]
        # Behind the API's back: a rollup row that no longer matches the ledger.
        await connection.execute(
            "update report_points set credited = credited + 1 "
            "where (program_id, day, store_id, channel, type) in "
            "(select program_id, day, store_id, channel, type from report_points "
            " where credited > 0 limit 1)"
        )
        await connection.execute(
            "delete from report_liability where ctid in "
            "(select ctid from report_liability where points <> 0 limit 1)"
        )
    found = (await reconcile(api.runtime.database)).differences
    assert len(found) == 2, found
    assert found[0].startswith("report rollup "), found
    assert found[1].startswith("report liability "), found

    assert await api.runtime.reports.rebuild(api.program_id_uuid) == (
        len(kept[0]),
        len(kept[1]),
    )

    async with api.runtime.pool.acquire() as connection:
        assert await rollups(connection) == kept
        # The planner is told the rebuilt tables' size at once, not when autovacuum comes by.
        analyzed = await connection.fetchval(
            "select count(*) from pg_stat_user_tables where last_analyze is not null "
            "and relname in ('report_points', 'report_liability')"
        )
        assert analyzed == 2
    await assert_ledger_clean(api.runtime)


async def test_concurrent_relays_and_a_rebuild_count_each_operation_once(api: Api) -> None:
    """Four relays share the outbox (SKIP LOCKED) while a rebuild runs beside them: every
    operation lands in the rollups exactly once."""
    await a_year_of_operations(api, 12)

    async def relay() -> None:
        while True:
            async with api.runtime.database.transaction() as store:
                events, _ = await store.fan_out(7)  # small batches: many turns interleave
            if not events:
                return

    async def rebuild() -> None:
        await asyncio.sleep(0.01)
        await api.runtime.reports.rebuild(api.program_id_uuid)

    await asyncio.gather(relay(), relay(), relay(), relay(), rebuild())

    async with api.runtime.pool.acquire() as connection:
        rows = await ledger_rows(connection, api.program_id_uuid)
        rolled = await connection.fetchval(
            "select sum(operations) from report_points where program_id = $1",
            api.program_id_uuid,
        )
    assert rolled == len(rows)
    # The history reaches 400 days back: a window of the last 1,000 days holds all of it.
    last = moscow_today()
    first = last - timedelta(days=999)
    assert all(first <= local_day(row["created_at"]) <= last for row in rows)
    report = await points_report(api, **{"from": first.isoformat(), "to": last.isoformat()})
    assert {name: report["totals"][name] for name in figures} == expected_figures(rows)
    await assert_ledger_clean(api.runtime)


async def test_an_operation_waits_for_the_relay_and_the_report_says_so(api: Api) -> None:
    customer = await api.customer(points=100)
    today = moscow_today()
    window = {"from": (today - timedelta(days=1)).isoformat(), "to": today.isoformat()}
    before = await points_report(api, **window)
    async with api.runtime.pool.acquire() as connection:
        waiting = await connection.fetchval(
            "select created_at from outbox where relayed_at is null order by id limit 1"
        )
        accrued_at = await connection.fetchval(
            "select created_at from operations where account_id = $1 and type = 'accrual'",
            UUID(customer),
        )
    # Not rolled up yet, and the answer says it is complete only before the waiting event.
    assert before["totals"]["issued"] == 0
    assert datetime.fromisoformat(before["complete_before"]) == waiting

    await relay_everything(api)
    after = await points_report(api, **window)
    assert after["totals"]["issued"] == 100
    assert datetime.fromisoformat(after["complete_before"]) > accrued_at
    assert (await liability(api, today))["outstanding_points"] == 100


@pytest.mark.parametrize(
    ("params", "field"),
    [
        pytest.param({"from": "2026-02-01", "to": "2026-01-31"}, "to", id="to-before-from"),
        pytest.param({"from": "2020-01-01", "to": "2026-12-31"}, "to", id="too-long"),
        pytest.param({"from": "1900-01-01", "to": "1900-01-02"}, "from", id="too-early"),
        pytest.param({"from": "2026-01-01"}, "to", id="no-to"),
        pytest.param({"from": "2026-13-01", "to": "2026-12-31"}, "from", id="not-a-date"),
        pytest.param(
            {"from": "2026-01-01", "to": "2026-12-31", "period": "year"},
            "period",
            id="unknown-period",
        ),
        pytest.param(
            {"from": "2026-01-01", "to": "2026-12-31", "by": "tier"}, "by", id="unknown-grouping"
        ),
    ],
)
async def test_a_window_that_cannot_be_read_is_refused_naming_the_field(
    api: Api, params: dict[str, str], field: str
) -> None:
    response = await api.get(
        f"/v1/programs/{api.program_id}/reports/points", key=api.admin_key, **params
    )
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "validation_error"
    assert response.json()["field"] == field, response.text


async def test_another_programs_reports_are_not_there(api: Api) -> None:
    async with api.runtime.database.transaction() as store:
        own = await create_key(store, api.program_id_uuid, "reports", ["admin"], None)
    other = "00000000-0000-4000-8000-000000000000"
    window = {"from": "2026-01-01", "to": "2026-01-31"}
    for path, params in (("points", window), ("liability", {})):
        response = await api.get(f"/v1/programs/{other}/reports/{path}", key=str(own.key), **params)
        assert response.status_code == 404, response.text
    till_answer = await api.get(f"/v1/programs/{api.program_id}/reports/liability", key=api.pos_key)
    assert till_answer.status_code == 403, till_answer.text


async def test_the_reports_export_as_csv(api: Api) -> None:
    await api.customer(points=120)
    await relay_everything(api)
    today = moscow_today().isoformat()
    response = await api.client.get(
        f"/v1/programs/{api.program_id}/reports/points/export",
        params={"from": today, "to": today, "by": "channel"},
        headers=api.headers(api.admin_key, None),
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert response.content.startswith("\ufeff".encode())
    lines = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig")), delimiter=";"))
    assert lines[0][:5] == ["scope", "period", "store_id", "channel", "issued"]
    assert lines[1][:5] == ["period", today, "", "pos", "120"]
    assert lines[-1][:5] == ["total", "", "", "", "120"]

    owed = await api.client.get(
        f"/v1/programs/{api.program_id}/reports/liability/export",
        params={"on": today},
        headers=api.headers(api.admin_key, None),
    )
    assert owed.status_code == 200, owed.text
    rows = list(csv.reader(io.StringIO(owed.content.decode("utf-8-sig")), delimiter=";"))
    assert rows[1] == ["program", today, "", "120", "0", "120", str(120 * 100)]


async def test_a_pass_over_the_ledger_may_outlast_a_requests_timeout(api: Api) -> None:
    """At ten million operations a rebuild and reconcile each take minutes (loadtests/
    RESULTS.md): their transaction lifts the pool's 15 s statement timeout to
    limits.ledger_pass_statement_seconds_max, and only theirs."""
    async with api.runtime.database.transaction() as store:
        await store.rebuild_reports(api.program_id_uuid)
        assert isinstance(store, PostgresStore)
        assert await store.connection.fetchval("show statement_timeout") == "1h"
    async with api.runtime.pool.acquire() as connection:
        assert await connection.fetchval("show statement_timeout") == "15s"
