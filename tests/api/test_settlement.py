"""Coalition settlement through the API: points earned at one merchant's stores and redeemed at
another's (and refunded in part) make a statement whose parties' nets sum to zero and equal a
direct computation from the ledger's entries; a closed statement never changes (the database
refuses it), an overlapping period is refused, the liability follows the earning merchant, and
every bad input is refused naming its field and changes nothing."""

import asyncio
import csv
import io
from datetime import UTC, date, datetime, timedelta
from typing import Any, NamedTuple
from uuid import UUID
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from processing.service.admin import create_key
from tests.api.test_auth_and_tenancy import assert_problem
from tests.api.test_loyalty_rules_and_checkout import auto_service, put_rules, receipt_line
from tests.conftest import Api, make_program
from tests.invariants import assert_ledger_clean

# The operations of a test are moved this far into the past, so that their period has ended.
days_back = 10
moscow = ZoneInfo("Europe/Moscow")


class Coalition(NamedTuple):
    alpha: str  # merchant with store a-1
    beta: str  # merchant with store b-1
    till_a: str
    till_b: str
    commit_at_b: str
    refund_at_b: str
    commit_at_a: str
    bonus_spent_at_a: str


def at(**delta: float) -> str:
    return (datetime.now(UTC) + timedelta(**delta)).isoformat()


async def till(api: Api, store_id: str) -> str:
    async with api.runtime.database.transaction() as store:
        created = await create_key(
            store, api.program_id_uuid, f"till {store_id}", ["pos"], store_id
        )
    assert created.key is not None
    return created.key


async def create_key_for(api: Api, program_id: str) -> str:
    """An admin key of another program (minted by the operator)."""
    async with api.runtime.database.transaction() as store:
        created = await create_key(store, UUID(program_id), "its admin", ["admin"], None)
    assert created.key is not None
    return created.key


async def merchant(api: Api, name: str, **fields: Any) -> str:
    created = await api.post(
        f"/v1/programs/{api.program_id}/merchants", {"name": name, **fields}, key=api.admin_key
    )
    assert created.status_code == 201, created.text
    merchant_id: str = created.json()["id"]
    return merchant_id


async def assign(api: Api, merchant_id: str, store_id: str, key: str | None = None) -> Any:
    return await api.post(
        f"/v1/merchants/{merchant_id}/stores", {"store_id": store_id}, key=key or api.admin_key
    )


async def spend(api: Api, customer: str, points: int, key: str) -> str:
    hold = await api.post(
        f"/v1/customers/{customer}/holds",
        {"points": points, "document": {"id": f"spend-{next(api.keys)}"}},
        key=key,
    )
    assert hold.status_code == 201, hold.text
    committed = await api.post(f"/v1/holds/{hold.json()['id']}/commit", {}, key=key)
    assert committed.status_code == 200, committed.text
    operation_id: str = committed.json()["id"]
    return operation_id


async def accrue(api: Api, customer: str, points: int, key: str, expires_in_days: int) -> None:
    accrued = await api.post(
        f"/v1/customers/{customer}/accruals",
        {
            "points": points,
            "document": {"id": f"earn-{next(api.keys)}"},
            "expires_at": at(days=expires_in_days),
        },
        key=key,
    )
    assert accrued.status_code == 201, accrued.text


async def travel_back(api: Api) -> None:
    """Moves the program's operations and store assignments ``days_back`` days into the past, as
    if they had happened then: their period has ended and can be closed. (Rules versions are
    immutable: a statement values an operation by the version it recorded.)"""
    async with api.runtime.pool.acquire() as connection:
        for table, column in (
            ("operations", "created_at"),
            ("merchant_stores", "assigned_at"),
        ):
            await connection.execute(
                f"update {table} set {column} = {column} - make_interval(days => $2) "  # noqa: S608
                "where program_id = $1",
                api.program_id_uuid,
                days_back,
            )


def period() -> dict[str, str]:
    """Three local days around the day the operations were moved to."""
    day = (datetime.now(UTC) - timedelta(days=days_back)).astimezone(moscow).date()
    return {
        "from": (day - timedelta(days=1)).isoformat(),
        "to": (day + timedelta(days=2)).isoformat(),
    }


@pytest.fixture
async def coalition(api: Api) -> Coalition:
    """Merchant Alpha has store a-1, Beta has b-1. Ann earns 1000 at a-1 (expiring first) and
    200 at b-1, spends 700 at b-1 (all from Alpha's lot) and has 200 of it refunded there;
    Bob earns 300 at b-1 and spends 100 at a-1; Cid gets 50 from an operator (the program's
    own side) and spends them at a-1; Dan earns and spends at b-1 (no line)."""
    till_a, till_b = await till(api, "a-1"), await till(api, "b-1")
    alpha = await merchant(api, "Alpha", legal_name="OOO Alpha", tax_id="7707083893")
    beta = await merchant(api, "Beta", tax_id="500100732259")
    assert (await assign(api, alpha, "a-1")).status_code == 201
    assert (await assign(api, beta, "b-1")).status_code == 201

    ann = await api.customer("+79120000001")
    await accrue(api, ann, 1000, till_a, 30)
    await accrue(api, ann, 200, till_b, 60)
    commit_at_b = await spend(api, ann, 700, till_b)
    refunded = await api.post(
        f"/v1/operations/{commit_at_b}/refunds",
        {"points": 200, "document": {"id": "return-1"}},
        key=till_b,
    )
    assert refunded.status_code == 201, refunded.text

    bob = await api.customer("+79120000002")
    await accrue(api, bob, 300, till_b, 30)
    commit_at_a = await spend(api, bob, 100, till_a)

    cid = await api.customer("+79120000003")
    adjusted = await api.post(
        f"/v1/customers/{cid}/adjustments",
        {"points": 50, "reason": "goodwill"},
        key=api.admin_key,
    )
    assert adjusted.status_code == 201, adjusted.text
    bonus_spent_at_a = await spend(api, cid, 50, till_a)

    dan = await api.customer("+79120000004")
    await accrue(api, dan, 80, till_b, 30)
    await spend(api, dan, 80, till_b)
    return Coalition(
        alpha,
        beta,
        till_a,
        till_b,
        commit_at_b,
        refunded.json()["id"],
        commit_at_a,
        bonus_spent_at_a,
    )


async def close(api: Api, body: dict[str, Any], key: str | None = None, **kw: Any) -> Any:
    return await api.post(
        f"/v1/programs/{kw.get('program_id', api.program_id)}/settlements",
        body,
        key=key or api.admin_key,
        idempotency_key=kw.get("idempotency_key", "auto"),
    )


async def lines_of(api: Api, statement_id: str, key: str | None = None) -> list[dict[str, Any]]:
    found, cursor = [], None
    while True:
        params: dict[str, Any] = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        response = await api.get(
            f"/v1/settlements/{statement_id}/lines", key=key or api.admin_key, **params
        )
        assert response.status_code == 200, response.text
        found += response.json()["items"]
        cursor = response.json()["next_cursor"]
        if cursor is None:
            return found


async def direct_pairs(api: Api, stores: dict[str, str]) -> dict[tuple[str, str], int]:
    """Points per (earning party, redeeming party) straight from the entries: what commits took
    from lots, less what refunds of commits gave back, by the store of the operation that made
    each lot and the store of the commit (a store of no merchant, or none: "program")."""
    async with api.runtime.pool.acquire() as connection:
        rows = await connection.fetch(
            "select lo.store_id as earned, r.store_id as redeemed, -sum(e.points) as points "
            "from operations o "
            "join operations r on r.id = coalesce(o.refund_of, o.id) and r.type = 'commit' "
            "join entries e on e.operation_id = o.id and e.lot_id is not null "
            "join lots l on l.id = e.lot_id join operations lo on lo.id = l.operation_id "
            "where o.program_id = $1 and o.type in ('commit', 'refund') "
            "group by 1, 2",
            api.program_id_uuid,
        )
    pairs: dict[tuple[str, str], int] = {}
    for row in rows:
        pair = (stores.get(row["earned"], "program"), stores.get(row["redeemed"], "program"))
        if pair[0] != pair[1]:
            pairs[pair] = pairs.get(pair, 0) + int(row["points"])
    return pairs


async def statement_rows(api: Api) -> tuple[int, int, int]:
    async with api.runtime.pool.acquire() as connection:
        row = await connection.fetchrow(
            "select (select count(*) from settlement_statements) as statements, "
            "(select count(*) from settlement_totals) as totals, "
            "(select count(*) from settlement_lines) as lines"
        )
    assert row is not None
    return row["statements"], row["totals"], row["lines"]


async def test_a_two_merchant_statement_balances_to_zero_and_matches_the_ledger(
    api: Api, coalition: Coalition
) -> None:
    c = coalition
    await travel_back(api)

    closed = await close(api, period())

    assert closed.status_code == 201, closed.text
    statement = closed.json()
    assert (statement["from"], statement["to"]) == (period()["from"], period()["to"])
    assert (statement["time_zone"], statement["currency"]) == ("Europe/Moscow", "RUB")
    totals = {total["merchant_id"]: total for total in statement["totals"]}
    assert [total["merchant_name"] for total in statement["totals"]] == ["Alpha", "Beta", None]
    # Alpha: redeemed Bob's 100 (Beta's) and Cid's 50 (the program's); owes Ann's 700 - 200.
    assert (totals[c.alpha]["receivable_points"], totals[c.alpha]["payable_points"]) == (150, 500)
    assert (totals[c.beta]["receivable_points"], totals[c.beta]["payable_points"]) == (500, 100)
    assert (totals[None]["receivable_points"], totals[None]["payable_points"]) == (0, 50)
    # The default point value: 100 kopecks.
    assert totals[c.alpha]["net_minor"] == (150 - 500) * 100
    assert totals[c.beta]["net_minor"] == (500 - 100) * 100
    assert totals[None]["net_minor"] == -50 * 100
    assert sum(total["net_minor"] for total in statement["totals"]) == 0

    stores = {"a-1": c.alpha, "b-1": c.beta}
    parties = {c.alpha: c.alpha, c.beta: c.beta, None: "program"}
    lines = await lines_of(api, statement["id"])
    assert len(lines) == statement["lines"] == 4
    from_lines: dict[tuple[str, str], int] = {}
    for line in lines:
        pair = (parties[line["earning_merchant_id"]], parties[line["merchant_id"]])
        from_lines[pair] = from_lines.get(pair, 0) + line["points"]
        assert (
            line["money_minor"]
            == line["points"] * line["point_value_minor"]
            == line["points"] * 100
        )
    assert from_lines == await direct_pairs(api, stores)
    assert from_lines == {(c.alpha, c.beta): 500, (c.beta, c.alpha): 100, ("program", c.alpha): 50}
    by_operation = {line["operation_id"]: line for line in lines}
    refund = by_operation[c.refund_at_b]
    assert (refund["operation_type"], refund["refund_of"], refund["points"]) == (
        "refund",
        c.commit_at_b,
        -200,
    )
    assert (refund["store_id"], refund["earning_store_id"]) == ("b-1", "a-1")
    assert by_operation[c.bonus_spent_at_a]["earning_store_id"] is None

    read = await api.get(f"/v1/settlements/{statement['id']}", key=api.admin_key)
    assert read.status_code == 200
    assert read.json() == statement
    await assert_ledger_clean(api.runtime)


async def test_the_statement_exports_as_csv_with_a_header_row(
    api: Api, coalition: Coalition
) -> None:
    await travel_back(api)
    statement = (await close(api, period())).json()

    exported = await api.get(f"/v1/settlements/{statement['id']}/export", key=api.admin_key)

    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.content.decode("utf-8"))))
    lines = await lines_of(api, statement["id"])
    assert [row["operation_id"] for row in rows] == [line["operation_id"] for line in lines]
    assert [int(row["money_minor"]) for row in rows] == [line["money_minor"] for line in lines]
    assert {row["merchant_name"] for row in rows} == {"Alpha", "Beta"}
    assert exported.content.decode("utf-8").splitlines()[0].startswith("statement_id,position,")


async def test_a_closed_statement_is_immutable_in_the_database(
    api: Api, coalition: Coalition
) -> None:
    await travel_back(api)
    statement = (await close(api, period())).json()

    async with api.runtime.pool.acquire() as connection:
        for sql in (
            "update settlement_statements set lines = 0 where id = $1",
            "delete from settlement_statements where id = $1",
            "update settlement_lines set points = 1 where statement_id = $1",
            "delete from settlement_lines where statement_id = $1",
            "update settlement_totals set net_minor = 0 where statement_id = $1",
        ):
            with pytest.raises(asyncpg.InsufficientPrivilegeError, match="immutable"):
                await connection.execute(sql, statement["id"])
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="immutable"):
            await connection.execute("truncate settlement_lines")

    read = await api.get(f"/v1/settlements/{statement['id']}", key=api.admin_key)
    assert read.json() == statement


async def test_an_overlapping_period_is_refused_and_a_replay_answers_the_same(
    api: Api, coalition: Coalition
) -> None:
    await travel_back(api)
    first = await close(api, period(), idempotency_key="close-1")
    assert first.status_code == 201
    replayed = await close(api, period(), idempotency_key="close-1")
    assert (replayed.status_code, replayed.content) == (201, first.content)
    before = await statement_rows(api)

    day = date.fromisoformat(period()["to"])
    overlapping = await close(
        api,
        {
            "from": (day - timedelta(days=1)).isoformat(),
            "to": (day + timedelta(days=1)).isoformat(),
        },
    )

    assert_problem(overlapping, 409, "settlement_period_overlaps")
    assert overlapping.json()["field"] == "from"
    assert first.json()["id"] in overlapping.json()["detail"]
    assert await statement_rows(api) == before
    # The next period, adjacent to the closed one, closes (with nothing to settle).
    adjacent = await close(
        api, {"from": day.isoformat(), "to": (day + timedelta(days=1)).isoformat()}
    )
    assert adjacent.status_code == 201, adjacent.text
    assert adjacent.json()["lines"] == 0
    assert all(total["net_minor"] == 0 for total in adjacent.json()["totals"])
    listed = await api.get(f"/v1/programs/{api.program_id}/settlements", key=api.admin_key)
    assert [item["id"] for item in listed.json()["items"]] == [
        adjacent.json()["id"],
        first.json()["id"],
    ]


async def test_bad_periods_are_refused_naming_the_field_and_write_nothing(api: Api) -> None:
    today = datetime.now(moscow).date()
    cases: list[tuple[dict[str, Any], int, str, str]] = [
        ({"from": "2026-02-01", "to": "2026-02-01"}, 400, "validation_error", "to"),
        ({"from": "2026-03-01", "to": "2026-02-01"}, 400, "validation_error", "to"),
        ({"from": "2025-01-01", "to": "2025-04-04"}, 400, "validation_error", "to"),  # 93 days
        (
            {"from": today.isoformat(), "to": (today + timedelta(days=1)).isoformat()},
            400,
            "validation_error",
            "to",
        ),  # not ended yet
        ({"from": "1969-12-01", "to": "1970-01-02"}, 400, "validation_error", "from"),
        ({"from": "2026-13-01", "to": "2026-12-02"}, 400, "validation_error", "from"),
        ({"from": "2026-01-01"}, 400, "validation_error", "to"),
        ({"from": "2026-01-01", "to": "2026-01-02", "extra": 1}, 400, "validation_error", "extra"),
    ]
    for body, status, code, field in cases:
        refused = await close(api, body)
        assert_problem(refused, status, code)
        assert refused.json().get("field") == field, (body, refused.text)
    assert "92" in (await close(api, cases[2][0])).json()["detail"]
    nobody = "00000000-0000-0000-0000-000000000000"
    unknown = await close(api, {"from": "2026-01-01", "to": "2026-01-02"}, program_id=nobody)
    assert_problem(unknown, 404, "not_found")
    other_program, _, _ = await make_program(api.runtime, "Other")
    other_admin = await create_key_for(api, other_program)
    day = {"from": "2026-01-01", "to": "2026-01-02"}
    assert_problem(await close(api, day, key=api.pos_key), 403, "forbidden_scope")
    assert_problem(await close(api, day, key=other_admin), 404, "not_found")
    assert await statement_rows(api) == (0, 0, 0)
    # A 92-day period is within the limit.
    allowed = await close(api, {"from": "2025-01-01", "to": "2025-04-03"})
    assert allowed.status_code == 201, allowed.text


async def test_merchants_and_stores_are_validated_and_paged(api: Api) -> None:
    await till(api, "a-1")
    await till(api, "b-1")
    alpha = await merchant(api, "Alpha")
    beta = await merchant(api, "Beta")
    base = f"/v1/programs/{api.program_id}/merchants"

    for body, field in (
        ({"name": "X", "tax_id": "12345"}, "tax_id"),
        ({"name": "X", "tax_id": "12345678901"}, "tax_id"),
        ({"name": ""}, "name"),
        ({"name": "X", "legal_name": "L" * 301}, "legal_name"),
    ):
        refused = await api.post(base, body, key=api.admin_key)
        assert_problem(refused, 400, "validation_error")
        assert refused.json()["field"] == field
    assert_problem(await api.post(base, {"name": "X"}), 403, "forbidden_scope")

    unknown = await assign(api, alpha, "z-9")
    assert_problem(unknown, 404, "not_found")
    assert unknown.json()["field"] == "store_id"
    assert_problem(await assign(api, alpha, "bad store"), 400, "validation_error")
    first = await assign(api, alpha, "a-1")
    assert first.status_code == 201
    again = await assign(api, alpha, "a-1")
    assert (again.status_code, again.json()["id"]) == (200, first.json()["id"])
    taken = await assign(api, beta, "a-1")
    assert_problem(taken, 409, "store_assigned_elsewhere")
    assert taken.json()["field"] == "store_id"
    assert alpha in taken.json()["detail"]
    assert (await assign(api, alpha, "b-1")).status_code == 201

    stores = await api.get(f"/v1/merchants/{alpha}/stores", key=api.admin_key, limit=1)
    assert [item["store_id"] for item in stores.json()["items"]] == ["b-1"]
    rest = await api.get(
        f"/v1/merchants/{alpha}/stores", key=api.admin_key, cursor=stores.json()["next_cursor"]
    )
    assert [item["store_id"] for item in rest.json()["items"]] == ["a-1"]
    assert rest.json()["next_cursor"] is None

    ended = await api.client.delete(
        f"/v1/merchants/{alpha}/stores/a-1", headers=api.headers(api.admin_key)
    )
    assert ended.status_code == 200, ended.text
    assert ended.json()["unassigned_at"] is not None
    not_assigned = await api.client.delete(
        f"/v1/merchants/{alpha}/stores/a-1", headers=api.headers(api.admin_key)
    )
    assert_problem(not_assigned, 404, "not_found")
    moved = await assign(api, beta, "a-1")
    assert moved.status_code == 201

    page = await api.get(base, key=api.admin_key, limit=1)
    assert [item["name"] for item in page.json()["items"]] == ["Beta"]
    rest = await api.get(base, key=api.admin_key, cursor=page.json()["next_cursor"])
    assert [item["name"] for item in rest.json()["items"]] == ["Alpha"]
    assert_problem(await api.get(base, key=api.admin_key, cursor="nope"), 400, "validation_error")
    found = await api.get(f"/v1/merchants/{alpha}", key=api.admin_key)
    assert (found.status_code, found.json()["name"]) == (200, "Alpha")
    # Another program's merchant is not found, as another program's anything.
    other_program, _, _ = await make_program(api.runtime, "Other")
    other_admin = await create_key_for(api, other_program)
    assert_problem(await assign(api, alpha, "a-1", key=other_admin), 404, "not_found")


async def test_liability_follows_the_merchant_that_earned_the_points(
    api: Api, coalition: Coalition
) -> None:
    c = coalition

    found = await api.get(f"/v1/programs/{api.program_id}/merchant-liability", key=api.admin_key)

    assert found.status_code == 200, found.text
    body = found.json()
    items = {item["merchant_id"]: item for item in body["items"]}
    # Ann's Alpha lot: 1000 - 700 + 200; Beta: Ann's 200 and Bob's 300 - 100; Cid spent his 50.
    assert (items[c.alpha]["points"], items[c.beta]["points"], items[None]["points"]) == (
        500,
        400,
        0,
    )
    assert items[c.alpha]["money_minor"] == 500 * body["point_value_minor"] == 50_000
    async with api.runtime.pool.acquire() as connection:
        open_points = await connection.fetchval(
            "select sum(remaining) from lots where program_id = $1 and open",
            api.program_id_uuid,
        )
    assert sum(item["points"] for item in body["items"]) == open_points


async def merchant_key(api: Api, merchant_id: str, scopes: list[str]) -> Any:
    return await api.post(
        "/v1/api-keys",
        {"program_id": api.program_id, "name": "back office", "scopes": scopes}
        | {"merchant_id": merchant_id},
        key=api.admin_key,
    )


async def test_a_merchant_key_sees_only_its_side(api: Api, coalition: Coalition) -> None:
    c = coalition
    await travel_back(api)
    statement = (await close(api, period())).json()
    minted = await merchant_key(api, c.beta, ["crm"])
    assert minted.status_code == 201, minted.text
    assert minted.json()["merchant_id"] == c.beta
    beta_key = minted.json()["key"]

    read = await api.get(f"/v1/settlements/{statement['id']}", key=beta_key)
    assert read.status_code == 200, read.text
    assert [total["merchant_id"] for total in read.json()["totals"]] == [c.beta]
    own = [
        line
        for line in await lines_of(api, statement["id"])
        if c.beta in (line["merchant_id"], line["earning_merchant_id"])
    ]
    assert len(own) == 3  # Ann's commit and its refund, Bob's commit at a-1; not Cid's bonus
    assert await lines_of(api, statement["id"], key=beta_key) == own
    exported = await api.get(f"/v1/settlements/{statement['id']}/export", key=beta_key)
    rows = list(csv.DictReader(io.StringIO(exported.content.decode("utf-8"))))
    assert [row["operation_id"] for row in rows] == [line["operation_id"] for line in own]
    liability = await api.get(f"/v1/programs/{api.program_id}/merchant-liability", key=beta_key)
    assert [(item["merchant_id"], item["points"]) for item in liability.json()["items"]] == [
        (c.beta, 400)
    ]
    listed = await api.get(f"/v1/programs/{api.program_id}/settlements", key=beta_key)
    assert [item["id"] for item in listed.json()["items"]] == [statement["id"]]
    assert (await api.get(f"/v1/merchants/{c.beta}", key=beta_key)).status_code == 200
    assert_problem(await api.get(f"/v1/merchants/{c.alpha}", key=beta_key), 404, "not_found")

    # Operations by id: its merchant's stores only; another merchant's, or of no store, 404.
    assert (await api.get(f"/v1/operations/{c.commit_at_b}", key=beta_key)).status_code == 200
    assert (await api.get(f"/v1/operations/{c.refund_at_b}", key=beta_key)).status_code == 200
    for other in (c.commit_at_a, c.bonus_spent_at_a):
        assert_problem(await api.get(f"/v1/operations/{other}", key=beta_key), 404, "not_found")
    assert (await api.get(f"/v1/operations/{c.commit_at_a}", key=api.admin_key)).status_code == 200

    # Bob's statement: his accrual at b-1 whole, his commit at a-1 without its ids and document.
    bob = (await api.get(f"/v1/operations/{c.commit_at_a}", key=api.admin_key)).json()
    seen = await api.get(f"/v1/customers/{bob['customer_id']}/operations", key=beta_key)
    assert seen.status_code == 200, seen.text
    by_type = {item["type"]: item for item in seen.json()["items"]}
    assert by_type["accrual"]["document"] is not None
    assert by_type["accrual"]["key_id"] is not None
    redacted = by_type["commit"]
    assert (redacted["document"], redacted["key_id"], redacted["hold_id"]) == (None, None, None)
    assert redacted["points"] == -100
    whole = await api.get(f"/v1/customers/{bob['customer_id']}/operations", key=api.admin_key)
    unredacted = {item["type"]: item for item in whole.json()["items"]}["commit"]
    assert unredacted["key_id"] is not None
    assert unredacted["hold_id"] is not None

    # It writes no settlement, and a key of no merchant without admin reads none.
    assert_problem(await close(api, period(), key=beta_key), 403, "forbidden_scope")
    plain = await api.get(f"/v1/settlements/{statement['id']}", key=api.pos_key)
    assert_problem(plain, 403, "forbidden_scope")


async def test_merchant_keys_are_minted_with_their_merchant_and_no_admin_scope(
    api: Api,
) -> None:
    beta = await merchant(api, "Beta")
    admin = await merchant_key(api, beta, ["crm", "admin"])
    assert_problem(admin, 400, "validation_error")
    assert admin.json()["field"] == "scopes"
    unknown = await merchant_key(api, "00000000-0000-0000-0000-000000000001", ["crm"])
    assert_problem(unknown, 404, "not_found")
    assert unknown.json()["field"] == "merchant_id"
    other_program, _, _ = await make_program(api.runtime, "Other")
    elsewhere = await api.post(
        "/v1/api-keys",
        {"program_id": other_program, "name": "x", "scopes": ["crm"], "merchant_id": beta},
        key=api.admin_key,
    )
    assert_problem(elsewhere, 404, "not_found")
    listed = await api.get(f"/v1/programs/{api.program_id}/api-keys", key=api.admin_key)
    assert all(item["merchant_id"] is None for item in listed.json()["items"])


async def test_a_merchant_key_acts_at_its_own_merchants_stores_only(api: Api) -> None:
    await till(api, "a-1")
    await till(api, "b-1")
    alpha, beta = await merchant(api, "Alpha"), await merchant(api, "Beta")
    assert (await assign(api, alpha, "a-1")).status_code == 201
    assert (await assign(api, beta, "b-1")).status_code == 201

    def at_store(store_id: str) -> Any:
        return api.post(
            "/v1/api-keys",
            {"program_id": api.program_id, "name": "till", "scopes": ["pos"]}
            | {"merchant_id": beta, "store_id": store_id},
            key=api.admin_key,
        )

    for store_id in ("a-1", "c-9"):  # Alpha's store, and a store of no merchant
        refused = await at_store(store_id)
        assert_problem(refused, 400, "validation_error")
        assert refused.json()["field"] == "store_id"
    listed = await api.get(f"/v1/programs/{api.program_id}/api-keys", key=api.admin_key)
    assert all(item["merchant_id"] is None for item in listed.json()["items"])  # none written
    own = await at_store("b-1")
    assert own.status_code == 201, own.text
    assert (own.json()["merchant_id"], own.json()["store_id"]) == (beta, "b-1")


async def test_purchases_paid_with_points_settle_at_their_rules_point_value(api: Api) -> None:
    """A purchase at Beta paid with 3000 of Alpha's points (1 point = 1 ruble, rules version 1),
    of which a returned line gives 1800 back; then the point value doubles (version 2) and Bob
    spends 100 of Alpha's points at Beta: each line is valued at its redemption's version, and
    the points the return clawed back from what the purchase earned are no line at all."""
    assert (await put_rules(api, auto_service)).status_code == 200
    till_a, till_b = await till(api, "a-1"), await till(api, "b-1")
    alpha, beta = await merchant(api, "Alpha"), await merchant(api, "Beta")
    assert (await assign(api, alpha, "a-1")).status_code == 201
    assert (await assign(api, beta, "b-1")).status_code == 201
    ann = await api.customer("+79120000001")
    await accrue(api, ann, 5000, till_a, 60)
    lines = [receipt_line("oil", 4000), receipt_line("work", 6000)]
    hold = await api.post(
        f"/v1/customers/{ann}/holds",
        {"points": 3000, "document": {"id": "R-1"}, "lines": lines},
        key=till_b,
    )
    assert hold.status_code == 201, hold.text
    bought = await api.post(f"/v1/holds/{hold.json()['id']}/commit", {}, key=till_b)
    assert bought.status_code == 200, bought.text
    assert (bought.json()["type"], bought.json()["redeemed_points"]) == ("purchase", 3000)
    returned = await api.post(
        f"/v1/operations/{bought.json()['id']}/refunds",
        {"document": {"id": "RET-1"}, "lines": [{"line_id": "work", "quantity": 1}]},
        key=till_b,
    )
    assert returned.status_code == 201, returned.text
    # Version 2 doubles the point value. Rules versions are immutable, so instead of moving it
    # with the operations it is written as made ``days_back`` days ago, now: it is in force for
    # what follows once the operations are moved (a plain commit records no version; it is
    # valued by the version in force when it was made).
    async with api.runtime.pool.acquire() as connection:
        await connection.execute(
            "insert into program_rules (program_id, version, rules, key_id, created_at) "
            "select program_id, 2, rules || '{\"point_value_minor\": 200}', key_id, "
            "clock_timestamp() - make_interval(days => $2) "
            "from program_rules where program_id = $1 and version = 1",
            api.program_id_uuid,
            days_back,
        )
    bob = await api.customer("+79120000002")
    await accrue(api, bob, 500, till_a, 60)
    later = await spend(api, bob, 100, till_b)
    await travel_back(api)

    closed = await close(api, period())

    assert closed.status_code == 201, closed.text
    found = {
        line["operation_id"]: (line["points"], line["point_value_minor"], line["money_minor"])
        for line in await lines_of(api, closed.json()["id"])
    }
    assert found == {
        bought.json()["id"]: (3000, 100, 300_000),
        returned.json()["id"]: (-1800, 100, -180_000),
        later: (100, 200, 20_000),
    }
    totals = {total["merchant_id"]: total for total in closed.json()["totals"]}
    assert (totals[beta]["receivable_points"], totals[beta]["net_minor"]) == (1300, 140_000)
    assert (totals[alpha]["payable_points"], totals[alpha]["net_minor"]) == (1300, -140_000)
    assert totals[None]["net_minor"] == 0
    await assert_ledger_clean(api.runtime)


async def test_two_overlapping_periods_closed_at_once_make_one_statement(
    api: Api, coalition: Coalition
) -> None:
    await travel_back(api)
    day = date.fromisoformat(period()["from"])
    wider = {"from": (day - timedelta(days=1)).isoformat(), "to": period()["to"]}

    answers = await asyncio.gather(close(api, period()), close(api, wider), close(api, period()))

    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [201, 409, 409], [answer.text for answer in answers]
    for answer in answers:
        if answer.status_code == 409:
            assert_problem(answer, 409, "settlement_period_overlaps")
    assert (await statement_rows(api))[0] == 1
