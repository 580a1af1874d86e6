"""``make bench``: our API and two Postgres baselines, back to back on one database, in one
invocation, with a table of throughput, latency percentiles and ratios. The replayed-SQL baseline
issues our own statements straight to Postgres; the least-SQL baseline does the same logical
work as one server-side call per request (``pgbench/least_sql.sql``), the floor we steer by.

Postgres and Redis come from BONUS_BENCH_DATABASE_URL / BONUS_BENCH_REDIS_URL (a server URL;
the bench creates and drops its own database) or are started embedded under ``.data/bench``.
The API runs as a real ``bonus serve`` subprocess on a free port, with its normal logging.
"""

import argparse
import asyncio
import base64
import contextlib
import hashlib
import json
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import NamedTuple
from urllib.parse import parse_qs, urlsplit, urlunsplit

import asyncpg
import psutil
import redis

from loadtests import replay, scenarios, wrk_runner
from loadtests.generator import Client, Stats, session_for
from processing.adapters import embedded
from processing.adapters.postgres.migrations import migrate
from processing.adapters.postgres.queries import QUERIES
from processing.service.admin import new_secret

here = Path(__file__).resolve().parent
bench_database = "bonus_bench"
# Enough that a customer never runs out during a run: insufficient points are not what we time.
seeded_points = 1_000_000


def with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


def pgbench_binary() -> str:
    """pgbench from PATH, else the one the pgserver package ships with its Postgres."""
    found = shutil.which("pgbench")
    if found:
        return found
    import pgserver

    shipped = Path(pgserver.__file__).parent / "pginstall" / "bin" / "pgbench"
    if not shipped.exists():
        raise SystemExit("pgbench not found: install PostgreSQL's client tools")
    return str(shipped)


def pgbench_connection(url: str) -> list[str]:
    parts = urlsplit(url)
    host = parse_qs(parts.query).get("host", [parts.hostname or "127.0.0.1"])[0]
    args = ["-h", host, "-U", parts.username or "postgres", "-d", parts.path.lstrip("/")]
    if parts.port:
        args += ["-p", str(parts.port)]
    return args


async def create_database(server_url: str, name: str) -> None:
    admin = await asyncpg.connect(server_url)
    try:
        await admin.execute(f"drop database if exists {name} with (force)")
        await admin.execute(f"create database {name}")
    finally:
        await admin.close()


class Setup:
    """The bench database with a program, a POS key, seeded customers and the least-SQL
    baseline's functions (schema ``least_sql``, in the bench's database only)."""

    scripts = here / "pgbench"

    def __init__(self, url: str, redis_url: str, customers: int) -> None:
        self.url = url
        self.redis_url = redis_url
        self.customers = customers
        # Whether the bench started Postgres and Redis itself (under .data/bench): then their
        # processes are on this machine and must be found.
        self.started_postgres = self.started_redis = False
        # A key of this run's own: the bench's database is not production's.
        self.secrets_keys = "bench:" + base64.b64encode(os.urandom(32)).decode()
        self.program = ""
        self.key_id = ""
        self.key = ""
        self.redeemed = ""
        # The types Postgres infers for the parameters of the API's statements that the
        # replayed baseline sends (replay.py casts each argument to its parameter's type).
        self.parameter_types: dict[str, list[str]] = {}

    async def prepare(self) -> None:
        """Migrates (a no-op on a migrated database), then adds the program, key and customers."""
        connection = await asyncpg.connect(self.url)
        try:
            await migrate(connection)
            await connection.execute((self.scripts / "least_sql.sql").read_text())
            self.program = str(uuid.uuid4())
            await connection.execute(
                "with program as (insert into programs (id, name, currency, country,"
                " hold_ttl_seconds_default, hold_ttl_seconds_max, expiry_days)"
                " values ($1, 'Bench', 'RUB', 'RU', 900, 86400, null) returning id)"
                " insert into accounts (id, program_id, kind) select gen_random_uuid(), id, kind"
                " from program, unnest(array['issued', 'redeemed', 'expired', 'adjustments'])"
                " as kind",
                uuid.UUID(self.program),
            )
            self.key = new_secret()
            self.key_id = str(uuid.uuid4())
            await connection.execute(
                "insert into api_keys (id, program_id, name, scopes, store_id, secret_sha256)"
                " values ($1, $2, 'bench till', array['pos'], 'store-1', $3)",
                uuid.UUID(self.key_id),
                uuid.UUID(self.program),
                hashlib.sha256(self.key.encode()).digest(),
            )
            values = (uuid.UUID(self.program), self.customers, seeded_points)
            async with connection.transaction():
                for chunk in (here / "seed.sql").read_text().split(";\n"):
                    lines = chunk.splitlines()
                    statement = "\n".join(x for x in lines if not x.lstrip().startswith("--"))
                    used = {int(number) for number in re.findall(r"\$(\d)", statement)}
                    if used:
                        await connection.execute(statement, *values[: max(used)])
            await connection.execute("vacuum analyze")
            self.redeemed = str(
                await connection.fetchval(
                    "select id from accounts where program_id = $1 and kind = 'redeemed'",
                    uuid.UUID(self.program),
                )
            )
            for name in ("load_turn", "apply_plan"):
                self.parameter_types[name] = await parameter_types(connection, name)
        finally:
            await connection.close()


async def parameter_types(connection: asyncpg.Connection, name: str) -> list[str]:
    """The types Postgres infers for the parameters of the API's statement ``name``, as the
    API's driver prepares it."""
    prepared = await connection.prepare(QUERIES[name])
    oids = [parameter.oid for parameter in prepared.get_parameters()]
    return list(
        await connection.fetchval(
            "select array_agg(format_type(oid, null) order by n)"
            " from unnest($1::oid[]) with ordinality as t (oid, n)",
            oids,
        )
    )


class ApiServer(NamedTuple):
    base: str
    pid: int


@contextlib.contextmanager
def api_server(setup: Setup, workers: int, log_path: Path | None = None) -> Iterator[ApiServer]:
    """``bonus serve`` on a free port; its log goes to ``log_path`` (kept) or a temporary file
    (removed at the end)."""
    port = embedded.free_port()
    env = {
        **os.environ,
        "BONUS_DATABASE_URL": setup.url,
        "BONUS_REDIS_URL": setup.redis_url,
        "BONUS_PORT": str(port),
        "BONUS_WORKERS": str(workers),
        # As the API runs in deploy/: the worker process sweeps expiry, relays webhooks and
        # drives the channels, so their polling is not on the cores being measured.
        "BONUS_EXPIRY_WORKER": "false",
        "BONUS_WEBHOOK_RELAY": "false",
        "BONUS_MESSAGE_RELAY": "false",
        "BONUS_CAMPAIGN_WORKER": "false",
        "BONUS_WALLET_WORKER": "false",
        "BONUS_GOOGLE_WALLET_WORKER": "false",
        "BONUS_CHANNEL_WORKER": "false",
        "BONUS_SECRETS_KEYS": setup.secrets_keys,
    }
    bonus = str(Path(sys.executable).parent / "bonus")
    log = (
        log_path.open("wb")
        if log_path
        else tempfile.NamedTemporaryFile(prefix="bonus-bench-", suffix=".log", delete=False)  # noqa: SIM115
    )
    process = subprocess.Popen(  # noqa: S603 - our own console script
        [bonus, "serve"], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise SystemExit(f"bonus serve exited; see {log.name}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                break
            time.sleep(0.2)
        time.sleep(0.5)
        yield ApiServer(base, process.pid)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()
        if log_path is None:
            os.unlink(log.name)


class CpuMeter:
    """CPU seconds used so far: by the whole machine, and by the processes the bench can name
    (the API's process tree, the Postgres and Redis servers it measures when they run on this
    machine, the bench itself). Differences over a scenario, divided by its tasks, say where a
    task's time went on the shared cores."""

    def __init__(
        self,
        api_pid: int | None = None,
        *,
        postgres: psutil.Process | None = None,
        redis_server: psutil.Process | None = None,
        redis_client: redis.Redis | None = None,
    ) -> None:
        self.api = psutil.Process(api_pid) if api_pid else None
        self.servers = {"postgres": postgres, "redis": redis_server}
        self.redis = redis_client

    def redis_commands(self) -> int | None:
        """Commands the Redis server has processed since it started (ours included)."""
        if self.redis is None:
            return None
        return int(self.redis.info("stats")["total_commands_processed"])

    def used(self) -> dict[str, float]:
        # The processes are listed first and their clocks read together after, so the listing
        # falls outside the readings' spread.
        named: dict[str, list[psutil.Process]] = {}
        if self.api is not None:
            named = {
                "api": [self.api, *self.api.children(recursive=True)],
                "generator": [psutil.Process()],
            }
        for whose, server in self.servers.items():
            if server is not None:
                with contextlib.suppress(psutil.Error):
                    named[whose] = [server, *server.children()]
        machine = psutil.cpu_times()
        busy = ("user", "nice", "system", "irq", "softirq")
        used = {"machine": sum(getattr(machine, part, 0.0) for part in busy)}
        used |= {whose: _cpu_of(processes) for whose, processes in named.items()}
        # A server's children that ended (pgbench's backends when it disconnects, autovacuum
        # workers) are counted by the server once it has reaped them.
        for whose, server in self.servers.items():
            if whose in used and server is not None:
                with contextlib.suppress(psutil.Error):
                    times = server.cpu_times()
                    used[whose] += times.children_user + times.children_system
        return used

    async def measure(self, run: Awaitable[Stats]) -> Stats:
        commands = self.redis_commands()
        before = self.used()
        stats = await run
        self.note(stats, before)
        if commands is not None:
            # The first INFO is counted in the second reading; the second is not.
            stats.redis_commands = (self.redis_commands() or 0) - commands - 1
            stats.redis_commands /= max(1, len(stats.latencies))
        return stats

    def note(self, stats: Stats, before: dict[str, float]) -> None:
        after = self.used()
        tasks = max(1, len(stats.latencies))
        stats.cpu_us = {
            whose: (after[whose] - before[whose]) / tasks * 1_000_000
            for whose in before
            if whose in after
        }


def local_server(
    pid: int, name: str, started: float, folder: str | None = None
) -> psutil.Process | None:
    """Process ``pid`` of this machine, if it is the server that reported that pid (a server on
    another machine reports a pid that means nothing here): its name starts with ``name``, and it
    works in ``folder`` (Postgres works in its data directory) or, where that cannot be read, it
    started when the server says it did."""
    with contextlib.suppress(psutil.Error):
        process = psutil.Process(pid)
        if not process.name().startswith(name):
            return None
        with contextlib.suppress(psutil.Error):
            if folder is not None and Path(process.cwd()).resolve() == Path(folder).resolve():
                return process
        if abs(process.create_time() - started) < 5:
            return process
    return None


def _required(process: psutil.Process | None, what: str, required: bool) -> psutil.Process | None:
    if process is None and required:
        # Without its processes a server's CPU goes missing from every scenario (and a reader
        # taking the missing split for zero sees a server that did no work).
        raise SystemExit(f"the bench started {what} on this machine but cannot find its process")
    return process


async def postgres_server(url: str, *, required: bool = False) -> psutil.Process | None:
    """The postmaster behind ``url`` (its children are the backends and background workers);
    ``required`` when the bench started that server itself, so it must be found."""
    connection = await asyncpg.connect(url)
    try:
        row = await connection.fetchrow(
            "select pid, extract(epoch from backend_start)::float8 as started,"
            " (select setting from pg_settings where name = 'data_directory') as folder"
            " from pg_stat_activity where pid = pg_backend_pid()"
        )
        assert row is not None
        # Looked up while the connection is open: once closed, its backend is soon gone, and
        # looking it up after the close found nothing in about one try in three.
        backend = local_server(row["pid"], "postgres", row["started"], row["folder"])
        postmaster = None
        with contextlib.suppress(psutil.Error):
            postmaster = backend.parent() if backend else None
    finally:
        await connection.close()
    return _required(postmaster, "Postgres", required)


def redis_server(client: redis.Redis, *, required: bool = False) -> psutil.Process | None:
    info = client.info("server")
    started = time.time() - int(info["uptime_in_seconds"])
    found = local_server(int(info["process_id"]), "redis", started)
    return _required(found, "Redis", required)


def settle(server: psutil.Process | None, before: set[int], seconds_max: float = 2.0) -> None:
    """Waits, at most ``seconds_max``, until ``server`` has reaped every child it did not have
    at ``before``: pgbench's backends end after pgbench does, and one read while it still ran,
    then reaped before the server's own reading, was counted twice (once reaped, it counts once,
    in the server's children's CPU). An autovacuum worker that outlives the run uses the bound."""
    deadline = time.monotonic() + seconds_max
    while server is not None and time.monotonic() < deadline:
        with contextlib.suppress(psutil.Error):
            if all(child.pid in before for child in server.children()):
                return
        time.sleep(0.01)


def children_of(server: psutil.Process | None) -> set[int]:
    with contextlib.suppress(psutil.Error):
        return {child.pid for child in server.children()} if server else set()
    return set()


def _cpu_of(processes: list[psutil.Process]) -> float:
    total = 0.0
    for process in processes:
        with contextlib.suppress(psutil.Error):  # it ended since it was listed
            times = process.cpu_times()
            total += times.user + times.system
    return total


def _children_cpu() -> float:
    """CPU seconds of this process's children that have ended (pgbench, once it returns)."""
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def run_pgbench(
    setup: Setup,
    script: Path,
    clients: int,
    seconds: float | None,
    name: str,
    *,
    transactions: int | None = None,
    postgres: psutil.Process | None = None,
) -> Stats:
    """Runs one baseline script for ``seconds`` (or ``transactions`` per client) and reads exact
    percentiles from pgbench's per-transaction log. CPU per task: the machine's, Postgres's
    (given its server process) and pgbench's own as the generator."""
    length = ["-T", str(int(seconds))] if seconds else ["-t", str(transactions)]
    with tempfile.TemporaryDirectory(prefix="pgbench-") as folder:
        command = [
            pgbench_binary(), *pgbench_connection(setup.url),
            "-n", "-M", "prepared", "-c", str(clients), "-j", str(min(clients, 2)),
            *length, "-l", "--log-prefix", f"{folder}/tx",
            "-D", f"customers={setup.customers}", "-D", f"program={setup.program}",
            "-D", f"key_id={setup.key_id}", "-D", f"redeemed={setup.redeemed}",
            "-f", str(script),
        ]  # fmt: skip
        meter = CpuMeter(postgres=postgres)
        running = children_of(postgres)
        before = meter.used()
        generator = _children_cpu()
        done = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
        generator = _children_cpu() - generator
        settle(postgres, running)
        if done.returncode != 0:
            raise SystemExit(f"pgbench failed:\n{done.stdout}\n{done.stderr}")
        stats = Stats(name=name)
        for path in Path(folder).iterdir():
            for line in path.read_text().splitlines():
                fields = line.split()
                stats.latencies.append(int(fields[2]) / 1_000_000)
                stats.outcomes["ok" if len(fields) < 7 or fields[-1] == "0" else "failed"] += 1
        stats.seconds = seconds or 0.0
        meter.note(stats, before)
        stats.cpu_us["generator"] = generator / max(1, len(stats.latencies)) * 1_000_000
        return stats


def pgbench_script(setup: Setup, folder: Path, name: str, *, hot: bool = False) -> Path:
    """Script ``name`` of pgbench/ as pgbench runs it: the API's statements it replays written
    out (replay.py), and with ``hot`` on customer 1 (the hot-account baseline)."""
    text = replay.render((setup.scripts / name).read_text(), setup.parameter_types)
    if hot:
        text = text.replace("\\set n random_zipfian(1, :customers, 1.1)", "\\set n 1")
    path = folder / (f"hot_{name}" if hot else name)
    path.write_text(text)
    return path


async def measure_api(
    server: ApiServer, setup: Setup, seconds: float, concurrency: int
) -> list[Stats]:
    redis_client = redis.Redis.from_url(setup.redis_url)
    meter = CpuMeter(
        server.pid,
        postgres=await postgres_server(setup.url, required=setup.started_postgres),
        redis_server=redis_server(redis_client, required=setup.started_redis),
        redis_client=redis_client,
    )
    customers = setup.customers
    results: list[Stats] = []
    async with session_for(server.base, connections=256) as session:
        client = Client(session, setup.key)
        for run in (
            scenarios.http_floor(client, concurrency, seconds),
            scenarios.balance_reads(client, customers, concurrency, seconds),
            scenarios.reserve_commit_pairs(client, customers, concurrency, seconds),
            scenarios.hot_account_pairs(client, concurrency, seconds),
            scenarios.pos_mix_closed(client, customers, concurrency, seconds),
        ):
            results.append(await meter.measure(run))
        rate = max(10.0, 0.6 * results[-1].throughput)
        results.append(
            await meter.measure(scenarios.pos_mix_open(client, customers, rate, seconds))
        )
        results.append(await scenarios.exact_k(client, k=150, extra=50))
    redis_client.close()
    return results


# The baselines' pgbench scripts by scenario; "hot" is the pair's script on customer 1.
replayed_scripts = {
    "balance-read": "balance.sql",
    "reserve-commit-pair": "reserve_commit.sql",
    "hot-account-pair": "hot",
}
least_sql_scripts = {
    "balance-read": "least_balance.sql",
    "reserve-commit-pair": "least_reserve_commit.sql",
    "hot-account-pair": "hot",
}


def measure_wrk(server: ApiServer, setup: Setup, seconds: float, concurrency: int) -> list[Stats]:
    """The closed-loop reads and pairs again, driven by wrk (``--wrk``)."""
    redis_client = redis.Redis.from_url(setup.redis_url)
    meter = CpuMeter(
        server.pid,
        postgres=asyncio.run(postgres_server(setup.url, required=setup.started_postgres)),
        redis_server=redis_server(redis_client, required=setup.started_redis),
    )
    results: list[Stats] = []
    with tempfile.TemporaryDirectory(prefix="wrk-") as name:
        folder = Path(name)
        spread = wrk_runner.customers_file(folder, setup.customers)
        hot = wrk_runner.customers_file(folder, setup.customers, hot=True)
        for scenario, mode, customers, points in (
            ("balance-read", "balance", spread, 5),
            ("reserve-commit-pair", "pairs", spread, 5),
            ("hot-account-pair", "pairs", hot, 1),
        ):
            results.append(
                wrk_runner.run_wrk(
                    server.base, setup.key, mode, customers, seconds, concurrency, scenario,
                    points=points, used=meter.used,
                )
            )  # fmt: skip
    redis_client.close()
    return results


def baseline(
    setup: Setup,
    seconds: float,
    concurrency: int,
    scripts: dict[str, str] = replayed_scripts,
    postgres: psutil.Process | None = None,
) -> dict[str, Stats]:
    """Runs each scenario's pgbench script of one baseline."""
    results: dict[str, Stats] = {}
    with tempfile.TemporaryDirectory() as folder:
        for name, script in scripts.items():
            hot = script == "hot"
            pair = scripts["reserve-commit-pair"] if hot else script
            path = pgbench_script(setup, Path(folder), pair, hot=hot)
            results[name] = run_pgbench(setup, path, concurrency, seconds, name, postgres=postgres)
    return results


def _rate_and_ratio(stats: Stats, base: Stats | None) -> str:
    if base is None:
        return f"{'-':>10} {'-':>6}"
    return f"{base.throughput:>10.0f} {stats.throughput / base.throughput:>6.2f}"


def table(ours: list[Stats], raw: dict[str, Stats], least: dict[str, Stats] | None = None) -> str:
    """The results; "raw SQL" is the replayed-SQL baseline, "least SQL" the one-call baseline
    (its ratio is the one to steer by)."""
    least = least or {}
    header = (
        f"{'scenario':<22} {'ours/s':>9} {'raw SQL/s':>10} {'ratio':>6} "
        f"{'least/s':>10} {'ratio':>6} "
        f"{'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'p99.9 ms':>9} {'dropped':>7} "
        f"{'5xx/transport':>13}  outcomes"
    )
    lines = [header, "-" * len(header)]
    for stats in ours:
        outcomes = ", ".join(f"{k}={v}" for k, v in stats.outcomes.most_common(4))
        lines.append(
            f"{stats.name:<22} {stats.throughput:>9.0f} "
            f"{_rate_and_ratio(stats, raw.get(stats.name))} "
            f"{_rate_and_ratio(stats, least.get(stats.name))} "
            f"{stats.percentile(0.5):>8.2f} {stats.percentile(0.9):>8.2f} "
            f"{stats.percentile(0.99):>8.2f} {stats.percentile(0.999):>9.2f} "
            f"{stats.dropped:>7} {stats.errors:>13}  {outcomes}"
        )
    lines.append(
        "(ratio: ours / the baseline before it; raw SQL replays our statements, least SQL does "
        "the same work as one server-side call per request: its ratio is the one to steer by)"
    )
    lines.append("")
    lines.append("CPU per task (µs; machine is everything on the shared cores):")
    groups = (("", ours), ("raw SQL ", list(raw.values())), ("least SQL ", list(least.values())))
    for side, group in groups:
        for stats in group:
            if stats.cpu_us:
                parts = ", ".join(f"{whose} {us:.0f}" for whose, us in stats.cpu_us.items())
                if stats.redis_commands is not None:
                    parts += f"; Redis commands per task {stats.redis_commands:.1f}"
                lines.append(f"  {side + stats.name:<28} {parts}")
    lines.append("")
    lines.append("single requests (ms, from send):")
    for stats in ours:
        by_request = [
            f"{operation} p50 {stats.percentile(0.5, samples):.1f} "
            f"p99 {stats.percentile(0.99, samples):.1f}"
            for operation, samples in sorted(stats.requests.items())
        ]
        lines.append(f"  {stats.name:<20} " + "; ".join(by_request))
    lines.append("")
    for title, baseline in (("raw SQL", raw), ("least SQL", least)):
        lines.append(f"{title} (pgbench, same database, same clients):")
        for stats in baseline.values():
            lines.append(
                f"  {stats.name:<20} {stats.throughput:>9.0f}/s  "
                f"p50 {stats.percentile(0.5):.2f}  p99 {stats.percentile(0.99):.2f}  "
                f"p99.9 {stats.percentile(0.999):.2f} ms"
            )
    return "\n".join(lines)


def wrk_table(through_wrk: list[Stats], raw: dict[str, Stats], least: dict[str, Stats]) -> str:
    lines = [
        "",
        "ours through wrk (latency per request, not per pair; generator is wrk's own CPU):",
        f"  {'scenario':<20} {'ours/s':>9} {'/raw':>6} {'/least':>7} {'p50 ms':>8} {'p99 ms':>8}"
        "  CPU µs per task",
    ]
    for stats in through_wrk:
        ratios = [
            f"{stats.throughput / base.throughput:.2f}" if base and base.throughput else "-"
            for base in (raw.get(stats.name), least.get(stats.name))
        ]
        cpu = ", ".join(f"{whose} {us:.0f}" for whose, us in stats.cpu_us.items())
        failed = sum(n for outcome, n in stats.outcomes.items() if outcome != "ok")
        lines.append(
            f"  {stats.name:<20} {stats.throughput:>9.0f} {ratios[0]:>6} {ratios[1]:>7} "
            f"{stats.percentile(0.5):>8.2f} {stats.percentile(0.99):>8.2f}  {cpu}"
            + (f"; not ok {failed}" if failed else "")
        )
    return "\n".join(lines)


@contextlib.contextmanager
def servers(data_dir: Path) -> Iterator[tuple[str, str]]:
    database = os.environ.get("BONUS_BENCH_DATABASE_URL")
    redis_url = os.environ.get("BONUS_BENCH_REDIS_URL")
    try:
        yield (
            database or embedded.start_postgres(data_dir),
            redis_url or embedded.start_redis(data_dir),
        )
    finally:
        embedded.stop_all()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench", description=__doc__)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--output", type=Path, default=None, help="also write results as JSON")
    parser.add_argument(
        "--wrk",
        action="store_true",
        help="also drive the reads and pairs with wrk (`make wrk`), a generator as lean as pgbench",
    )
    args = parser.parse_args(argv)

    with servers(Path(".data/bench").resolve()) as (server_url, redis_url):
        setup = Setup(with_database(server_url, bench_database), redis_url, args.customers)
        setup.started_postgres = "BONUS_BENCH_DATABASE_URL" not in os.environ
        setup.started_redis = "BONUS_BENCH_REDIS_URL" not in os.environ
        started = time.monotonic()
        asyncio.run(create_database(server_url, bench_database))
        asyncio.run(setup.prepare())
        print(f"seeded {args.customers} customers in {time.monotonic() - started:.1f} s")
        with api_server(setup, args.workers) as server:
            ours = asyncio.run(measure_api(server, setup, args.seconds, args.concurrency))
            through_wrk = (
                measure_wrk(server, setup, args.seconds, args.concurrency) if args.wrk else []
            )
        postgres = asyncio.run(postgres_server(setup.url, required=setup.started_postgres))
        raw = baseline(setup, args.seconds, args.concurrency, replayed_scripts, postgres)
        least = baseline(setup, args.seconds, args.concurrency, least_sql_scripts, postgres)
        print(table(ours, raw, least))
        if through_wrk:
            print(wrk_table(through_wrk, raw, least))
        if args.output:
            args.output.write_text(
                json.dumps(
                    {
                        "date": datetime.now(UTC).isoformat(timespec="seconds"),
                        "arguments": {k: str(v) for k, v in vars(args).items()},
                        "ours": [stats.summary() for stats in ours],
                        "raw": [stats.summary() for stats in raw.values()],
                        "least_sql": [stats.summary() for stats in least.values()],
                        **(
                            {"ours_wrk": [stats.summary() for stats in through_wrk]}
                            if through_wrk
                            else {}
                        ),
                    },
                    indent=2,
                )
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
