"""The reports benchmark (issue 20: "a year's report over 10,000,000 operations answers in under
200 ms, measured in loadtests/ on generated data; a rebuild command that recomputes rollups
from the ledger").

On a fresh database ``bonus_reports_bench`` (``--database-name``; dropped at the end unless
``--keep``): a year of ledger generated straight in SQL (loadtests/reports_data.py:
``--customers`` customers, about ``--operations`` operations over the 365 days before now,
``--stores`` stores), then

- ``bonus reports rebuild`` and ``bonus reconcile`` as subprocesses, timed (``--skip-rebuild``,
  ``--skip-reconcile``); one that fails (before 2d207a5 the service's 15 s statement timeout
  stopped both from 1,000,000 operations on) is run again in this process, the same code on a
  pool without the timeout, to say how long it needs and what it finds;
- the rollup tables analyzed (``--as-left``: not), then a real ``bonus serve`` on the
  database, and each report of the year asked ``--requests`` times one after another through
  HTTP (points by month and store, by month and channel, by day; liability today; the members
  and purchases reports when they are served): p50 / p99;
- in the same invocation, the raw-Postgres baselines: the service's own rollup statement alone
  through asyncpg (what the answer costs beyond the database), and the same figures by hand
  SQL straight over the ledger, the cheapest way (one pass over the program's operations; the
  liability over its lots), ``--raw-runs`` runs each: what a report costs without rollups;
- the year's totals through HTTP set against the hand SQL's: they must be equal.

``--generate-only`` keeps a generated year and stops; ``--reuse`` measures it later (migrated
to the code's schema first; the measurement comes before the rebuild, the rollups being there).

    .venv/bin/python -m loadtests.reports --operations 10000000 --customers 500000 \\
        --database-url postgresql://postgres@127.0.0.1:5432/postgres \\
        --redis-url redis://127.0.0.1:6379/6
"""

import argparse
import asyncio
import hashlib
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from dataclasses import asdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import asyncpg

from loadtests.bench import Setup, api_server, create_database, with_database
from loadtests.reports_data import Generated, generate
from processing.adapters.postgres.database import PostgresDatabase
from processing.adapters.postgres.migrations import migrate
from processing.adapters.postgres.queries import QUERIES
from processing.adapters.sealing import Keyring, parse_keys
from processing.service.admin import new_secret
from processing.service.ledger.reconcile import reconcile
from processing.service.reports.points import Reports

database_name = "bonus_reports_bench"  # unless --database-name
time_zone = "Europe/Moscow"  # the program's (message_settings.time_zone's default)
figures = (
    "issued",
    "clawed_back",
    "redeemed",
    "returned",
    "expired",
    "adjusted",
    "opening",
    "net",
    "operations",
)

# The points report's figures by hand over the ledger, the cheapest way one can: one pass over
# the program's operations, each type's points read the way the service moved them (a purchase
# issued its net plus what points paid and redeemed that; a refund that took points clawed them
# back, one that gave points returned them; an expire that released a hold moved nothing),
# dated in the program's zone. $1 program, $2 first day, $3 last day, $4 time zone. {period}:
# day, week or month; {key}: the grouping (store, channel or nothing).
raw_points = """
with bounds as (
    select ($2::date)::timestamp at time zone $4 as low,
           ($3::date + 1)::timestamp at time zone $4 as high
)
select date_trunc('{period}', o.created_at at time zone $4)::date as period, {key} as key,
       coalesce(sum(o.points) filter (where o.type = 'accrual'), 0)
           + coalesce(sum(o.points + o.redeemed_points) filter (where o.type = 'purchase'), 0)
           as issued,
       coalesce(sum(o.returned_points - o.points) filter (where o.type = 'refund'
                                                          and o.points < o.returned_points), 0)
           as clawed_back,
       coalesce(sum(-o.points) filter (where o.type = 'commit'), 0)
           + coalesce(sum(o.redeemed_points) filter (where o.type = 'purchase'), 0)
           as redeemed,
       coalesce(sum(o.returned_points) filter (where o.type = 'refund'), 0)
           + coalesce(sum(o.points) filter (where o.type = 'refund' and o.returned_points = 0
                                                  and o.points > 0), 0) as returned,
       coalesce(sum(-o.points) filter (where o.type = 'expire' and o.hold_id is null), 0)
           as expired,
       coalesce(sum(o.points) filter (where o.type = 'adjustment'), 0) as adjusted,
       coalesce(sum(o.points) filter (where o.type = 'opening'), 0) as opening,
       coalesce(sum(o.points) filter (where o.type not in ('reserve', 'cancel')
                                          and (o.type <> 'expire' or o.hold_id is null)), 0)
           as net,
       count(*) as operations
from operations o cross join bounds
where o.program_id = $1 and o.created_at >= bounds.low and o.created_at < bounds.high
group by 1, 2
order by 1, 2
"""
keys = {"none": "''", "store": "coalesce(o.store_id, '')", "channel": "o.channel"}

# The liability today by hand: what the program's lots hold now, by the store of the operation
# that made each lot, and the part of lots not active by the end of today ($2, zone $3).
raw_liability = """
select coalesce(origin.store_id, '') as store, sum(l.remaining) as outstanding,
       coalesce(sum(l.remaining) filter (
           where l.activates_at >= ($2::date + 1)::timestamp at time zone $3), 0) as pending
from lots l
join operations origin on origin.id = l.operation_id
where l.program_id = $1 and l.remaining > 0
group by 1
"""


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def bonus_command(setup: Setup, *args: str) -> tuple[float, str, int]:
    """``bonus <args>`` against the bench's database: seconds, output, exit status."""
    env = {
        **os.environ,
        "BONUS_DATABASE_URL": setup.url,
        "BONUS_REDIS_URL": setup.redis_url,
        "BONUS_SECRETS_KEYS": setup.secrets_keys,
    }
    bonus = str(Path(sys.executable).parent / "bonus")
    started = time.perf_counter()
    done = subprocess.run(  # noqa: S603 - our own console script
        [bonus, *args], env=env, capture_output=True, text=True, check=False
    )
    return time.perf_counter() - started, (done.stdout + done.stderr)[-2000:], done.returncode


async def reused(connection: asyncpg.Connection) -> Generated:
    """The year an earlier ``--generate-only`` run left, as it stands now."""
    row = await connection.fetchrow(
        "select p.id, (select count(*) from customers) as customers,"
        " (select count(*) from operations) as operations,"
        " (select count(*) from entries) as entries, (select count(*) from lots) as lots"
        " from programs p where p.name = 'Reports bench'"
    )
    if row is None:
        raise SystemExit("--reuse: no generated year in the bench database")
    return Generated(
        program_id=row["id"],
        customers=row["customers"],
        families=0,
        operations=row["operations"],
        entries=row["entries"],
        lots=row["lots"],
        seconds={},
    )


async def prepared(server_url: str, args: argparse.Namespace) -> tuple[Generated, str]:
    """The fresh database with its generated year (or, with ``--reuse``, the one an earlier
    run left, migrated to the code's schema), and an admin key of the program."""
    if not args.reuse:
        await create_database(server_url, args.database_name)
    connection = await asyncpg.connect(with_database(server_url, args.database_name))
    try:
        await migrate(connection)
        made = (
            await reused(connection)
            if args.reuse
            else await generate(
                connection,
                customers=args.customers,
                operations=args.operations,
                stores=args.stores,
                progress=lambda line: print("  " + line, flush=True),
            )
        )
        secret = new_secret()
        await connection.execute(
            "insert into api_keys (id, program_id, name, scopes, secret_sha256)"
            " values ($1, $2, 'reports bench', array['admin'], $3)",
            uuid.uuid4(),
            made.program_id,
            hashlib.sha256(secret.encode()).digest(),
        )
    finally:
        await connection.close()
    return made, secret


def year_of(today: date) -> tuple[date, date]:
    """The year the report covers: the 365 days up to today, in the program's zone."""
    return today - timedelta(days=365), today


def report_paths(program: uuid.UUID, today: date) -> dict[str, str]:
    first, last = year_of(today)
    points = f"/v1/programs/{program}/reports/points?from={first}&to={last}"
    base = f"/v1/programs/{program}/reports"
    return {
        "points, month by store": f"{points}&period=month&by=store",
        "points, month by channel": f"{points}&period=month&by=channel",
        "points, by day": f"{points}&period=day&by=none",
        "liability today": f"{base}/liability?on={last}",
        "members": f"{base}/members?from={first}&to={last}&period=month",
        "purchases": f"{base}/purchases?from={first}&to={last}&period=month",
    }


async def http_latencies(
    base: str, key: str, paths: dict[str, str], requests: int
) -> tuple[dict[str, list[float]], dict[str, Any]]:
    """Each path asked ``requests`` times, one request at a time (after two unmeasured):
    seconds per answer. A path that does not answer 200 is left out (its status noted)."""
    timings: dict[str, list[float]] = {}
    bodies: dict[str, Any] = {}
    headers = {"Authorization": f"Bearer {key}"}
    async with aiohttp.ClientSession(base) as session:
        for name, path in paths.items():
            async with session.get(path, headers=headers) as response:
                body = await response.read()
                if response.status != 200:
                    bodies[name] = {"status": response.status, "body": body[:300].decode()}
                    continue
            bodies[name] = json.loads(body) if body.startswith(b"{") else None
            async with session.get(path, headers=headers) as response:
                await response.read()
            seconds = []
            for _ in range(requests):
                started = time.perf_counter()
                async with session.get(path, headers=headers) as response:
                    await response.read()
                    assert response.status == 200, (path, response.status)
                seconds.append(time.perf_counter() - started)
            timings[name] = seconds
    return timings, bodies


async def raw_baselines(
    url: str, program: uuid.UUID, today: date, runs: int
) -> tuple[dict[str, list[float]], dict[str, int]]:
    """The hand SQL over the ledger for the same reports, ``runs`` times each; and the year's
    totals it computes (by month, no grouping)."""
    first, last = year_of(today)
    statements: dict[str, tuple[str, tuple[Any, ...]]] = {
        "points, month by store": (
            raw_points.format(period="month", key=keys["store"]),
            (program, first, last, time_zone),
        ),
        "points, month by channel": (
            raw_points.format(period="month", key=keys["channel"]),
            (program, first, last, time_zone),
        ),
        "points, by day": (
            raw_points.format(period="day", key=keys["none"]),
            (program, first, last, time_zone),
        ),
        "liability today": (raw_liability, (program, last, time_zone)),
    }
    timings: dict[str, list[float]] = {}
    totals: dict[str, int] = {}
    connection = await asyncpg.connect(url)
    try:
        await connection.execute("set statement_timeout = 0")
        for name, (statement, values) in statements.items():
            seconds = []
            for _ in range(runs):
                started = time.perf_counter()
                rows = await connection.fetch(statement, *values)
                seconds.append(time.perf_counter() - started)
            timings[name] = seconds
            if name == "points, by day":
                totals = {figure: sum(int(row[figure] or 0) for row in rows) for figure in figures}
            if name == "liability today":
                totals["outstanding_points"] = sum(int(row["outstanding"]) for row in rows)
                totals["pending_points"] = sum(int(row["pending"]) for row in rows)
    finally:
        await connection.close()
    return timings, totals


def compared(raw: dict[str, int], bodies: dict[str, Any]) -> list[str]:
    """Where the year's totals through HTTP differ from the hand SQL's."""
    points = bodies.get("points, by day") or {}
    liability = bodies.get("liability today") or {}
    if "totals" not in points or "outstanding_points" not in liability:
        return ["the year's report or the liability was not served: nothing compared"]
    served = {**points["totals"], **liability}
    return [
        f"{figure}: served {served.get(figure)}, hand SQL {value}"
        for figure, value in raw.items()
        if served.get(figure) != value
    ]


def ms(seconds: list[float], share: float) -> float:
    return percentile(seconds, share) * 1000


def table(
    served: dict[str, list[float]],
    raw: dict[str, list[float]],
    alone: dict[str, list[float]],
) -> str:
    lines = [
        "| report over the year | HTTP p50 ms | HTTP p99 ms | rollup statement alone p50 ms "
        "| raw hand SQL median ms (baseline) | raw ÷ HTTP p50 |",
        "|---|---|---|---|---|---|",
    ]
    for name in [*served, *(name for name in raw if name not in served)]:
        seconds = served.get(name)
        raw_ms = statistics.median(raw[name]) * 1000 if name in raw else None
        alone_ms = ms(alone[name], 0.5) if name in alone else None
        p50 = "—" if seconds is None else f"{ms(seconds, 0.5):.1f}"
        p99 = "—" if seconds is None else f"{ms(seconds, 0.99):.1f}"
        ratio = "—" if raw_ms is None or seconds is None else f"{raw_ms / ms(seconds, 0.5):.0f}"
        lines.append(
            f"| {name} | {p50} | {p99} | {'—' if alone_ms is None else f'{alone_ms:.1f}'} "
            f"| {'—' if raw_ms is None else f'{raw_ms:.0f}'} | {ratio} |"
        )
    return "\n".join(lines)


async def rollup_alone(
    url: str, program: uuid.UUID, today: date, requests: int
) -> dict[str, list[float]]:
    """The service's own rollup statements through asyncpg, without HTTP: filled in by
    ``rollup_statements`` when the reports' SQL is present."""
    statements = rollup_statements(program, today)
    timings: dict[str, list[float]] = {}
    if not statements:
        return timings
    connection = await asyncpg.connect(url)
    try:
        for name, (statement, values) in statements.items():
            await connection.fetch(statement, *values)
            seconds = []
            for _ in range(requests):
                started = time.perf_counter()
                await connection.fetch(statement, *values)
                seconds.append(time.perf_counter() - started)
            timings[name] = seconds
    finally:
        await connection.close()
    return timings


def rollup_statements(program: uuid.UUID, today: date) -> dict[str, tuple[str, tuple[Any, ...]]]:
    """The reports' own named statements over the rollups, with the values each report's
    request binds (none before the reports' SQL exists)."""
    if "report_points" not in QUERIES or "report_liability" not in QUERIES:
        return {}
    first, last = year_of(today)
    points, liability = QUERIES["report_points"], QUERIES["report_liability"]
    return {
        "points, month by store": (points, (program, first, last, "month", "store")),
        "points, month by channel": (points, (program, first, last, "month", "channel")),
        "points, by day": (points, (program, first, last, "day", "none")),
        "liability today": (liability, (program, last)),
    }


async def untimed(setup: Setup, work: str) -> tuple[float, Any]:
    """The CLI's own code for ``work`` (``rebuild`` or ``reconcile``) in this process, on a
    pool without the service's 15 s statement timeout: what a ledger too large for the timeout
    needs (the bench reports the CLI's own exit first)."""
    pool = await asyncpg.create_pool(
        setup.url,
        min_size=1,
        max_size=2,
        server_settings={"statement_timeout": "0", "timezone": "UTC"},
    )
    keyring = Keyring(parse_keys(setup.secrets_keys))
    database = PostgresDatabase(pool, keyring)
    try:
        started = time.perf_counter()
        if work == "rebuild":
            done: Any = await Reports(database).rebuild(None)
        else:
            done = (await reconcile(database)).differences[:20]
        return time.perf_counter() - started, done
    finally:
        await pool.close()


async def dropped(server_url: str, name: str) -> None:
    admin = await asyncpg.connect(server_url)
    try:
        await admin.execute(f"drop database if exists {name} with (force)")
    finally:
        await admin.close()


async def analyzed(url: str) -> None:
    """The rollups analyzed, as autovacuum leaves them once it has seen a rebuild's or a
    migration's rows (until then the planner takes them for empty)."""
    connection = await asyncpg.connect(url)
    try:
        await connection.execute("analyze report_points, report_liability")
    finally:
        await connection.close()


def maintain(
    setup: Setup, jobs: list[tuple[str, tuple[str, ...], bool]], result: dict[str, Any]
) -> None:
    """``bonus reports rebuild`` and ``bonus reconcile`` as the operator runs them, timed; when
    one fails, the same code again without the statement timeout (``untimed``)."""
    for work, command, skipped in jobs:
        if skipped:
            continue
        seconds, output, status = bonus_command(setup, *command)
        result[work] = {"seconds": seconds, "status": status, "output": output}
        print(f"bonus {' '.join(command)}: {seconds:.1f} s, exit {status}", flush=True)
        print(output if status == 0 else output[-300:], flush=True)
        if status != 0:
            seconds, done = asyncio.run(untimed(setup, work))
            result[work + "_untimed"] = {"seconds": seconds, "result": done}
            print(f"  the same without the 15 s statement timeout: {seconds:.1f} s, {done}")


def measure(
    setup: Setup, program: uuid.UUID, key: str, args: argparse.Namespace, result: dict[str, Any]
) -> None:
    """The reports through HTTP, their statements alone, the hand SQL; printed as measured."""
    today = datetime.now(ZoneInfo(time_zone)).date()
    paths = report_paths(program, today)
    if not args.as_left:
        asyncio.run(analyzed(setup.url))
    # The machine's load as the measurement starts: the cores are shared with other work.
    result["load_average_1_5_15"] = os.getloadavg()
    print(f"load average {os.getloadavg()}", flush=True)
    with api_server(setup, 1) as server:
        served, bodies = asyncio.run(http_latencies(server.base, key, paths, args.requests))
    alone = asyncio.run(rollup_alone(setup.url, program, today, args.requests))
    result |= {
        "served_seconds": served,
        "alone_seconds": alone,
        "answer_rows": {
            name: len(body.get("rows") or body.get("stores") or [])
            for name, body in bodies.items()
            if isinstance(body, dict) and name in served
        },
        "served_totals": {
            name: body.get("totals") if name.startswith("points") else body
            for name, body in bodies.items()
            if isinstance(body, dict)
        },
    }
    print(table(served, {}, alone), flush=True)
    print(f"rows answered: {result['answer_rows']}")
    for name, body in bodies.items():
        if name not in served:
            print(f"{name}: not served ({body})")
    raw, raw_totals = asyncio.run(raw_baselines(setup.url, program, today, args.raw_runs))
    differences = compared(raw_totals, bodies)
    result |= {"raw_seconds": raw, "raw_totals": raw_totals, "differences": differences}
    print(table(served, raw, alone))
    print(
        "the year's totals through HTTP equal the hand SQL's"
        if not differences
        else "TOTALS DIFFER: " + "; ".join(differences),
        flush=True,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="loadtests.reports", description=__doc__)
    parser.add_argument("--database-url", default=os.environ.get("BONUS_BENCH_DATABASE_URL"))
    parser.add_argument("--redis-url", default=os.environ.get("BONUS_BENCH_REDIS_URL"))
    parser.add_argument("--customers", type=int, default=500_000)
    parser.add_argument("--operations", type=int, default=10_000_000)
    parser.add_argument("--stores", type=int, default=20)
    parser.add_argument("--requests", type=int, default=50, help="HTTP requests per report")
    parser.add_argument("--raw-runs", type=int, default=3, help="runs of each hand SQL baseline")
    parser.add_argument("--skip-reconcile", action="store_true")
    parser.add_argument(
        "--as-left",
        action="store_true",
        help="measure the rollups as the rebuild left them, before anything analyzed them",
    )
    parser.add_argument(
        "--skip-rebuild", action="store_true", help="with --reuse: the rollups are built"
    )
    parser.add_argument("--database-name", default=database_name)
    parser.add_argument("--keep", action="store_true", help="leave the bench database")
    parser.add_argument(
        "--generate-only", action="store_true", help="generate the year, keep it and stop"
    )
    parser.add_argument(
        "--reuse", action="store_true", help="measure the year a --generate-only run left"
    )
    parser.add_argument("--output", type=Path, default=None, help="also write results as JSON")
    args = parser.parse_args(argv)
    if not args.database_url or not args.redis_url:
        parser.error("--database-url and --redis-url (or BONUS_BENCH_*_URL) are required")
    setup = Setup(with_database(args.database_url, args.database_name), args.redis_url, 0)
    result: dict[str, Any] = {"date": datetime.now(UTC).isoformat(timespec="seconds")}
    try:
        started = time.perf_counter()
        made, key = asyncio.run(prepared(args.database_url, args))
        result["generated"] = asdict(made) | {"seconds_total": time.perf_counter() - started}
        print(
            f"{'found' if args.reuse else 'generated'} {made.operations:,} operations"
            f" ({made.entries:,} entries, {made.lots:,} lots) for {made.customers:,} customers"
            f" in {time.perf_counter() - started:.0f} s",
            flush=True,
        )
        if args.generate_only:
            args.keep = True
            return 0
        jobs = [
            ("rebuild", ("reports", "rebuild"), args.skip_rebuild),
            ("reconcile", ("reconcile",), args.skip_reconcile),
        ]
        # A fresh year has no rollups until the rebuild; a reused one has them (built by the
        # rebuild or the migration that added them), so its measurement comes first.
        if not args.reuse:
            maintain(setup, jobs, result)
        measure(setup, made.program_id, key, args, result)
        if args.reuse:
            maintain(setup, jobs, result)
    finally:
        if not args.keep:
            asyncio.run(dropped(args.database_url, args.database_name))
        if args.output:
            args.output.write_text(json.dumps(result, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
