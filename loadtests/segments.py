"""The segment benchmark (issue 19): a fresh database with a program of 1,000,000 customers
holding several lots each (expiry spread over the next year, some lots partly held, some not
active yet), then

- the expiring-points segment's count ("points expiring within 30 days ≥ 500") through the
  service (``Segments.count``, exact at once) and as its one compiled statement, each the
  median of ``--runs`` runs, beside the same count written as the simplest hand SQL on the
  same database in the same invocation (the raw-Postgres baseline), and the estimate path;
- the export of the same segment streamed through ``Segments.export_lines`` to nowhere, with
  the process's resident memory sampled every 20 ms: its peak over the memory before the
  export is what the streaming must keep flat (compared with an empty segment's).

Prints a table and the plan of the count (EXPLAIN ANALYZE); ``--output`` writes JSON.

    BONUS_BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres \\
        .venv/bin/python -m loadtests.segments --customers 1000000 --runs 7
"""

import argparse
import asyncio
import base64
import json
import os
import re
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import asyncpg

from loadtests.bench import create_database, servers, with_database
from processing.adapters.postgres.database import PostgresDatabase, create_pool
from processing.adapters.postgres.migrations import migrate
from processing.adapters.postgres.segments import count_statement
from processing.adapters.sealing import Keyring, parse_keys
from processing.service.loyalty.segments import Segments, audience_of
from processing.service.mutations import MutationRunner

database_name = "bonus_segments_bench"
lots_per_customer = 4
expiring = {"all": [{"fact": "expiring_points", "within_days": 30, "min": 500}]}
small = {"all": [{"fact": "expiring_points", "within_days": 1, "min": 1900}]}

# The simplest hand SQL for the same count: the program's open, active lots expiring within 30
# days, what they hold free summed per customer, those customers that are neither erased nor
# merged and reach 500.
raw_count = """
select count(*) from (
    select l.account_id
    from lots l join customers c on c.id = l.account_id
    where l.program_id = $1 and l.remaining > 0 and l.activates_at <= now()
      and l.expires_at > now() and l.expires_at <= now() + interval '30 days'
      and c.erased_at is null and c.merged_into is null
    group by l.account_id
    having sum(l.remaining - l.held) >= 500
) matched
"""

# Customers, one account and one accrual operation each, and lots_per_customer lots of 100 to
# 1,099 points expiring from 1 to 365 days ahead (spread by a hash of the lot's number), one
# in ten with a part held, one in twenty not active for another week; one customer in a
# thousand erased, and one in a thousand merged into the next.
seed = [
    """insert into customers (id, program_id, phone, created_at)
       select md5('customer' || n)::uuid, $1::uuid, '+7900' || lpad(n::text, 7, '0'),
              now() - make_interval(secs => n)
       from generate_series(1, $2::int) as n""",
    """insert into accounts (id, program_id, kind, customer_id, posted, reserved)
       select md5('customer' || n)::uuid, $1::uuid, 'customer', md5('customer' || n)::uuid,
              0, 0
       from generate_series(1, $2::int) as n""",
    """insert into operations (id, program_id, account_id, type, points, document_id, channel,
                               available_after, created_at)
       select md5('accrual' || n)::uuid, $1::uuid, md5('customer' || n)::uuid, 'accrual', 1,
              'seed-' || n, 'bench', 0, now()
       from generate_series(1, $2::int) as n""",
    """insert into lots (id, program_id, account_id, operation_id, points, remaining, held,
                         activates_at, expires_at)
       select md5('lot' || n || '-' || k)::uuid, $1::uuid, md5('customer' || n)::uuid,
              md5('accrual' || n)::uuid, points, points,
              case when (n + k) % 10 = 0 then points / 3 else 0 end,
              case when (n + k) % 20 = 1 then now() + interval '7 days'
                   else now() - interval '30 days' end,
              now() + make_interval(days => 8 + abs(hashtext(n || '-' || k)) % 358)
       from generate_series(1, $2::int) as n,
            generate_series(1, $3::int) as k,
            lateral (select 100 + abs(hashtext(k || '-' || n)) % 1000 as points) p""",
    """update accounts set posted = totals.points
       from (select account_id, sum(points) as points from lots group by account_id) totals
       where accounts.id = totals.account_id""",
    """update customers set erased_at = now(), phone = 'erased:' || id::text
       where program_id = $1::uuid and right(phone, 3) = '500'""",
    """update customers set merged_into = md5('customer' || (substr(phone, 5)::int + 1))::uuid
       where program_id = $1::uuid and right(phone, 3) = '700'""",
]


async def prepare(url: str, customers: int) -> uuid.UUID:
    connection = await asyncpg.connect(url)
    try:
        await migrate(connection)
        program = uuid.uuid4()
        await connection.execute(
            "insert into programs (id, name, currency, country, hold_ttl_seconds_default,"
            " hold_ttl_seconds_max) values ($1, 'Segments bench', 'RUB', 'RU', 900, 86400)",
            program,
        )
        values = (program, customers, lots_per_customer)
        for statement in seed:
            used = [int(number) for number in re.findall(r"\$(\d)", statement)]
            await connection.execute(statement, *values[: max(used, default=0)])
        await connection.execute("vacuum analyze")
        return program
    finally:
        await connection.close()


async def seeded_program(url: str) -> uuid.UUID:
    connection = await asyncpg.connect(url)
    try:
        await migrate(connection)  # the migrations written since it was seeded
        await connection.execute("vacuum analyze lots")
        found: uuid.UUID = await connection.fetchval(
            "select id from programs where name = 'Segments bench'"
        )
        return found
    finally:
        await connection.close()


async def save_segment(pool: asyncpg.Pool, program: uuid.UUID, filter: Any) -> Any:
    segment = uuid.uuid4()
    async with pool.acquire() as connection:
        await connection.execute(
            "insert into segments (id, program_id, created_at) values ($1, $2, now())",
            segment,
            program,
        )
        await connection.execute(
            "insert into segment_versions (segment_id, version, name, filter, created_at)"
            " values ($1, 1, 'bench', $2::jsonb, now())",
            segment,
            json.dumps(filter),
        )
    return segment


async def timed(runs: int, work: Callable[[], Awaitable[Any]]) -> tuple[list[float], Any]:
    seconds, result = [], None
    for _ in range(runs):
        started = time.perf_counter()
        result = await work()
        seconds.append(time.perf_counter() - started)
    return seconds, result


def resident_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


async def export_memory(segments: Segments, segment: Any, actor: Any) -> dict[str, Any]:
    """Streams the export to nowhere, sampling resident memory meanwhile."""
    found = await segments.export(actor, segment)
    before, peak, rows, size = resident_bytes(), 0, 0, 0
    stop = asyncio.Event()

    async def sample() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, resident_bytes())
            await asyncio.sleep(0.02)

    sampler = asyncio.create_task(sample())
    started = time.perf_counter()
    async for chunk in segments.export_lines(cast(Any, found), 1000):
        size += len(chunk)
        rows += chunk.count(b"\r\n")
        await asyncio.sleep(0)
    seconds = time.perf_counter() - started
    stop.set()
    await sampler
    return {
        "rows": rows - 1,
        "bytes": size,
        "seconds": round(seconds, 2),
        "rss_before_mib": round(before / 2**20, 1),
        "rss_peak_over_before_mib": round(max(peak - before, 0) / 2**20, 1),
    }


async def measure(url: str, program: uuid.UUID, runs: int) -> dict[str, Any]:
    pool = await create_pool(url, min_size=1, max_size=4)
    keyring = Keyring(parse_keys("bench:" + base64.b64encode(os.urandom(32)).decode()))
    database = PostgresDatabase(pool, keyring)
    runner = cast(MutationRunner, None)  # reads only: no write goes through a runner here
    exact = Segments(database, runner, exact_customers_max=10**9)
    estimated = Segments(database, runner, exact_customers_max=0)
    operator = cast(Any, type("Operator", (), {"program_id": None})())
    try:
        segment = await save_segment(pool, program, expiring)
        async with database.reader() as store:
            found = await store.get_segment(segment, None)
            audience = await audience_of(store, cast(Any, found))
        text, params = count_statement(audience)
        async with pool.acquire() as connection:
            plan = await connection.fetch("explain (analyze, buffers) " + text, *params)
            raw_plan = await connection.fetch("explain (analyze, buffers) " + raw_count, program)

            async def ours_statement() -> int:
                return int(await connection.fetchval(text, *params))

            async def raw() -> int:
                return int(await connection.fetchval(raw_count, program))

            raw_seconds, raw_result = await timed(runs, raw)
            statement_seconds, statement_result = await timed(runs, ours_statement)

        async def service_count() -> Any:
            return await exact.count(operator, segment)

        async def service_estimate() -> Any:
            return await estimated.count(operator, segment)

        service_seconds, counted = await timed(runs, service_count)
        estimate_seconds, estimate = await timed(runs, service_estimate)
        await estimated.counts_settled()
        small_export = await export_memory(
            exact, await save_segment(pool, program, small), operator
        )
        large_export = await export_memory(exact, segment, operator)
    finally:
        await pool.close()
    assert counted.value.exact == statement_result == raw_result, (counted, raw_result)
    return {
        "matched": raw_result,
        "estimate": estimate.value.estimate,
        "raw_seconds": raw_seconds,
        "statement_seconds": statement_seconds,
        "service_seconds": service_seconds,
        "estimate_seconds": estimate_seconds,
        "plan": "\n".join(row[0] for row in plan),
        "raw_plan": "\n".join(row[0] for row in raw_plan),
        "export_small": small_export,
        "export_segment": large_export,
    }


def report(customers: int, result: dict[str, Any]) -> str:
    raw = statistics.median(result["raw_seconds"])
    lines = [
        f"customers {customers}, lots {customers * lots_per_customer}, "
        f"matching {result['matched']} (estimate {result['estimate']})",
        "| count of expiring_points(30 days) >= 500 | median s | runs | ÷ raw |",
        "|---|---|---|---|",
    ]
    for label, key in (
        ("raw hand SQL (baseline)", "raw_seconds"),
        ("our compiled statement", "statement_seconds"),
        ("Segments.count, exact at once", "service_seconds"),
        ("Segments.count, estimate", "estimate_seconds"),
    ):
        median = statistics.median(result[key])
        lines.append(f"| {label} | {median:.3f} | {len(result[key])} | {median / raw:.2f} |")
    for label, key in (("export, empty segment", "export_small"), ("export", "export_segment")):
        lines.append(f"{label}: {result[key]}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="loadtests.segments", description=__doc__)
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--output", type=Path, default=None)
    parser.add_argument(
        "--reuse", action="store_true", help="measure the database a previous run seeded"
    )
    args = parser.parse_args(argv)
    with servers(Path(".data/bench").resolve()) as (server_url, _):
        url = with_database(server_url, database_name)
        started = time.monotonic()
        if args.reuse:
            program = asyncio.run(seeded_program(url))
        else:
            asyncio.run(create_database(server_url, database_name))
            program = asyncio.run(prepare(url, args.customers))
            print(f"seeded {args.customers} customers in {time.monotonic() - started:.0f} s")
        result = asyncio.run(measure(url, program, args.runs))
    print(report(args.customers, result))
    print("our plan:\n" + result["plan"])
    print("raw plan:\n" + result["raw_plan"])
    if args.output:
        result["date"] = datetime.now(UTC).isoformat(timespec="seconds")
        result["customers"] = args.customers
        args.output.write_text(json.dumps(result, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
