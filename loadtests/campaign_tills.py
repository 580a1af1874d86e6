"""The tills beside a running campaign (issue 19: "a 100,000-customer accrual campaign completes
in under 2 minutes with the tills' p99 staying under 100 ms while it runs").

On a fresh database: the bench's program with its seeded till customers (``Setup``) and more
customers up to ``--members``; a real ``bonus serve`` (the tills' API) and a real ``bonus
worker`` (which runs campaigns at its configured throttle, ``BONUS_CAMPAIGN_MEMBERS_PER_SECOND``,
as in production) as subprocesses. The POS mix (balance reads, reserve → commit, reserve →
cancel, refunds) is offered at ``--rate`` tasks a second in an open model, first alone for
``--seconds`` (the baseline of the same invocation), then again for ``--seconds`` right after a
campaign over every customer of the program is scheduled, so the tills and the campaign's
accruals share accounts, cores and Postgres. ``--kill-after`` seconds into the campaign the
worker is killed with SIGKILL and started again (issue 19: "accrues once per customer across a
kill and restart"). Afterwards: the campaign's own time (its ``started_at`` to
``finished_at``, the kill and restart included), one accrual per member, and reconcile clean.

    .venv/bin/python -m loadtests.campaign_tills --members 100000 \\
        --database-url postgresql://postgres@127.0.0.1:5432/postgres \\
        --redis-url redis://127.0.0.1:6379/11
"""

import argparse
import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg

from loadtests import scenarios
from loadtests.bench import Setup, api_server, create_database, with_database
from loadtests.campaigns import schedule, seed
from loadtests.generator import Client, Stats, open_model, session_for
from processing.runtime import Runtime
from processing.service.admin import create_key
from processing.service.ledger.reconcile import reconcile
from processing.settings import Settings

database_name = "bonus_campaign_tills_bench"
campaign_wait_seconds_max = 900.0


class Worker:
    """``bonus worker`` against the bench's database: the campaigns at their throttle, and the
    other loops a worker runs (expiry, webhooks and messages, channels). It can be killed with
    SIGKILL mid-campaign and started again, as a crashed worker restarted by its supervisor."""

    def __init__(self, setup: Setup, members_per_second: int, at_once: int) -> None:
        self.env = {
            **os.environ,
            "BONUS_DATABASE_URL": setup.url,
            "BONUS_REDIS_URL": setup.redis_url,
            "BONUS_SECRETS_KEYS": setup.secrets_keys,
            "BONUS_CAMPAIGN_MEMBERS_PER_SECOND": str(members_per_second),
            "BONUS_CAMPAIGN_ACCRUALS_AT_ONCE": str(at_once),
            "BONUS_WORKER_METRICS_PORT": "0",
        }
        self.log = tempfile.NamedTemporaryFile(prefix="bonus-worker-", suffix=".log", delete=False)  # noqa: SIM115
        self.process = self.start()
        self.kills = 0

    def start(self) -> subprocess.Popen[bytes]:
        bonus = str(Path(sys.executable).parent / "bonus")
        return subprocess.Popen(  # noqa: S603 - our own console script
            [bonus, "worker"], env=self.env, stdout=self.log, stderr=subprocess.STDOUT
        )

    def kill_and_restart(self) -> None:
        self.process.kill()
        self.process.wait(30)
        self.kills += 1
        self.process = self.start()

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()
        os.unlink(self.log.name)


@contextlib.contextmanager
def worker_process(setup: Setup, members_per_second: int, at_once: int) -> Iterator[Worker]:
    worker = Worker(setup, members_per_second, at_once)
    try:
        yield worker
    finally:
        worker.stop()


async def kill_later(worker: Worker, seconds: float) -> None:
    await asyncio.sleep(seconds)
    await asyncio.to_thread(worker.kill_and_restart)


async def opened(setup: Setup) -> Runtime:
    """A runtime of this process on the bench's database: to make the key, then to reconcile."""
    settings = Settings(
        database_url=setup.url,
        redis_url=setup.redis_url,
        expiry_worker=False,
        secrets_keys=setup.secrets_keys,
    )
    return await Runtime.open(settings)


async def prepare(setup: Setup, members: int) -> tuple[uuid.UUID, uuid.UUID]:
    """The bench's program grown to ``members`` customers, and an admin key for the campaign."""
    await setup.prepare()
    program = uuid.UUID(setup.program)
    connection = await asyncpg.connect(setup.url)
    try:
        # Beside the bench's till customers (ids md5('customer' || n), phones +7900...).
        more = max(0, members - setup.customers)
        await connection.execute(seed, program, more, "member", "955")
        await connection.execute("vacuum analyze customers, accounts")
    finally:
        await connection.close()
    runtime = await opened(setup)
    try:
        async with runtime.database.transaction() as store:
            admin = await create_key(store, None, "operator", ["admin"], None)
    finally:
        await runtime.close()
    return program, admin.id


async def scheduled(url: str, program: uuid.UUID, key: uuid.UUID) -> uuid.UUID:
    pool = await asyncpg.create_pool(url, min_size=1, max_size=1)
    try:
        return await schedule(pool, program, key)
    finally:
        await pool.close()


async def campaign_row(url: str, campaign: uuid.UUID) -> asyncpg.Record:
    connection = await asyncpg.connect(url)
    try:
        row = await connection.fetchrow(
            "select state, members, started_at, finished_at,"
            " extract(epoch from finished_at - started_at) as seconds,"
            " (select count(*) from operations where document_id like $2) as accruals,"
            " (select count(distinct account_id) from operations where document_id like $2)"
            "   as accounts"
            " from campaigns where id = $1",
            campaign,
            f"campaign:{campaign}:%",
        )
    finally:
        await connection.close()
    assert row is not None, campaign
    return row


async def tills(client: Client, customers: int, rate: float, seconds: float, name: str) -> Stats:
    return await open_model(name, scenarios.pos_mix(customers), client, rate, seconds)


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    await create_database(args.database_url, database_name)
    setup = Setup(
        with_database(args.database_url, database_name), args.redis_url, args.till_customers
    )
    program, key = await prepare(setup, args.members)
    with (
        api_server(setup, args.workers) as server,
        worker_process(setup, args.members_per_second, args.at_once) as worker,
    ):
        async with session_for(server.base, connections=256) as session:
            client = Client(session, setup.key)
            await tills(client, setup.customers, args.rate, 3, "warm-up")
            alone = await tills(client, setup.customers, args.rate, args.seconds, "tills alone")
            campaign = await scheduled(setup.url, program, key)
            killing = (
                asyncio.create_task(kill_later(worker, args.kill_after))
                if args.kill_after
                else None
            )
            beside = await tills(
                client, setup.customers, args.rate, args.seconds, "tills beside the campaign"
            )
            if killing is not None:
                await killing
        during = await campaign_row(setup.url, campaign)
        deadline = time.monotonic() + campaign_wait_seconds_max
        done = during
        while done["state"] != "finished" and time.monotonic() < deadline:
            await asyncio.sleep(1)
            done = await campaign_row(setup.url, campaign)
    runtime = await opened(setup)
    try:
        differences = (await reconcile(runtime.database)).differences
    finally:
        await runtime.close()
    assert done["state"] == "finished", dict(done)
    assert (done["accruals"], done["accounts"]) == (done["members"], done["members"]), dict(done)
    assert differences == [], differences[:5]
    return {
        "members": done["members"],
        "campaign_seconds": float(done["seconds"]),
        "still_running_after_tills": during["state"] == "running",
        "worker_kills": worker.kills,
        "alone": alone.summary(),
        "beside": beside.summary(),
    }


def row(stats: dict[str, Any]) -> str:
    return (
        f"| {stats['scenario']} | {stats['throughput_per_second']:.0f} | {stats['p50_ms']:.1f} "
        f"| {stats['p99_ms']:.1f} | {stats['errors']} | {stats['dropped']} |"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="loadtests.campaign_tills", description=__doc__)
    parser.add_argument("--database-url", default=os.environ.get("BONUS_BENCH_DATABASE_URL"))
    parser.add_argument("--redis-url", default=os.environ.get("BONUS_BENCH_REDIS_URL"))
    parser.add_argument("--members", type=int, default=100_000)
    parser.add_argument("--till-customers", type=int, default=10_000)
    parser.add_argument("--rate", type=float, default=100.0, help="POS tasks a second")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--workers", type=int, default=1, help="API worker processes")
    parser.add_argument("--members-per-second", type=int, default=1000)
    parser.add_argument(
        "--kill-after",
        type=float,
        default=20.0,
        help="seconds into the campaign the worker is killed (SIGKILL) and started again (0: not)",
    )
    parser.add_argument("--at-once", type=int, default=8, help="the campaign's accruals at once")
    args = parser.parse_args(argv)
    if not args.database_url or not args.redis_url:
        parser.error("--database-url and --redis-url (or BONUS_BENCH_*_URL) are required")
    result = asyncio.run(measure(args))
    alone, beside = result["alone"], result["beside"]
    ratio = beside["p99_ms"] / alone["p99_ms"]
    print(
        f"{result['members']} members at most {args.members_per_second}/s, {args.at_once} at "
        f"once; POS mix offered "
        f"{args.rate:.0f} tasks/s for {args.seconds:.0f} s each:\n"
        f"| | tasks/s | p50 ms | p99 ms | errors | dropped |\n|---|---|---|---|---|---|\n"
        f"{row(alone)}\n{row(beside)}\n"
        f"p99 beside ÷ alone: {ratio:.2f}; the campaign: {result['campaign_seconds']:.1f} s "
        f"({result['members'] / result['campaign_seconds']:.0f} members/s); still running when "
        f"the tills stopped: {result['still_running_after_tills']}; worker killed with SIGKILL "
        f"and restarted {result['worker_kills']} time(s) mid-campaign, then one accrual per "
        f"member and reconcile clean"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
