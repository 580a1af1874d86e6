"""What the database itself enforces: entries are append-only, an operation's entries sum to
zero, refunds and holds stay within bounds; and reconcile reports any drift from the entries."""

import asyncio

import asyncpg
import pytest

from processing.service.ledger.reconcile import reconcile
from tests.conftest import Api


async def entry_id(api: Api) -> int:
    await api.customer(points=10)
    value: int = await api.runtime.pool.fetchval("select min(id) from entries")
    return value


@pytest.mark.parametrize(
    "statement",
    [
        "update entries set points = points + 1 where id = $1",
        "delete from entries where id = $1",
    ],
    ids=["update", "delete"],
)
async def test_entries_refuse_update_and_delete(api: Api, statement: str) -> None:
    target = await entry_id(api)
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
        await api.runtime.pool.execute(statement, target)
    assert (await reconcile(api.runtime.database)).clean


async def test_entries_refuse_truncate(api: Api) -> None:
    await entry_id(api)
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
        await api.runtime.pool.execute("truncate entries cascade")


async def test_an_unbalanced_operation_cannot_commit(api: Api) -> None:
    customer = await api.customer(points=10)
    operation = await api.runtime.pool.fetchrow(
        "select id, program_id, account_id from operations limit 1"
    )
    with pytest.raises(asyncpg.CheckViolationError, match="sum to"):
        async with api.runtime.pool.acquire() as connection, connection.transaction():
            await connection.execute(
                "insert into entries (program_id, operation_id, account_id, points)"
                " values ($1, $2, $3, 5)",
                operation["program_id"],
                operation["id"],
                operation["account_id"],
            )
    assert (await api.balance(customer))["available"] == 10


async def test_refunded_points_cannot_exceed_the_original(api: Api) -> None:
    customer = await api.customer()
    accrual = await api.accrue(customer, 10)
    with pytest.raises(asyncpg.CheckViolationError):
        await api.runtime.pool.execute(
            "update operations set refunded_points = 11 where id = $1::uuid", accrual["id"]
        )


async def test_reconcile_reports_a_tampered_cached_balance(api: Api) -> None:
    customer = await api.customer(points=10)
    assert (await reconcile(api.runtime.database)).clean
    await api.runtime.pool.execute(
        "update accounts set posted = posted + 5 where id = $1::uuid", customer
    )
    report = await reconcile(api.runtime.database)
    assert not report.clean
    assert any(customer in difference for difference in report.differences)


async def test_reconcile_reports_a_lot_that_drifted_from_its_entries(api: Api) -> None:
    customer = await api.customer(points=10)
    await api.runtime.pool.execute(
        "update lots set remaining = remaining - 1 where account_id = $1::uuid", customer
    )
    report = await reconcile(api.runtime.database)
    assert any(difference.startswith("lot ") for difference in report.differences)


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param("update accounts set reserved = reserved + 1 where id = $1::uuid", id="cache"),
        pytest.param(
            "update holds set status = 'cancelled', resolved_at = now()"
            " where account_id = $1::uuid",
            id="hold-resolved-behind-the-ledger",
        ),
    ],
)
async def test_reconcile_reports_reserved_points_that_disagree(api: Api, tamper: str) -> None:
    customer = await api.customer(points=10)
    other = await api.customer("+79120000002", points=10)
    for someone in (customer, other):
        assert (await api.reserve(someone, 4)).status_code == 201
    assert (await reconcile(api.runtime.database)).clean

    await api.runtime.pool.execute(tamper, customer)

    report = await reconcile(api.runtime.database)
    reserved = [line for line in report.differences if "reserved" in line]
    assert len(reserved) == 1, report.differences
    assert customer in reserved[0]


async def test_reserves_and_commits_update_the_lot_in_place(api: Api, database_url: str) -> None:
    """No index names a lot's remaining or held points, so the changes every pair makes to the
    customer's lot are HOT updates: no new index entries, no trail of dead row versions for the
    next read of the same customer to walk."""
    customer = await api.customer(points=1000)
    for _ in range(30):
        hold = await api.reserve(customer, 1)
        assert hold.status_code == 201
        commit = await api.post(f"/v1/holds/{hold.json()['id']}/commit", {})
        assert commit.status_code == 200
    assert (await api.balance(customer))["available"] == 970

    observer = await asyncpg.connect(database_url)
    try:
        # A backend reports its table statistics when it ends: end the service's connections.
        await observer.execute(
            "select pg_terminate_backend(pid) from pg_stat_activity"
            " where datname = current_database() and pid <> pg_backend_pid()"
        )
        counts = None
        for _ in range(50):
            await observer.execute("select pg_stat_clear_snapshot()")
            counts = await observer.fetchrow(
                "select n_tup_upd, n_tup_hot_upd from pg_stat_user_tables where relname = 'lots'"
            )
            if counts is not None and counts["n_tup_upd"] >= 60:
                break
            await asyncio.sleep(0.1)
    finally:
        await observer.close()
    assert counts is not None
    assert counts["n_tup_upd"] >= 60  # a reserve and a commit, 30 times
    assert counts["n_tup_hot_upd"] >= 0.9 * counts["n_tup_upd"]
