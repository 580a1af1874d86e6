"""``make faults``: the POS mix at about 60 % of capacity while what it stands on fails.

On a schedule during one open-model run: one API worker process is killed with SIGKILL (uvicorn
starts a new one), Redis is stopped and started again, Postgres is restarted (``pg_ctl restart -m
fast``, every connection cut). The tills retry as real ones do: on a transport error, a 5xx or
``idempotency_request_in_progress`` they send the same call with the same Idempotency-Key again,
with backoff, for up to 20 s.

Afterwards the drill checks what an accountant relies on: every operation the API acknowledged
is in the ledger exactly once (retried ones included), nothing acknowledged is missing, and
reconcile finds no difference. It reports, per fault, how long until the throughput and the p99
were back to normal: the first second from which three seconds in a row have every due task
answered without a transport error or 5xx and a p99 within the recovery bound.

Postgres is the embedded one under ``.data/faults`` (the drill restarts it), Redis a
redis-server process on a TCP port of its own (the drill stops it).
"""

import argparse
import asyncio
import itertools
import json
import random
import signal
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import psutil
from prometheus_client.parser import text_string_to_metric_families

from loadtests import scenarios
from loadtests.bench import Setup, api_server, bench_database, create_database, with_database
from loadtests.generator import Client, Stats, open_model, operation_of, session_for
from processing.adapters import embedded
from processing.runtime import Runtime
from processing.service.ledger.reconcile import reconcile
from processing.settings import Settings

retry_budget_seconds = 20.0
retry_first_delay_seconds = 0.05
retry_delay_max_seconds = 1.0
# Three seconds in a row must look normal before a fault counts as recovered from.
steady_seconds = 3
warm_up_seconds = 2


@dataclass(frozen=True)
class Acknowledged:
    """A mutating call the API answered with success: what the till was told happened."""

    operation: str
    idempotency_key: str
    answer_id: str
    retried: bool


class RetryingClient(Client):
    """A till: retries what may not have happened with the same key, and remembers every call
    the API acknowledged."""

    def __init__(self, session: aiohttp.ClientSession, key: str) -> None:
        super().__init__(session, key)
        self.acknowledged: list[Acknowledged] = []
        self.retries: Counter[str] = Counter()

    async def patiently(
        self, path: str, call: Callable[[], Awaitable[tuple[int, dict[str, object]]]]
    ) -> tuple[int, dict[str, object], bool]:
        deadline = time.perf_counter() + retry_budget_seconds
        delay = retry_first_delay_seconds
        tries = 0
        while True:
            tries += 1
            failure: Exception | None = None
            try:
                status, reply = await call()
            except (aiohttp.ClientError, TimeoutError) as error:
                failure, status, reply = error, 0, {}
            retryable = (
                failure is not None
                or status >= 500
                or (status == 409 and reply.get("code") == "idempotency_request_in_progress")
            )
            if not retryable or time.perf_counter() + delay > deadline:
                break
            self.retries[operation_of(path)] += 1
            await asyncio.sleep(delay * random.uniform(0.5, 1.5))
            delay = min(delay * 2, retry_delay_max_seconds)
        if failure is not None:
            raise failure
        return status, reply, tries > 1

    async def get(self, path: str) -> tuple[int, dict[str, object]]:
        status, reply, _ = await self.patiently(path, lambda: Client.get(self, path))
        return status, reply

    async def post(
        self, path: str, body: object, idempotency_key: str
    ) -> tuple[int, dict[str, object]]:
        status, reply, retried = await self.patiently(
            path, lambda: Client.post(self, path, body, idempotency_key)
        )
        if 200 <= status < 300:
            answer_id = str(reply.get("id"))
            self.acknowledged.append(
                Acknowledged(operation_of(path), idempotency_key, answer_id, retried)
            )
        return status, reply


@dataclass(frozen=True)
class Fault:
    at_seconds: float
    name: str
    inject: Callable[[], None]


@dataclass(frozen=True)
class Window:
    """The tasks due in one second of the run."""

    second: int
    due: int
    failed: int
    p99_ms: float


def windows(stats: Stats) -> list[Window]:
    by_second: dict[int, list[tuple[float, bool]]] = {}
    for due, latency, failed in stats.timeline:
        by_second.setdefault(int(due), []).append((latency, failed))
    result = []
    for second in sorted(by_second):
        tasks = by_second[second]
        latencies = sorted(latency for latency, _ in tasks)
        rank = min(len(latencies) - 1, max(0, int(0.99 * len(latencies) + 0.5) - 1))
        failures = sum(1 for _, task_failed in tasks if task_failed)
        result.append(Window(second, len(tasks), failures, round(latencies[rank] * 1000, 1)))
    return result


def normal_p99_bound(before_faults: list[Window]) -> float:
    """Twice the median p99 of the seconds before the first fault, and at least 25 ms more."""
    p99s = sorted(window.p99_ms for window in before_faults)
    median = p99s[len(p99s) // 2]
    return max(2 * median, median + 25.0)


def recovered_after(
    timeline: list[Window], fault_second: float, bound_ms: float, rate: float
) -> float | None:
    """Seconds from the fault to the start of the first ``steady_seconds`` normal seconds, or
    None when the run ended first. A second is normal when nothing failed, the p99 is within
    ``bound_ms`` and (almost) every task due in it was started (none dropped)."""

    def normal(window: Window) -> bool:
        return window.failed == 0 and window.p99_ms <= bound_ms and window.due >= 0.9 * rate

    after = [window for window in timeline if window.second >= int(fault_second)]
    for start in range(len(after) - steady_seconds + 1):
        run = after[start : start + steady_seconds]
        consecutive = all(b.second == a.second + 1 for a, b in itertools.pairwise(run))
        if consecutive and all(normal(window) for window in run):
            return max(0.0, run[0].second - fault_second)
    return None


def server_workers(serve_pid: int) -> list[psutil.Process]:
    """uvicorn's worker processes under ``bonus serve`` (multiprocessing's spawn children; its
    resource tracker is not one)."""
    workers = []
    for child in psutil.Process(serve_pid).children(recursive=True):
        try:
            if "spawn_main" in " ".join(child.cmdline()):
                workers.append(child)
        except psutil.Error:  # ended (or a zombie not yet reaped) since it was listed
            continue
    return workers


def kill_one_worker(serve_pid: int) -> None:
    """SIGKILL to one of uvicorn's worker processes; returns once uvicorn has started another."""
    workers = server_workers(serve_pid)
    if len(workers) < 2:
        raise SystemExit("the drill needs two or more uvicorn workers: --workers 2")
    victim = max(workers, key=lambda child: child.create_time())
    victim.send_signal(signal.SIGKILL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        alive = {worker.pid for worker in server_workers(serve_pid) if worker.is_running()}
        if victim.pid not in alive and len(alive) == len(workers):
            return
        time.sleep(0.1)
    raise SystemExit("uvicorn did not replace the killed worker within 30 s")


def server_counters(metrics: str) -> dict[str, float]:
    """What the server says it went through: lock timeouts, degraded requests by reason,
    internal errors (summed over its workers, dead ones included)."""
    wanted = ("bonus_lock_timeouts_total", "bonus_degraded_requests_total", "bonus_requests_total")
    found: dict[str, float] = defaultdict(float)
    for family in text_string_to_metric_families(metrics):
        for sample in family.samples:
            if sample.name not in wanted:
                continue
            if sample.name == "bonus_requests_total":
                if sample.labels.get("outcome") == "internal_error":
                    found["internal_errors"] += sample.value
            elif "reason" in sample.labels:
                found[f"degraded_{sample.labels['reason']}"] += sample.value
            else:
                found["lock_timeouts"] += sample.value
    return dict(found)


async def verify_ledger(setup: Setup, acknowledged: list[Acknowledged]) -> dict[str, Any]:
    """Every acknowledged call is in the ledger exactly once; reconcile is clean."""
    by_key = {call.idempotency_key: call for call in acknowledged}
    calls = list(by_key.values())
    holds = [call for call in calls if call.operation == "reserve"]
    commits = [call for call in calls if call.operation == "commit"]
    cancels = [call for call in calls if call.operation == "cancel"]
    refunds = [call for call in calls if call.operation == "refund"]
    connection = await asyncpg.connect(setup.url)
    try:
        hold_rows = await connection.fetch(
            "select document_id, count(*) as effects, array_agg(id::text) as ids from holds"
            " where document_id = any($1::text[]) group by document_id",
            [call.idempotency_key for call in holds],
        )
        committed = await connection.fetchval(
            "select count(*) from operations where type = 'commit' and id = any($1::uuid[])",
            [call.answer_id for call in commits],
        )
        cancelled = await connection.fetchval(
            "select count(*) from holds where status = 'cancelled' and id = any($1::uuid[])",
            [call.answer_id for call in cancels],
        )
        refunded = await connection.fetchval(
            "select count(*) from operations where type = 'refund' and id = any($1::uuid[])",
            [call.answer_id for call in refunds],
        )
        resolved_twice = await connection.fetchval(
            "select count(*) from (select hold_id from operations where hold_id is not null"
            " and type in ('commit', 'cancel', 'expire') group by hold_id"
            " having count(*) > 1) twice"
        )
    finally:
        await connection.close()
    holds_once = {
        row["document_id"]
        for row in hold_rows
        if row["effects"] == 1 and row["ids"][0] == by_key[row["document_id"]].answer_id
    }
    runtime = await Runtime.open(
        Settings(database_url=setup.url, redis_url=setup.redis_url, secrets_keys=setup.secrets_keys)
    )
    try:
        report = await reconcile(runtime.database)
    finally:
        await runtime.close()
    missing = {
        "reserve": len(holds) - len(holds_once),
        "commit": len(commits) - committed,
        "cancel": len(cancels) - cancelled,
        "refund": len(refunds) - refunded,
    }
    return {
        "acknowledged": {
            "reserve": len(holds),
            "commit": len(commits),
            "cancel": len(cancels),
            "refund": len(refunds),
        },
        "acknowledged_after_retry": sum(1 for call in calls if call.retried),
        "missing_or_duplicated": missing,
        "holds_resolved_twice": resolved_twice,
        "reconcile_differences": report.differences,
        "accounts_checked": report.accounts_checked,
        "clean": not any(missing.values()) and resolved_twice == 0 and report.clean,
    }


async def drill(
    base: str, setup: Setup, serve_pid: int, redis: embedded.RedisProcess, args: argparse.Namespace
) -> dict[str, Any]:
    async with session_for(base, connections=256) as session:
        client = RetryingClient(session, setup.key)
        if args.rate:
            rate = args.rate
            capacity = None
        else:
            measured = await scenarios.pos_mix_closed(client, setup.customers, 16, 10)
            capacity = measured.throughput
            rate = max(10.0, 0.6 * capacity)
        client.acknowledged.clear()
        client.retries.clear()
        length = args.seconds
        faults = [
            Fault(0.2 * length, "kill -9 one API worker", lambda: kill_one_worker(serve_pid)),
            Fault(0.4 * length, "Redis stopped", redis.stop),
            Fault(0.5 * length, "Redis started again", redis.start),
            Fault(0.7 * length, "Postgres restarted", embedded.restart_postgres),
        ]

        async def inject(fault: Fault) -> float:
            await asyncio.sleep(fault.at_seconds)
            started = time.perf_counter()
            await asyncio.to_thread(fault.inject)
            return time.perf_counter() - started

        load = asyncio.create_task(
            open_model("pos-mix-faults", scenarios.pos_mix(setup.customers), client, rate, length)
        )
        try:
            took = await asyncio.gather(*(inject(fault) for fault in faults))
        except BaseException:
            load.cancel()
            raise
        stats = await load
        async with session.get("/metrics") as response:
            counters = server_counters(await response.text())

    timeline = windows(stats)
    first = faults[0].at_seconds
    calm = [w for w in timeline if warm_up_seconds <= w.second and w.second + 1 <= first]
    bound = normal_p99_bound(calm)
    return {
        "capacity_per_second": capacity,
        "offered_per_second": rate,
        "normal_p99_ms": sorted(w.p99_ms for w in calm)[len(calm) // 2],
        "recovery_p99_bound_ms": bound,
        "faults": [
            {
                "at_seconds": fault.at_seconds,
                "fault": fault.name,
                "injection_took_seconds": round(seconds, 2),
                "recovered_after_seconds": recovered_after(timeline, fault.at_seconds, bound, rate),
            }
            for fault, seconds in zip(faults, took, strict=True)
        ],
        "load": stats.summary(),
        "retries_by_operation": dict(client.retries),
        "server_counters": counters,
        "timeline": [vars(window) for window in timeline],
        "ledger": await verify_ledger(setup, client.acknowledged),
    }


def report(result: dict[str, Any]) -> str:
    lines = [
        f"offered {result['offered_per_second']:.0f} tasks/s"
        + (
            f" (60 % of {result['capacity_per_second']:.0f}/s measured)"
            if result["capacity_per_second"]
            else ""
        ),
        f"normal p99 {result['normal_p99_ms']} ms; recovered means 3 s in a row with no failed"
        f" task and p99 <= {result['recovery_p99_bound_ms']:.0f} ms",
        "",
        f"{'at s':>6}  {'fault':<26} {'recovered after':>16}",
    ]
    for fault in result["faults"]:
        after = fault["recovered_after_seconds"]
        shown = "not in the run" if after is None else f"{after:.0f} s"
        lines.append(f"{fault['at_seconds']:>6.0f}  {fault['fault']:<26} {shown:>16}")
    load = result["load"]
    lines += [
        "",
        f"tasks {load['tasks']}, dropped {load['dropped']}, p50 {load['p50_ms']} ms,"
        f" p99 {load['p99_ms']} ms, failed after retries {load['errors']}",
        f"retries by operation: {result['retries_by_operation']}",
        f"server: {result['server_counters']}",
        "",
        "second  due  failed  p99 ms",
    ]
    lines += [
        f"{w['second']:>6} {w['due']:>4} {w['failed']:>7} {w['p99_ms']:>7}"
        for w in result["timeline"]
    ]
    ledger = result["ledger"]
    lines += [
        "",
        f"acknowledged: {ledger['acknowledged']} ({ledger['acknowledged_after_retry']} after a"
        " retry)",
        f"missing or applied twice: {ledger['missing_or_duplicated']};"
        f" holds resolved twice: {ledger['holds_resolved_twice']}",
        f"reconcile: {ledger['accounts_checked']} accounts,"
        f" {len(ledger['reconcile_differences'])} differences",
        "LEDGER CLEAN" if ledger["clean"] else "LEDGER NOT CLEAN",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="faults", description=__doc__)
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rate", type=float, default=None, help="default: 60 %% of measured")
    parser.add_argument("--output", type=Path, default=None, help="also write results as JSON")
    args = parser.parse_args(argv)

    data_dir = Path(".data/faults").resolve()
    try:
        server_url = embedded.start_postgres(data_dir)
        with embedded.RedisProcess() as redis:
            setup = Setup(with_database(server_url, bench_database), redis.url, args.customers)
            asyncio.run(create_database(server_url, bench_database))
            asyncio.run(setup.prepare())
            with api_server(setup, args.workers, data_dir / "serve.log") as server:
                result = asyncio.run(drill(server.base, setup, server.pid, redis, args))
    finally:
        embedded.stop_all()
    result["date"] = datetime.now(UTC).isoformat(timespec="seconds")
    result["arguments"] = {name: str(value) for name, value in vars(args).items()}
    print(report(result))
    print(f"server log: {data_dir / 'serve.log'}")
    if args.output:
        args.output.write_text(json.dumps(result, indent=2))
    return 0 if result["ledger"]["clean"] else 1


if __name__ == "__main__":
    sys.exit(main())
