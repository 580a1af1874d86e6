"""The members and purchases reports (decision 0027) say what the ledger says: customers buy at
two tills and a web shop, some pay partly with points, return lines, move up a tier and back,
are merged or erased; their histories are spread over months before the relay rolls them up,
and every figure of every period is compared with SQL written straight over the ledger."""

from datetime import date, timedelta
from typing import Any
from uuid import UUID

import asyncpg

from processing.service.ledger.reconcile import reconcile
from tests.api.test_consent_and_erasure import erase
from tests.api.test_customer_merge import merge
from tests.api.test_loyalty_rules_and_checkout import put_rules, receipt_line
from tests.api.test_paid_purchases import commit
from tests.api.test_reports import moscow_today, relay_everything, till
from tests.api.test_returns_by_line import return_lines
from tests.conftest import Api
from tests.invariants import assert_ledger_clean

rub = 100
rules = {
    "point_value_minor": 1 * rub,
    "earning": {"base_bp": 1000},
    "redemption": {"max_share_bp": 5000},
    "tiers": [
        {"name": "silver", "threshold_minor": 0, "earn_bp": 1000},
        {"name": "gold", "threshold_minor": 5_000 * rub, "earn_bp": 1500},
    ],
    "tier_window_days": 3650,
    "activation_delay_days": 0,
    "expiry": {"mode": "days", "days": 3650},
    "return_policy": "floor",
}
zone = "Europe/Moscow"
purchase_figures = (
    "purchases",
    "amount_minor",
    "money_minor",
    "average_check_minor",
    "points_share_bp",
    "returns",
    "returned_money_minor",
    "purchasing_customers",
    "repeat_customers",
    "repeat_rate_bp",
)

# The figures straight from the ledger for a window of days in the program's time zone: the
# purchases and returns of purchases made in it (where and how, when asked), and the customers
# (the accounts that made the operations) who bought once or more, and twice or more.
ledger_purchases_sql = """
with made as (
    select o.id, o.type, o.account_id, coalesce(o.store_id, '') as store_id, o.channel,
           p.amount_minor, p.money_minor,
           (select sum(r.money_minor) from purchase_returns r where r.operation_id = o.id)
               as returned_money_minor
    from operations o
    left join purchases p on p.operation_id = o.id
    where o.program_id = $1
      and (o.created_at at time zone 'Europe/Moscow')::date between $2 and $3
      and ($4::text is null or coalesce(o.store_id, '') = $4)
      and ($5::text is null or o.channel = $5)
), buyers as (
    select account_id, count(*) as purchases from made where type = 'purchase'
    group by account_id
)
select count(*) filter (where type = 'purchase') as purchases,
       coalesce(sum(amount_minor), 0)::bigint as amount_minor,
       coalesce(sum(money_minor), 0)::bigint as money_minor,
       count(*) filter (where type = 'refund'
                          and exists (select 1 from purchase_returns r
                                      where r.operation_id = made.id)) as returns,
       coalesce(sum(returned_money_minor), 0)::bigint as returned_money_minor,
       (select count(*) from buyers) as purchasing_customers,
       (select count(*) from buyers where purchases >= 2) as repeat_customers
from made
"""


def half_up(part: int, whole: int, scale: int = 1) -> int | None:
    return None if whole == 0 else (2 * part * scale + whole) // (2 * whole)


async def ledger_purchases(
    connection: asyncpg.Connection,
    program_id: UUID,
    first: date,
    last: date,
    store_id: str | None = None,
    channel: str | None = None,
    customers: bool = True,
) -> dict[str, Any]:
    row = await connection.fetchrow(
        ledger_purchases_sql, program_id, first, last, store_id, channel
    )
    figures = dict(row)
    figures["average_check_minor"] = half_up(figures["amount_minor"], figures["purchases"])
    figures["points_share_bp"] = half_up(
        figures["amount_minor"] - figures["money_minor"], figures["amount_minor"], 10_000
    )
    figures["repeat_rate_bp"] = half_up(
        figures["repeat_customers"], figures["purchasing_customers"], 10_000
    )
    if not customers:
        for name in ("purchasing_customers", "repeat_customers", "repeat_rate_bp"):
            figures[name] = None
    return {name: figures[name] for name in purchase_figures}


# Members straight from the customers: enrolled in the window, and at its end those enrolled by
# then, not merged into another and not erased by then; active: customers with an operation
# of their own (not an expiry, a merge or an import) in it.
ledger_members_sql = """
with bounds as (
    select ($2::date::timestamp at time zone 'Europe/Moscow') as starts,
           (($3::date + 1)::timestamp at time zone 'Europe/Moscow') as ends
)
select (select count(*) from customers c, bounds b
        where c.program_id = $1 and c.created_at >= b.starts and c.created_at < b.ends)
           as new_members,
       (select count(*) from customers c, bounds b
        where c.program_id = $1 and c.created_at < b.ends
          and not (c.erased_at is not null and c.erased_at < b.ends)
          and not exists (select 1 from operations m
                          where m.type = 'merge' and m.merged_from = c.id
                            and m.created_at < b.ends)) as members,
       (select count(distinct o.account_id) from operations o, bounds b
        where o.program_id = $1 and o.created_at >= b.starts and o.created_at < b.ends
          and o.type not in ('expire', 'merge', 'opening')) as active_members
"""


async def ledger_members(
    connection: asyncpg.Connection, program_id: UUID, first: date, last: date
) -> dict[str, int]:
    return dict(await connection.fetchrow(ledger_members_sql, program_id, first, last))


async def report(api: Api, name: str, **params: Any) -> Any:
    response = await api.get(
        f"/v1/programs/{api.program_id}/reports/{name}", key=api.admin_key, **params
    )
    assert response.status_code == 200, response.text
    return response.json()


async def paid_with_points(api: Api, customer: str, points: int, doc: str, key: str) -> None:
    body = {"points": points, "document": {"id": doc}, "lines": [receipt_line("oil", 1500)]}
    hold = await api.post(f"/v1/customers/{customer}/holds", body, key=key)
    assert hold.status_code == 201, hold.text
    done = await commit(api, hold.json()["id"], key=key)
    assert done.status_code == 200, done.text


async def buy(api: Api, customer: str, rubles: int, doc: str, key: str) -> str:
    bought = await api.post(
        f"/v1/customers/{customer}/purchases",
        {
            "document": {"id": doc},
            "lines": [receipt_line("oil", rubles), receipt_line("wash", 300)],
        },
        key=key,
    )
    assert bought.status_code == 201, bought.text
    operation_id: str = bought.json()["operation"]["id"]
    return operation_id


async def a_year_of_customers(api: Api, count: int) -> list[str]:
    """Customers at two tills and a web shop: one to three purchases each, some paid partly
    with points, some lines returned, some big enough for gold (and one returned back to
    silver); one customer merged into another and one erased; then each customer's history,
    enrolment included, moved back by its own number of days."""
    assert (await put_rules(api, rules)).status_code == 200
    second_till = await till(api, "store-2", ["pos"])
    shop = await till(api, "web", ["shop"])
    keys = (api.pos_key, second_till, shop)
    ids = []
    for n in range(count):
        customer = await api.customer(f"+7913{n:07d}", points=2000)
        ids.append(customer)
        key = keys[n % 3]
        first = await buy(api, customer, 1000 + 700 * n, f"R-{n}", key)
        for extra in range(n % 3):
            await buy(api, customer, 400 + extra, f"R-{n}-{extra}", keys[(n + extra + 1) % 3])
        if n % 4 == 1:
            await paid_with_points(api, customer, 500 + n, f"P-{n}", key)
        if n % 3 == 0:
            back = await return_lines(api, first, [("wash", 1)], f"RET-{n}")
            assert back.status_code == 201, back.text
        if n == 6:  # 5,200 rubles made gold; the oil back makes silver again
            back = await return_lines(api, first, [("oil", 1)], f"RET-OIL-{n}")
            assert back.status_code == 201, back.text
    merged = await merge(api, ids[1], ids[2])
    assert merged.status_code == 200, merged.text
    erased = await erase(api, ids[4])
    assert erased.status_code == 200, erased.text
    async with api.runtime.pool.acquire() as connection:
        for n, customer in enumerate(ids):
            back_by = timedelta(days=(n * 41) % 330)
            for table, column, key_column in (
                ("operations", "created_at", "account_id"),
                ("purchases", "created_at", "account_id"),
                ("customers", "created_at", "id"),
                ("customers", "erased_at", "id"),
                ("outbox", "created_at", "(payload->>'customer_id')::uuid"),
            ):
                await connection.execute(
                    f"update {table} set {column} = {column} - $2::interval "  # noqa: S608
                    f"where {key_column} = $1",
                    UUID(customer),
                    back_by,
                )
    return ids


async def test_the_purchases_report_says_what_the_ledger_says(api: Api) -> None:
    await a_year_of_customers(api, 10)
    await relay_everything(api)
    first, last = moscow_today() - timedelta(days=340), moscow_today() + timedelta(days=1)
    window = {"from": first.isoformat(), "to": last.isoformat()}
    async with api.runtime.pool.acquire() as connection:
        program = api.program_id_uuid
        whole = await report(api, "purchases", **window, period="month")
        expected = await ledger_purchases(connection, program, first, last)
        assert {n: whole["totals"][n] for n in purchase_figures} == expected
        assert expected["returns"] > 0
        assert expected["repeat_customers"] > 0
        assert expected["points_share_bp"] > 0
        assert len(whole["rows"]) > 3
        for row in whole["rows"]:
            period = date.fromisoformat(row["period"])
            span_first = max(period, first)
            span_last = min(
                (period.replace(day=28) + timedelta(days=4)).replace(day=1),
                last + timedelta(days=1),
            ) - timedelta(days=1)
            assert {n: row[n] for n in purchase_figures} == await ledger_purchases(
                connection, program, span_first, span_last
            ), row["period"]
        for by, column in (("store", "store_id"), ("channel", "channel")):
            grouped = await report(api, "purchases", **window, period="week", by=by)
            for row in grouped["rows"]:
                week = date.fromisoformat(row["period"])
                asked = {column: row[column] or ""}
                assert {n: row[n] for n in purchase_figures} == await ledger_purchases(
                    connection,
                    program,
                    max(week, first),
                    min(week + timedelta(days=6), last),
                    customers=False,
                    **asked,
                ), (by, row)
            assert sum(row["purchases"] for row in grouped["rows"]) == expected["purchases"]
        # A ragged window: days, a week and months between.
        ragged_first, ragged_last = first + timedelta(days=17), last - timedelta(days=23)
        ragged = await report(
            api, "purchases", **{"from": ragged_first.isoformat(), "to": ragged_last.isoformat()}
        )
        assert {n: ragged["totals"][n] for n in purchase_figures} == await ledger_purchases(
            connection, program, ragged_first, ragged_last
        )
    await assert_ledger_clean(api.runtime)


async def test_the_members_report_says_what_the_ledger_says(api: Api) -> None:
    ids = await a_year_of_customers(api, 10)
    await relay_everything(api)
    first, last = moscow_today() - timedelta(days=300), moscow_today()
    members = await report(
        api, "members", **{"from": first.isoformat(), "to": last.isoformat()}, period="month"
    )
    async with api.runtime.pool.acquire() as connection:
        program = api.program_id_uuid
        totals = await ledger_members(connection, program, first, last)
        assert members["totals"] == totals
        assert 0 < totals["new_members"] < 10  # some enrolled before the window
        for row in members["rows"]:
            period = date.fromisoformat(row["period"])
            span_last = min(
                (period.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1),
                last,
            )
            expected = await ledger_members(connection, program, max(period, first), span_last)
            assert {n: row[n] for n in ("new_members", "members", "active_members")} == expected
        tiers_at_end = await connection.fetch(
            """
            select distinct on (x.payload->>'customer_id')
                   x.payload->>'customer_id' as customer_id, x.payload->>'tier_after' as tier
            from outbox x
            where x.program_id = $1 and x.type = 'tier.changed'
              and x.created_at < (($2::date + 1)::timestamp at time zone 'Europe/Moscow')
            order by x.payload->>'customer_id', x.created_at desc, x.id desc
            """,
            program,
            last,
        )
        moves = await connection.fetch(
            """
            select x.payload->>'tier_before' as tier_before,
                   x.payload->>'tier_after' as tier_after, count(*) as customers
            from outbox x
            where x.program_id = $1 and x.type = 'tier.changed'
              and (x.created_at at time zone 'Europe/Moscow')::date between $2 and $3
            group by 1, 2
            """,
            program,
            first,
            last,
        )
    gone = {ids[2], ids[4]}  # merged into another, erased
    counted: dict[str | None, int] = {}
    for row in tiers_at_end:
        if row["customer_id"] not in gone:
            counted[row["tier"]] = counted.get(row["tier"], 0) + 1
    counted[None] = totals["members"] - sum(counted.values())
    assert {t["tier"]: t["members"] for t in members["tiers"]} == counted
    assert counted.get("gold", 0) > 0
    assert sorted(
        (m["tier_before"] or "", m["tier_after"] or "", m["customers"])
        for m in members["tier_moves"]
    ) == sorted((m["tier_before"] or "", m["tier_after"] or "", m["customers"]) for m in moves)
    assert any(m["tier_after"] == "silver" and m["tier_before"] == "gold" for m in moves)


async def test_a_rebuild_gives_the_same_reports_and_reconcile_finds_a_difference(
    api: Api,
) -> None:
    await a_year_of_customers(api, 6)
    await relay_everything(api)
    window = {
        "from": (moscow_today() - timedelta(days=340)).isoformat(),
        "to": moscow_today().isoformat(),
    }
    before = [await report(api, name, **window, period="week") for name in ("members", "purchases")]
    async with api.runtime.pool.acquire() as connection:
        sets = await connection.fetchval("select count(*) from report_customer_sets")
        await connection.execute("delete from report_customer_sets where grain = 'week'")
        await connection.execute("update report_purchases set money_minor = money_minor + 1")
    found = await reconcile(api.runtime.database)
    assert any("report purchases" in line for line in found.differences)
    assert any("report customers" in line for line in found.differences)
    await api.runtime.reports.rebuild(None)
    after = [await report(api, name, **window, period="week") for name in ("members", "purchases")]
    assert after == [
        {**one, "complete_before": two["complete_before"]}
        for one, two in zip(before, after, strict=True)
    ]
    async with api.runtime.pool.acquire() as connection:
        assert await connection.fetchval("select count(*) from report_customer_sets") == sets
    await assert_ledger_clean(api.runtime)


async def test_an_unreadable_window_is_refused_naming_the_field(api: Api) -> None:
    base = f"/v1/programs/{api.program_id}/reports"
    for name in ("members", "purchases"):
        cases = [
            ({"from": "2026-02-01", "to": "2026-01-01"}, "to"),
            ({"from": "2020-01-01", "to": "2026-01-01"}, "to"),
            ({"from": "2026-13-01", "to": "2026-01-01"}, "from"),
            ({"to": "2026-01-01"}, "from"),
            ({"from": "2026-01-01", "to": "2026-01-02", "period": "year"}, "period"),
        ]
        for params, field in cases:
            response = await api.get(f"{base}/{name}", key=api.admin_key, **params)
            assert response.status_code == 400, (name, params, response.text)
            assert response.json()["field"] == field, (name, params, response.json())
    wrong_by = await api.get(
        f"{base}/purchases",
        key=api.admin_key,
        **{"from": "2026-01-01", "to": "2026-01-02", "by": "x"},
    )
    assert (wrong_by.status_code, wrong_by.json()["field"]) == (400, "by")
    refused = await api.get(
        f"{base}/members", key=api.pos_key, **{"from": "2026-01-01", "to": "2026-01-02"}
    )
    assert refused.status_code == 403
    other = f"/v1/programs/{UUID(int=7)}/reports"
    for name in ("members", "purchases"):
        missing = await api.get(
            f"{other}/{name}", key=api.admin_key, **{"from": "2026-01-01", "to": "2026-01-02"}
        )
        assert missing.status_code == 404, missing.text


async def test_the_reports_export_as_csv(api: Api) -> None:
    await a_year_of_customers(api, 6)
    await relay_everything(api)
    window = {
        "from": (moscow_today() - timedelta(days=340)).isoformat(),
        "to": moscow_today().isoformat(),
    }
    for name, header in (
        ("purchases", "scope;period;store_id;channel;purchases;amount_minor"),
        ("members", "scope;period;tier;tier_before;tier_after;new_members;members"),
    ):
        response = await api.get(
            f"/v1/programs/{api.program_id}/reports/{name}/export",
            key=api.admin_key,
            **window,
            period="month",
        )
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("text/csv")
        text = response.content.decode("utf-8")
        assert text.startswith("\ufeff" + header)
        lines = text.strip().split("\r\n")
        assert lines[-1].startswith(("total;", "tier;", "tier_change;"))
        as_json = await report(api, name, **window, period="month")
        totals = next(line for line in lines if line.startswith("total;")).split(";")
        if name == "purchases":
            assert int(totals[4]) == as_json["totals"]["purchases"]
        else:
            assert int(totals[6]) == as_json["totals"]["members"]
