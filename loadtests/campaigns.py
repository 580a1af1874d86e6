"""The campaign benchmark (issue 19): a fresh database with a program of ``--customers``
customers, a segment that holds them all, and one bulk accrual campaign over it run by the
worker's own code (``Campaigns.run``: the snapshot, then one ``Ledger.accrue`` per member in
concurrent batches, unthrottled here), timed from start to finish; then checked — one accrual
per member, reconcile clean — and set beside the raw-Postgres baseline: the same number of
accruals written as the least SQL one can (one statement per member inserting the operation
and its lot and raising the account's balance, the same concurrency), in the same invocation.

    .venv/bin/python -m loadtests.campaigns --customers 100000 \\
        --database-url postgresql://postgres@127.0.0.1/postgres \\
        --redis-url redis://127.0.0.1:6379/11
"""

import argparse
import asyncio
import base64
import os
import sys
import time
import uuid
from typing import Any

import asyncpg

from loadtests.bench import create_database, with_database
from loadtests.segments import save_segment
from processing.runtime import Runtime
from processing.service.admin import create_key
from processing.service.ledger.reconcile import reconcile
from processing.service.messaging.campaigns import Campaigns
from processing.service.records import ProgramSettings
from processing.settings import Settings

database_name = "bonus_campaigns_bench"
everyone = {"all": [{"fact": "available", "min": 0}]}
points = 50


# $2 customers of program $1 with empty accounts: ids md5($3 || n), phones +7, $4 and the number
# on seven digits.
seed = """
with customer as (
    insert into customers (id, program_id, phone, created_at)
    select md5($3 || n)::uuid, $1::uuid, '+7' || $4 || lpad(n::text, 7, '0'),
           now() - make_interval(secs => n)
    from generate_series(1, $2::int) as n
    returning id
)
insert into accounts (id, program_id, kind, customer_id, posted, reserved)
select id, $1::uuid, 'customer', id, 0, 0 from customer
"""

# The least SQL an accrual can be: its operation, its lot and the account's balance, in one
# statement (no turn, no snapshot, no idempotency record, no outbox, no ledger entries).
raw_accrual = """
with operation as (
    insert into operations (id, program_id, account_id, type, points, document_id, channel,
                            available_after, created_at)
    values ($1, $2, $3, 'accrual', $4, $5, 'bench', 0, now())
    returning id
), lot as (
    insert into lots (id, program_id, account_id, operation_id, points, remaining, held,
                      activates_at, expires_at)
    select $6, $2, $3, operation.id, $4, $4, 0, now(), now() + interval '365 days'
    from operation
)
update accounts set posted = posted + $4 where id = $3
"""


async def prepare(runtime: Runtime, customers: int) -> tuple[uuid.UUID, uuid.UUID]:
    async with runtime.database.transaction() as store:
        program = await store.insert_program(
            uuid.uuid4(), ProgramSettings(name="Campaigns bench", currency="RUB")
        )
        admin = await create_key(store, None, "operator", ["admin"], None)
    async with runtime.pool.acquire() as connection:
        await connection.execute(seed, program.id, customers, "customer", "900")
        await connection.execute("vacuum analyze customers, accounts")
    return program.id, admin.id


async def schedule(pool: asyncpg.Pool, program: uuid.UUID, key: uuid.UUID) -> uuid.UUID:
    """A campaign of ``points`` each, expiring a year after each accrual, over a segment that
    holds every customer of the program, due now."""
    segment = await save_segment(pool, program, everyone)
    campaign = uuid.uuid4()
    await pool.execute(
        "insert into campaigns (id, program_id, segment_id, key_id, name, points, reason,"
        " starts_at, state, expiry_days) values ($1, $2, $3, $4, 'bench', $5, 'bench',"
        " now(), 'scheduled', 365)",
        campaign,
        program,
        segment,
        key,
        points,
    )
    return campaign


async def raw_baseline(pool: asyncpg.Pool, program: uuid.UUID, customers: int, batch: int) -> float:
    async with pool.acquire() as connection:
        rows = await connection.fetch(
            "select id from accounts where program_id = $1 and kind = 'customer' order by id",
            program,
        )
    accounts = [row["id"] for row in rows][:customers]

    async def one(account: uuid.UUID) -> None:
        async with pool.acquire() as connection:
            await connection.execute(
                raw_accrual, uuid.uuid4(), program, account, points, f"raw:{account}", uuid.uuid4()
            )

    started = time.perf_counter()
    for at in range(0, len(accounts), batch):
        await asyncio.gather(*(one(account) for account in accounts[at : at + batch]))
    return time.perf_counter() - started


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    await create_database(args.database_url, database_name)
    settings = Settings(
        database_url=with_database(args.database_url, database_name),
        redis_url=args.redis_url,
        expiry_worker=False,
        db_pool_min=1,
        db_pool_max=args.pool,
        secrets_keys="bench:" + base64.b64encode(os.urandom(32)).decode(),
    )
    runtime = await Runtime.open(settings)
    try:
        program, key = await prepare(runtime, args.customers)
        campaign = await schedule(runtime.pool, program, key)
        worker = Campaigns(
            runtime.database,
            runtime.runner,
            runtime.campaigns.ledger,  # the bulk ledger the worker runs campaigns with
            members_per_second=10.0**9,
            batch_members=args.batch,
            accruals_at_once=args.at_once,
        )
        started = time.perf_counter()
        await worker.run(campaign)
        campaign_seconds = time.perf_counter() - started
        async with runtime.database.reader() as store:
            done = await store.get_campaign(campaign, None)
        async with runtime.pool.acquire() as connection:
            row = await connection.fetchrow(
                "select count(*) as n, count(distinct account_id) as accounts from operations"
                " where document_id like $1",
                f"campaign:{campaign}:%",
            )
            accrued = (0, 0) if row is None else (int(row["n"]), int(row["accounts"]))
            snapshot_ms = await connection.fetchval(
                "select extract(epoch from started_at - created_at) * 1000 from campaigns"
                " where id = $1",
                campaign,
            )
        differences = (await reconcile(runtime.database)).differences
        raw_seconds = await raw_baseline(runtime.pool, program, args.customers, args.at_once)
    finally:
        await runtime.close()
    assert done is not None, campaign
    assert done.state == "finished", done
    assert accrued == (args.customers, args.customers), accrued
    assert differences == [], differences[:5]
    return {
        "customers": args.customers,
        "batch": args.batch,
        "at_once": args.at_once,
        "pool": args.pool,
        "campaign_seconds": campaign_seconds,
        "members_per_second": args.customers / campaign_seconds,
        "raw_seconds": raw_seconds,
        "raw_per_second": args.customers / raw_seconds,
        "accrued": done.accrued,
        "snapshot_and_queue_ms": snapshot_ms,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="loadtests.campaigns", description=__doc__)
    parser.add_argument("--database-url", default=os.environ.get("BONUS_BENCH_DATABASE_URL"))
    parser.add_argument("--redis-url", default=os.environ.get("BONUS_BENCH_REDIS_URL"))
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--at-once", type=int, default=8, help="accruals in flight")
    parser.add_argument("--pool", type=int, default=20)
    args = parser.parse_args(argv)
    if not args.database_url or not args.redis_url:
        parser.error("--database-url and --redis-url (or BONUS_BENCH_*_URL) are required")
    result = asyncio.run(measure(args))
    ratio = result["campaign_seconds"] / result["raw_seconds"]
    print(
        f"{result['customers']} members, batch {result['batch']}, {result['at_once']} at once, "
        f"pool {result['pool']}:\n"
        f"| | seconds | members/s | ÷ raw |\n|---|---|---|---|\n"
        f"| raw SQL, one statement per accrual (baseline) | {result['raw_seconds']:.1f} "
        f"| {result['raw_per_second']:.0f} | 1.00 |\n"
        f"| campaign through Ledger.accrue | {result['campaign_seconds']:.1f} "
        f"| {result['members_per_second']:.0f} | {ratio:.2f} |"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
