"""The read path, A/B: the liveness probe and balance reads through ``bonus serve``, for two or
more builds of the API taking turns in one invocation, on one embedded Postgres and Redis.

    python -m loadtests.readpath --build before=/path/to/old/tree --build after=. --rounds 5

A build is a source tree put first on the API's PYTHONPATH, optionally with settings for it
(``--build small=.:BONUS_HTTP_REQUESTS_MAX=64``); the setting ``SERVER=granian`` serves the same
app with Granian instead of ``bonus serve`` (uvicorn), for comparing the two servers.

Each round runs every build once, in an order that alternates from round to round, so a
neighbour's load on the shared cores falls on both sides; the table gives the median of the
rounds and each build's ratio to the first one. With ``--profile FOLDER`` py-spy samples the
API during each balance-read run and writes its stacks there, one file per run, summarized at
the end (the share of samples in each function, itself and with what it calls);
docs/profiling.md says how to read them.
"""

import argparse
import asyncio
import contextlib
import math
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import NamedTuple

import redis

from loadtests import scenarios
from loadtests.bench import (
    ApiServer,
    CpuMeter,
    Setup,
    api_server,
    bench_database,
    create_database,
    postgres_server,
    redis_server,
    servers,
    with_database,
)
from loadtests.generator import Client, Stats, session_for
from processing.adapters import embedded

server_side = ("api", "postgres", "redis")


class Build(NamedTuple):
    name: str
    tree: Path
    settings: dict[str, str]


def build_of(text: str) -> Build:
    """``name=tree[:VARIABLE=value...]``."""
    name, equals, rest = text.partition("=")
    if not equals or not name or not rest:
        raise argparse.ArgumentTypeError(f"expected NAME=TREE[:VAR=VALUE...], got {text!r}")
    tree, *pairs = rest.split(":")
    settings = dict(pair.split("=", 1) for pair in pairs)
    return Build(name, Path(tree).resolve(), settings)


@contextlib.contextmanager
def environment(build: Build) -> Iterator[None]:
    """The build's tree first on the path and its settings, for the ``bonus serve`` started
    inside; the variables are restored after."""
    changed = {"PYTHONPATH": str(build.tree), **build.settings}
    saved = {name: os.environ.get(name) for name in changed}
    os.environ.update(changed)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextlib.contextmanager
def served(build: Build, setup: Setup) -> Iterator[ApiServer]:
    """The API as ``bonus serve`` runs it, or under Granian with the same settings."""
    if build.settings.get("SERVER", "uvicorn") == "uvicorn":
        with api_server(setup, workers=1) as server:
            yield server
        return
    port = embedded.free_port()
    granian = str(Path(sys.executable).parent / "granian")
    command = [granian, "--interface", "asgi", "--factory", "--host", "127.0.0.1",
               "--port", str(port), "--workers", "1", "--loop", "uvloop", "--no-access-log",
               "--log-level", "warning", "api.app:create_app"]  # fmt: skip
    env = {**os.environ, **bench_environment(setup, port)}
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)  # noqa: S603
    try:
        wait_for_port(process, port)
        # Granian serves from a worker process of its own: the CPU meter counts the parent's
        # whole tree, and py-spy follows the subprocesses.
        yield ApiServer(f"http://127.0.0.1:{port}", process.pid)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)


def bench_environment(setup: Setup, port: int) -> dict[str, str]:
    return {
        "BONUS_DATABASE_URL": setup.url,
        "BONUS_REDIS_URL": setup.redis_url,
        "BONUS_PORT": str(port),
        "BONUS_EXPIRY_WORKER": "false",
        "BONUS_WEBHOOK_RELAY": "false",
        "BONUS_CHANNEL_WORKER": "false",
        "BONUS_SECRETS_KEYS": setup.secrets_keys,
    }


def wait_for_port(process: subprocess.Popen[bytes], port: int) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit("the server exited before it listened")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            time.sleep(0.5)
            return
        time.sleep(0.2)
    raise SystemExit("the server did not listen within 60 s")


@contextlib.contextmanager
def sampled(pid: int, folder: Path | None, name: str, seconds: float) -> Iterator[None]:
    """py-spy recording ``pid`` for ``seconds`` (or nothing without a folder)."""
    if folder is None:
        yield
        return
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    folder.mkdir(parents=True, exist_ok=True)
    command = [spy, "record", "--pid", str(pid), "--duration", str(int(seconds)),
               "--rate", "250", "--subprocesses", "--format", "raw",
               "--output", str(folder / f"{name}.txt")]  # fmt: skip
    spying = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # noqa: S603
    try:
        yield
    finally:
        spying.wait(seconds + 30)


async def measure(
    server: ApiServer, setup: Setup, args: argparse.Namespace, name: str
) -> list[Stats]:
    redis_client = redis.Redis.from_url(setup.redis_url)
    meter = CpuMeter(
        server.pid,
        postgres=await postgres_server(setup.url, required=setup.started_postgres),
        redis_server=redis_server(redis_client, required=setup.started_redis),
        redis_client=redis_client,
    )
    results = []
    async with session_for(server.base, connections=256) as session:
        client = Client(session, setup.key)
        # Warm-up: connections, the key cache, the prepared statements.
        await scenarios.balance_reads(client, setup.customers, args.concurrency, 1.0)
        floor = scenarios.http_floor(client, args.concurrency, args.seconds)
        results.append(await meter.measure(floor))
        with sampled(server.pid, args.profile, name, args.seconds):
            reads = scenarios.balance_reads(client, setup.customers, args.concurrency, args.seconds)
            results.append(await meter.measure(reads))
    redis_client.close()
    return results


def row(stats: Stats) -> dict[str, float]:
    cpu = stats.cpu_us or {}
    return {
        "per_s": stats.throughput,
        "p99_ms": stats.percentile(0.99),
        # A split that was not measured is NaN, not 0: a server that did no work reads 0.
        **{f"{whose}_us": cpu.get(whose, math.nan) for whose in (*server_side, "generator")},
        "server_us": sum(cpu.get(whose, math.nan) for whose in server_side),
    }


def measured_median(values: Iterable[float]) -> float:
    """The median of the rounds that measured it (NaN when none did)."""
    measured = [value for value in values if not math.isnan(value)]
    return statistics.median(measured) if measured else math.nan


def table(runs: dict[str, list[dict[str, dict[str, float]]]]) -> str:
    columns = ("per_s", "p99_ms", "api_us", "postgres_us", "redis_us", "server_us", "generator_us")
    first = next(iter(runs))
    lines = [f"{'build':<12} {'scenario':<14} " + " ".join(f"{c:>12}" for c in columns)]
    for scenario in ("http-floor", "balance-read"):
        for name, rounds in runs.items():
            median = {c: measured_median(r[scenario][c] for r in rounds) for c in columns}
            base = {c: measured_median(r[scenario][c] for r in runs[first]) for c in columns}
            cells = " ".join(f"{median[c]:>12.1f}" for c in columns)
            lines.append(f"{name:<12} {scenario:<14} {cells}")
            if name != first:
                ratios = " ".join(
                    f"{median[c] / base[c]:>12.2f}" if base[c] else f"{'-':>12}" for c in columns
                )
                lines.append(f"{'  ratio':<12} {'':<14} {ratios}")
    lines.append(f"(medians of {len(runs[first])} rounds; ratio to {first})")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="readpath", description=__doc__)
    parser.add_argument("--build", type=build_of, action="append", required=True)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--profile", type=Path, default=None, help="py-spy output folder")
    args = parser.parse_args(argv)

    runs: dict[str, list[dict[str, dict[str, float]]]] = {b.name: [] for b in args.build}
    with servers(Path(".data/bench").resolve()) as (server_url, redis_url):
        setup = Setup(with_database(server_url, bench_database), redis_url, args.customers)
        setup.started_postgres = "BONUS_BENCH_DATABASE_URL" not in os.environ
        setup.started_redis = "BONUS_BENCH_REDIS_URL" not in os.environ
        asyncio.run(create_database(server_url, bench_database))
        asyncio.run(setup.prepare())
        for number in range(args.rounds):
            order = args.build if number % 2 == 0 else args.build[::-1]
            for build in order:
                with environment(build), served(build, setup) as server:
                    label = f"{build.name}-{number}"
                    stats = asyncio.run(measure(server, setup, args, label))
                runs[build.name].append({s.name: row(s) for s in stats})
                line = ", ".join(
                    f"{s.name} {s.throughput:.0f}/s server {row(s)['server_us']:.0f} µs"
                    f" ({', '.join(f'{k}={v}' for k, v in s.outcomes.most_common(3))})"
                    for s in stats
                )
                print(f"round {number + 1} {build.name}: {line}", flush=True)
                time.sleep(1)
    print(table(runs))
    if args.profile is not None:
        for stacks in sorted(args.profile.glob("*.txt")):
            print(f"\n{stacks}:\n{profile_summary(stacks)}")
    return 0


def profile_summary(stacks: Path, shown: int = 25) -> str:
    """The functions most often on the stack (with what they call) and at its top (alone), as
    shares of py-spy's samples; line numbers are dropped so a function counts once."""
    alone: Counter[str] = Counter()
    within: Counter[str] = Counter()
    total = 0
    for line in stacks.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = [re.sub(r":\d+\)$", ")", frame) for frame in stack.split(";")]
        total += int(count)
        alone[frames[-1]] += int(count)
        for frame in set(frames):
            within[frame] += int(count)
    lines = [f"{total} samples; with callees:"]
    lines += [f"  {100 * n / total:5.1f} % {frame}" for frame, n in within.most_common(shown)]
    lines.append("alone:")
    lines += [f"  {100 * n / total:5.1f} % {frame}" for frame, n in alone.most_common(shown)]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
