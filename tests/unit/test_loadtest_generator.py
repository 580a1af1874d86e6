"""The load generator measures what it claims: nearest-rank percentiles, latency from the due
time in the open model (so a slow server cannot hide its tail), dropped starts counted, and the
CPU a scenario used charged to its tasks, a server's children that ended in it included."""

import asyncio
import os
import subprocess
import sys
import threading
import time
from typing import Any

import psutil
import pytest

from loadtests.bench import CpuMeter, children_of, settle
from loadtests.generator import Client, Stats, closed_model, open_model, operation_of


def idle() -> Client:
    """A client the tasks below never use: they only sleep."""
    return Client.__new__(Client)


def test_percentiles_are_nearest_rank_in_milliseconds() -> None:
    stats = Stats(name="t", latencies=[n / 1000 for n in range(1, 101)], seconds=1)
    assert stats.percentile(0.50) == pytest.approx(50)
    assert stats.percentile(0.99) == pytest.approx(99)
    assert stats.percentile(0.999) == pytest.approx(100)
    assert stats.throughput == 100


def test_only_server_and_transport_failures_count_as_errors() -> None:
    stats = Stats(name="t")
    stats.outcomes.update({"ok": 5, "insufficient_points": 3, "http_503": 2, "transport_error": 1})
    assert stats.errors == 3


async def test_open_model_counts_starts_it_could_not_make_as_dropped() -> None:
    async def slow(_: Any) -> list[str]:
        await asyncio.sleep(1.0)  # longer than the whole schedule: no slot frees up
        return ["ok"]

    stats = await open_model("slow", slow, idle(), rate=100, seconds=0.3, in_flight_max=5)
    assert len(stats.latencies) == 5
    assert stats.dropped == 25
    assert stats.outcomes == {"ok": 5}


async def test_open_model_measures_from_when_a_request_was_due() -> None:
    """One in-flight slot and a 50 ms task at 100/s: later starts wait, and that wait counts."""
    gate = asyncio.Lock()

    async def serialized(_: Any) -> list[str]:
        async with gate:
            await asyncio.sleep(0.05)
        return ["ok"]

    stats = await open_model("queued", serialized, idle(), rate=100, seconds=0.1)
    assert len(stats.latencies) == 10
    assert max(stats.latencies) >= 0.40  # the tenth was due at 90 ms and ends at 500 ms or later


async def test_closed_model_runs_clients_back_to_back() -> None:
    async def quick(_: Any) -> list[str]:
        await asyncio.sleep(0.01)
        return ["ok"]

    stats = await closed_model("quick", quick, idle(), concurrency=4, seconds=0.2)
    assert 10 <= len(stats.latencies) <= 4 * 21  # never more than four at a time
    assert stats.dropped == 0


@pytest.mark.parametrize(
    ("path", "operation"),
    [
        ("/v1/customers/c1/holds", "reserve"),
        ("/v1/holds/h1/commit", "commit"),
        ("/v1/holds/h1/cancel", "cancel"),
        ("/v1/operations/o1/refunds", "refund"),
        ("/v1/customers/c1/balance", "balance"),
    ],
)
def test_requests_are_timed_by_operation(path: str, operation: str) -> None:
    assert operation_of(path) == operation


def test_the_summary_has_per_request_percentiles() -> None:
    stats = Stats(name="t", latencies=[0.01], seconds=1)
    stats.requests["commit"].extend([0.001, 0.002, 0.003, 0.004])
    assert stats.summary()["requests"] == {"commit": {"count": 4, "p50_ms": 2.0, "p99_ms": 4.0}}


async def test_the_cpu_meter_charges_each_task_its_share_of_the_cpu() -> None:
    this = psutil.Process()
    meter = CpuMeter(api_pid=os.getpid(), postgres=this, redis_server=this)

    async def busy() -> Stats:
        stats = Stats(name="busy", latencies=[0.001] * 10)
        until = time.process_time() + 0.3
        while time.process_time() < until:
            pass
        return stats

    stats = await meter.measure(busy())

    assert set(stats.cpu_us) == {"machine", "api", "postgres", "redis", "generator"}
    # 0.3 s of this process's CPU over 10 tasks: 30,000 µs a task, plus clock ticks and the
    # meter's own reading.
    assert 25_000 <= stats.cpu_us["generator"] <= 50_000
    assert stats.cpu_us["api"] == pytest.approx(stats.cpu_us["generator"], abs=2_000)
    assert stats.cpu_us["machine"] >= 0.8 * stats.cpu_us["generator"]


def test_the_cpu_meter_counts_a_server_s_children_that_ended_within_the_scenario() -> None:
    # This process stands for the server; a child that works and ends in the scenario stands for
    # a backend of pgbench's, which is gone by the time the scenario is read.
    meter = CpuMeter(postgres=psutil.Process())
    before = meter.used()
    busy = "import time\nuntil = time.process_time() + 0.3\nwhile time.process_time() < until: pass"
    subprocess.run([sys.executable, "-c", busy], check=True)  # noqa: S603 - our own interpreter
    stats = Stats(name="ended", latencies=[0.001] * 10)
    meter.note(stats, before)

    # 0.3 s of the child's CPU (and the interpreter's start) over 10 tasks.
    assert stats.cpu_us["postgres"] >= 25_000


def test_settle_waits_for_the_server_to_reap_the_children_a_run_left() -> None:
    server = psutil.Process()
    running = children_of(server)
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    reaper = threading.Timer(0.3, child.wait)
    reaper.start()
    started = time.monotonic()
    settle(server, running, seconds_max=5)

    assert 0.25 <= time.monotonic() - started < 5
    assert child.returncode is not None
    reaper.join()
