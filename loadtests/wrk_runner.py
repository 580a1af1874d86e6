"""``make bench`` with ``--wrk``: the closed-loop balance reads and reserve → commit pairs once
more, driven by wrk (a C load generator from Debian's packages; ``make wrk``) with the Lua
script ``wrk/tasks.lua``, so that the generator's own CPU per task is near pgbench's and the
ratio to the least-SQL baseline is not paid for by a Python client on the same cores.

wrk times single requests, not pairs: its percentiles are per request, and a pair's two
requests fall in one histogram. Throughput counts completed tasks (answered reads, committed
pairs), as the Python generator's does.
"""

import json
import resource
import shutil
import subprocess
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from loadtests import scenarios
from loadtests.generator import Stats

here = Path(__file__).resolve().parent
# Customer numbers drawn ahead for wrk to take in turn: enough for a varied sequence, few
# enough that each wrk thread loads them in a few milliseconds (its start is on its CPU bill).
draws = 20_000


@dataclass
class WrkStats(Stats):
    """A wrk run: ``tasks`` counts completed tasks; ``percentiles`` are wrk's per request, in
    seconds by fraction (wrk gives no samples back)."""

    tasks: int = 0
    percentiles: dict[float, float] = field(default_factory=dict)

    @property
    def throughput(self) -> float:
        return self.tasks / self.seconds if self.seconds else 0.0

    def percentile(self, fraction: float, samples: list[float] | None = None) -> float:
        if samples is not None or fraction not in self.percentiles:
            return super().percentile(fraction, samples)
        return self.percentiles[fraction] * 1000

    def summary(self) -> dict[str, object]:
        return super().summary() | {"tasks": self.tasks, "latency_of": "request"}


def wrk_binary() -> str | None:
    return shutil.which("wrk")


def customers_file(folder: Path, customers: int, *, hot: bool = False) -> Path:
    """The customer ids wrk takes in turn: drawn with the Python scenarios' Zipf skew, or
    customer 1 alone."""
    path = folder / ("hot.txt" if hot else "customers.txt")
    choose = scenarios.Zipf(customers)
    numbers = [1] if hot else [choose() for _ in range(draws)]
    path.write_text("".join(scenarios.customer_id(number) + "\n" for number in numbers))
    return path


def _children_cpu() -> float:
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def run_wrk(
    base: str,
    key: str,
    mode: str,
    customers_path: Path,
    seconds: float,
    concurrency: int,
    name: str,
    *,
    points: int = 5,
    used: Callable[[], dict[str, float]] | None = None,
) -> WrkStats:
    """One wrk run against the API at ``base``; ``used`` reads the CPU the bench can name (the
    API, Postgres, Redis) before and after, and wrk's own is read as this process's ended
    children."""
    binary = wrk_binary()
    if binary is None:
        raise SystemExit("wrk not found: `make wrk` installs it from Debian's packages")
    command = [
        binary, "-t", str(min(concurrency, 2)), "-c", str(concurrency),
        "-d", f"{max(1, round(seconds))}s", "--timeout", "30s",
        "-s", str(here / "wrk" / "tasks.lua"), base,
        "--", mode, key, str(customers_path), str(points), uuid.uuid4().hex[:12],
    ]  # fmt: skip
    before = used() if used else {}
    generator = _children_cpu()
    done = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
    generator = _children_cpu() - generator
    after = used() if used else {}
    line = next((x for x in done.stdout.splitlines() if x.startswith("WRK ")), None)
    if done.returncode != 0 or line is None:
        raise SystemExit(f"wrk failed:\n{done.stdout}\n{done.stderr}")
    result = json.loads(line.removeprefix("WRK "))
    stats = WrkStats(name=name, seconds=result["duration_us"] / 1_000_000, tasks=result["tasks"])
    stats.percentiles = {
        round(float(percent) / 100, 4): value / 1_000_000
        for percent, value in result["percentiles_us"].items()
    }
    stats.outcomes["ok"] = result["tasks"]
    if result["refused"]:
        stats.outcomes["refused"] = result["refused"]
    if result["transport_errors"]:
        stats.outcomes["transport_error"] = result["transport_errors"]
    tasks = max(1, stats.tasks)
    stats.cpu_us = {
        whose: (after[whose] - before[whose]) / tasks * 1_000_000
        for whose in before
        if whose in after
    }
    stats.cpu_us["generator"] = generator / tasks * 1_000_000
    return stats
