"""The live consistency check's cost (decision 0028): a fresh database with a program of
``--customers`` customers, each with four accruals (a lot each, two entries each), a
redemption from its first lot, and one customer in ten with a partial refund of its second
accrual and one in ten with an active hold on its third lot; then

- one whole walk of the check as the worker runs it (``LiveCheck.check_pass`` with no pause,
  ``--accounts-per-pass`` accounts a pass): accounts a second, and the Postgres time per
  account of the check's statement alone (the median pass's statement ÷ its accounts);
- ``bonus reconcile`` over the same ledger in one pass, for comparison;
- the plan of one pass's statement (EXPLAIN ANALYZE), which must use the indexes and scan no
  table whole.

The seeded ledger is consistent, so the walk must find no difference; one account is then
changed behind the ledger's back and the next walk must find it.

    BONUS_BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres \\
        .venv/bin/python -m loadtests.live_check --customers 100000
"""

import argparse
import asyncio
import json
import re
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg

from loadtests.bench import create_database, servers, with_database
from processing.adapters.postgres.database import PostgresDatabase, create_pool
from processing.adapters.postgres.migrations import migrate
from processing.adapters.postgres.queries import QUERIES
from processing.adapters.sealing import Keyring, parse_keys
from processing.service.ledger.live_check import LiveCheck
from processing.service.ledger.reconcile import reconcile

database_name = "bonus_live_check_bench"
lots_per_customer = 4

# Every row as the ledger writes it: accruals with their lots and two entries each (the
# customer's lot against the program's issued account), a commit spending from the first lot
# against the redeemed account, a refund clawing back part of the second accrual (one customer
# in ten) and an active hold on the third lot with its reserve operation and allocation (one in
# ten); then each account's cached posted and reserved from its lots. Points are 100 to 1,099.
seed = [
    """insert into customers (id, program_id, phone, created_at)
       select md5('customer' || n)::uuid, $1::uuid, '+7900' || lpad(n::text, 7, '0'), now()
       from generate_series(1, $2::int) as n""",
    """insert into accounts (id, program_id, kind, customer_id)
       select md5('customer' || n)::uuid, $1::uuid, 'customer', md5('customer' || n)::uuid
       from generate_series(1, $2::int) as n""",
    """insert into accounts (id, program_id, kind)
       select md5($1::uuid::text || kind)::uuid, $1::uuid, kind
       from unnest(array['issued', 'redeemed']) as kind""",
    """insert into operations (id, program_id, account_id, type, points, document_id, channel,
                               available_after, created_at)
       select md5('accrual' || n || '-' || k)::uuid, $1::uuid, md5('customer' || n)::uuid,
              'accrual', 100 + abs(hashtext(k || '-' || n)) % 1000, 'seed-' || n || '-' || k,
              'bench', 0, now()
       from generate_series(1, $2::int) as n, generate_series(1, $3::int) as k""",
    """insert into lots (id, program_id, account_id, operation_id, points, remaining,
                         activates_at, expires_at)
       select md5('lot' || n || '-' || k)::uuid, $1::uuid, md5('customer' || n)::uuid,
              o.id, o.points, o.points, now() - interval '1 day', now() + interval '300 days'
       from generate_series(1, $2::int) as n
       cross join generate_series(1, $3::int) as k
       join operations o on o.id = md5('accrual' || n || '-' || k)::uuid""",
    """insert into operations (id, program_id, account_id, type, points, channel,
                               available_after, created_at)
       select md5('commit' || n)::uuid, $1::uuid, md5('customer' || n)::uuid, 'commit', -50,
              'bench', 0, now()
       from generate_series(1, $2::int) as n""",
    """insert into operations (id, program_id, account_id, type, points, refund_of, channel,
                               available_after, created_at)
       select md5('refund' || n)::uuid, $1::uuid, md5('customer' || n)::uuid, 'refund', -30,
              md5('accrual' || n || '-2')::uuid, 'bench', 0, now()
       from generate_series(10, $2::int, 10) as n""",
    """update operations set refunded_points = 30
       where program_id = $1::uuid and id in (select md5('accrual' || n || '-2')::uuid
                    from generate_series(10, $2::int, 10) as n)""",
    """insert into operations (id, program_id, account_id, type, points, channel,
                               available_after, created_at)
       select md5('reserve' || n)::uuid, $1::uuid, md5('customer' || n)::uuid, 'reserve', 0,
              'bench', 0, now()
       from generate_series(5, $2::int, 10) as n""",
    """insert into holds (id, program_id, account_id, operation_id, points, status, expires_at,
                          document_id, created_at)
       select md5('hold' || n)::uuid, $1::uuid, md5('customer' || n)::uuid,
              md5('reserve' || n)::uuid, 40, 'active', now() + interval '1 day',
              'hold-' || n, now()
       from generate_series(5, $2::int, 10) as n""",
    """insert into hold_allocations (hold_id, lot_id, points)
       select md5('hold' || n)::uuid, md5('lot' || n || '-3')::uuid, 40
       from generate_series(5, $2::int, 10) as n
       where $1::uuid is not null""",
    """insert into entries (program_id, operation_id, account_id, lot_id, points)
       select $1::uuid, o.id, side.account_id, side.lot_id, side.points
       from operations o,
       lateral (select split_part(o.document_id, '-', 2)::int as n,
                       split_part(o.document_id, '-', 3)::int as k) d,
       lateral (
           select o.account_id, md5('lot' || d.n || '-' || d.k)::uuid as lot_id, o.points
           union all select md5($1::uuid::text || 'issued')::uuid, null, -o.points
       ) side
       where o.type = 'accrual' and o.program_id = $1::uuid""",
    """insert into entries (program_id, operation_id, account_id, lot_id, points)
       select $1::uuid, md5('commit' || n)::uuid, side.account_id, side.lot_id, side.points
       from generate_series(1, $2::int) as n,
       lateral (
           select md5('customer' || n)::uuid as account_id,
                  md5('lot' || n || '-1')::uuid as lot_id, -50 as points
           union all select md5($1::uuid::text || 'redeemed')::uuid, null, 50
       ) side""",
    """insert into entries (program_id, operation_id, account_id, lot_id, points)
       select $1::uuid, md5('refund' || n)::uuid, side.account_id, side.lot_id, side.points
       from generate_series(10, $2::int, 10) as n,
       lateral (
           select md5('customer' || n)::uuid as account_id,
                  md5('lot' || n || '-2')::uuid as lot_id, -30 as points
           union all select md5($1::uuid::text || 'issued')::uuid, null, 30
       ) side""",
    """update lots set remaining = remaining - 50
       where program_id = $1::uuid
         and id in (select md5('lot' || n || '-1')::uuid from generate_series(1, $2::int) n)""",
    """update lots set remaining = remaining - 30
       where program_id = $1::uuid and id in (select md5('lot' || n || '-2')::uuid
                    from generate_series(10, $2::int, 10) n)""",
    """update lots set held = 40
       where program_id = $1::uuid and id in (select md5('lot' || n || '-3')::uuid
                    from generate_series(5, $2::int, 10) n)""",
    """update accounts set posted = totals.remaining, reserved = totals.held
       from (select account_id, sum(remaining) as remaining, sum(held) as held
             from lots group by account_id) totals
       where accounts.id = totals.account_id""",
]


async def prepare(url: str, customers: int) -> None:
    connection = await asyncpg.connect(url)
    try:
        await migrate(connection)
        program = uuid.uuid4()
        await connection.execute(
            "insert into programs (id, name, currency, country, hold_ttl_seconds_default,"
            " hold_ttl_seconds_max) values ($1, 'Live check bench', 'RUB', 'RU', 900, 86400)",
            program,
        )
        values = (program, customers, lots_per_customer)
        async with connection.transaction():
            for statement in seed:
                used = [int(number) for number in re.findall(r"\$(\d)", statement)]
                await connection.execute(statement, *values[: max(used, default=0)])
        await connection.execute("vacuum analyze")
    finally:
        await connection.close()


async def timed_statements(pool: asyncpg.Pool, slices: list[list[uuid.UUID]]) -> list[float]:
    """The check's statement alone, once per slice: seconds each."""
    spent = []
    async with pool.acquire() as connection:
        for accounts in slices:
            started = time.perf_counter()
            await connection.fetch(QUERIES["live_check_accounts"], accounts)
            spent.append(time.perf_counter() - started)
    return spent


async def measure(url: str, accounts_per_pass: int, keys: str) -> dict[str, Any]:
    pool = await create_pool(url, min_size=1, max_size=4)
    database = PostgresDatabase(pool, Keyring(parse_keys(keys)))
    try:
        check = LiveCheck(database, accounts_per_pass, 0)
        started = time.perf_counter()
        passes = [await check.check_pass()]
        while not passes[-1].ended_walk:
            passes.append(await check.check_pass())
        walk_seconds = time.perf_counter() - started
        accounts = sum(len(one.accounts) for one in passes)
        differences = sum(len(one.differences) for one in passes)
        slices = [one.accounts for one in passes if len(one.accounts) == accounts_per_pass]
        sample = slices[:: max(1, len(slices) // 50)]
        statement_seconds = await timed_statements(pool, sample)
        plan_rows = await pool.fetch(
            "explain (analyze, buffers) " + QUERIES["live_check_accounts"], sample[0]
        )
        started = time.perf_counter()
        report = await reconcile(database)
        reconcile_seconds = time.perf_counter() - started
        victim = sample[0][0]
        await pool.execute("update accounts set posted = posted + 1 where id = $1", victim)
        again = [await check.check_pass()]
        while not again[-1].ended_walk:
            again.append(await check.check_pass())
        found = {d.account_id for one in again for d in one.differences}
        await pool.execute("update accounts set posted = posted - 1 where id = $1", victim)
        median = statistics.median(statement_seconds)
        return {
            "accounts": accounts,
            "accounts_per_pass": accounts_per_pass,
            "passes": len(passes),
            "walk_seconds": walk_seconds,
            "accounts_per_second": accounts / walk_seconds,
            "differences_on_clean_ledger": differences,
            "statement_ms_per_pass_median": median * 1000,
            "statement_ms_per_account": median * 1000 / accounts_per_pass,
            "reconcile_seconds": reconcile_seconds,
            # The seed writes no outbox events, so reconcile's I7 check finds every operation.
            "reconcile_differences": sum(
                not line.endswith("no outbox event") for line in report.differences
            ),
            "corrupted_account_found": found == {victim},
            # The slice's ids, spelled out in the plan, shortened to their number.
            "plan": re.sub(
                r"'\{[0-9a-f,-]+\}'",
                f"'{{{len(sample[0])} account ids}}'",
                "\n".join(row[0] for row in plan_rows),
            ),
        }
    finally:
        await pool.close()


def report(result: dict[str, Any]) -> str:
    return "\n".join(
        [
            f"accounts {result['accounts']}, {result['accounts_per_pass']} a pass, "
            f"{result['passes']} passes",
            f"walk: {result['walk_seconds']:.1f} s, "
            f"{result['accounts_per_second']:.0f} accounts/s with no pause",
            f"check statement: {result['statement_ms_per_pass_median']:.1f} ms a pass (median), "
            f"{result['statement_ms_per_account']:.3f} ms of Postgres time per account",
            f"bonus reconcile, one pass over the same ledger: {result['reconcile_seconds']:.1f} s",
            f"differences on the clean ledger: {result['differences_on_clean_ledger']} "
            f"(reconcile, but for the outbox: {result['reconcile_differences']}); "
            f"an account changed behind the ledger found: {result['corrupted_account_found']}",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="loadtests.live_check", description=__doc__)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--accounts-per-pass", type=int, default=200)
    parser.add_argument("--output", type=Path, default=None)
    parser.add_argument(
        "--reuse", action="store_true", help="measure the database a previous run seeded"
    )
    args = parser.parse_args(argv)
    # The bench seals no secret; the keyring only has to open.
    keys = "bench-1:" + "A" * 43 + "="
    with servers(Path(".data/bench").resolve()) as (server_url, _):
        url = with_database(server_url, database_name)
        if not args.reuse:
            started = time.monotonic()
            asyncio.run(create_database(server_url, database_name))
            asyncio.run(prepare(url, args.customers))
            print(f"seeded {args.customers} customers in {time.monotonic() - started:.0f} s")
        result = asyncio.run(measure(url, args.accounts_per_pass, keys))
    print(report(result))
    print("plan of one pass:\n" + result["plan"])
    if args.output:
        result["date"] = datetime.now(UTC).isoformat(timespec="seconds")
        args.output.write_text(json.dumps(result, indent=2, default=str))
    return (
        0 if result["differences_on_clean_ledger"] == 0 and result["corrupted_account_found"] else 1
    )


if __name__ == "__main__":
    sys.exit(main())
