"""The reports benchmark's year of ledger (loadtests/reports_data.py), generated straight in SQL:
small here, and it must be a ledger reconcile finds nothing wrong with once `bonus reports
rebuild` has rolled it up, hold every constraint the schema declares (loaded with them all in
place, or with the foreign keys, plain indexes and the balance trigger lifted for speed and
restored after), and carry the mix a report shows: every operation type, pending lots, an
active hold."""

from datetime import UTC, datetime

import asyncpg
import pytest

from loadtests.reports_data import generate
from processing.runtime import Runtime
from processing.service.ledger.reconcile import reconcile

now = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)


async def schema_of(connection: asyncpg.Connection) -> list[tuple[str, str]]:
    """Every constraint, index and trigger of the public schema, as Postgres writes them."""
    rows = await connection.fetch(
        "select conrelid::regclass::text || '.' || conname as name, pg_get_constraintdef(oid)"
        "   as definition from pg_constraint where connamespace = 'public'::regnamespace"
        " union all"
        " select indexname, indexdef from pg_indexes where schemaname = 'public'"
        " union all"
        " select tgname, pg_get_triggerdef(oid) || ' ' || tgenabled::text from pg_trigger"
        " where not tgisinternal"
        " order by 1, 2"
    )
    return [(row["name"], row["definition"]) for row in rows]


@pytest.mark.parametrize("checked", [False, True], ids=["lifted", "checked"])
async def test_a_generated_year_reconciles_clean(
    database_url: str, runtime: Runtime, checked: bool
) -> None:
    connection = await asyncpg.connect(database_url)
    try:
        before = await schema_of(connection)
        made = await generate(
            connection, customers=1000, operations=20000, stores=5, now=now, checked=checked
        )
        after = await schema_of(connection)
        types = dict(
            await connection.fetch(
                "select type, count(*) from operations where program_id = $1 group by type",
                made.program_id,
            )
        )
        stores = await connection.fetchval(
            "select count(distinct store_id) from operations where program_id = $1",
            made.program_id,
        )
        span = await connection.fetchrow(
            "select min(created_at) as first, max(created_at) as last from operations"
        )
        pending = await connection.fetchval(
            "select count(*) from lots where activates_at > $1 and remaining > 0", now
        )
        active = await connection.fetchval(
            "select count(*) from holds where status = 'active' and expires_at > $1", now
        )
        reserved = await connection.fetchval("select sum(reserved) from accounts")
    finally:
        await connection.close()

    assert after == before  # what the fast load lifted is all back, enabled
    assert 18000 <= made.operations <= 22000, made
    assert set(types) == {
        "accrual",
        "purchase",
        "reserve",
        "commit",
        "cancel",
        "refund",
        "expire",
        "adjustment",
    }, types
    assert stores == 5
    assert span is not None
    assert 364 <= (now - span["first"]).days <= 365
    assert span["last"] < now
    assert pending > 0
    assert active > 0
    assert reserved > 0
    # The generator leaves the report rollups to `bonus reports rebuild`, as the bench runs it:
    # until then reconcile finds the ledger clean and only the rollups missing.
    missing = (await reconcile(runtime.database)).differences
    assert missing
    assert all(difference.startswith("report ") for difference in missing), missing[:3]
    await runtime.reports.rebuild(None)
    report = await reconcile(runtime.database)
    assert report.differences == []
    assert report.accounts_checked == 1000


async def test_reconcile_sees_a_generated_lot_put_wrong(
    database_url: str, runtime: Runtime
) -> None:
    """The control: reconcile is reading this ledger, so one lot off by a point shows."""
    connection = await asyncpg.connect(database_url)
    try:
        await generate(connection, customers=50, operations=500, stores=2, now=now)
        await runtime.reports.rebuild(None)
        await connection.execute(
            "update lots set remaining = remaining - 1"
            " where id = (select id from lots where remaining > held limit 1)"
        )
    finally:
        await connection.close()

    differences = (await reconcile(runtime.database)).differences
    assert len(differences) == 2, differences  # the lot against its entries, its account
