"""Medians over several ``make bench`` runs: ``python -m loadtests.summarize run1.json run2.json
run3.json`` prints a Markdown table (each cell the median of that cell across the runs; ratios
are the median of each run's own ratio, ours against the replayed-SQL baseline ("raw") and
against the least-SQL one). Given the JSON of ``make faults`` runs instead, it prints the
drill's medians."""

import json
import statistics
import sys
from pathlib import Path
from typing import Any


def median_of(runs: list[dict[str, Any]], side: str, scenario: str, field: str) -> float | None:
    values = [
        row[field]
        for run in runs
        for row in run.get(side, [])  # runs from before the least-SQL baseline have none
        if row["scenario"] == scenario and row.get(field) is not None
    ]
    return statistics.median(values) if values else None


def median_ratio(runs: list[dict[str, Any]], side: str, scenario: str) -> str:
    """The median over the runs of ours / the baseline, each ratio within one invocation."""
    ratios = [
        o["throughput_per_second"] / r["throughput_per_second"]
        for run in runs
        for o in run["ours"]
        for r in run.get(side, [])
        if o["scenario"] == r["scenario"] == scenario and r["throughput_per_second"]
    ]
    return f"{statistics.median(ratios):.2f}" if ratios else "–"


def median_or_none(values: list[float | None]) -> str:
    """A median over the runs; a run in which the fault never recovered counts as unbounded."""
    if any(value is None for value in values):
        known = sorted(value for value in values if value is not None)
        if len(known) * 2 <= len(values):
            return "not within the run"
    return f"{statistics.median(v if v is not None else float('inf') for v in values):g}"


def drills(runs: list[dict[str, Any]]) -> int:
    print(f"Medians of {len(runs)} fault drills.\n")
    print("| fault | recovered after, s (median) | each run |")
    print("|---|---:|---|")
    for index, fault in enumerate(runs[0]["faults"]):
        values = [run["faults"][index]["recovered_after_seconds"] for run in runs]
        each = ", ".join("–" if value is None else f"{value:g}" for value in values)
        print(f"| {fault['fault']} | {median_or_none(values)} | {each} |")
    rows = {
        "offered tasks/s": [run["offered_per_second"] for run in runs],
        "calm p99 ms": [run["normal_p99_ms"] for run in runs],
        "whole-run p99 ms": [run["load"]["p99_ms"] for run in runs],
        "tasks failed after retries": [run["load"]["errors"] for run in runs],
        "acknowledged calls": [sum(run["ledger"]["acknowledged"].values()) for run in runs],
        "acknowledged after a retry": [run["ledger"]["acknowledged_after_retry"] for run in runs],
        "missing or applied twice": [
            sum(run["ledger"]["missing_or_duplicated"].values()) for run in runs
        ],
        "reconcile differences": [len(run["ledger"]["reconcile_differences"]) for run in runs],
        "server internal errors": [
            run.get("server_counters", {}).get("internal_errors", 0) for run in runs
        ],
    }
    print("\n| measure | median | each run |\n|---|---:|---|")
    for name, values in rows.items():
        print(f"| {name} | {statistics.median(values):g} | {', '.join(f'{v:g}' for v in values)} |")
    return 0


def cpu_table(runs: list[dict[str, Any]], scenarios: list[str]) -> None:
    """Median CPU microseconds per task: the whole machine for ours and for the baseline, and
    ours split by process (runs from before the bench measured CPU have none)."""
    columns = ("api", "postgres", "redis", "generator")

    if not any(row.get("cpu_us_per_task") for run in runs for row in run["ours"]):
        return
    print(
        "\n| scenario | CPU µs/task, ours | raw SQL | least SQL | "
        + " | ".join(columns)
        + " | least SQL: postgres | least SQL: pgbench |"
    )
    print("|---|---:|---:|---:|" + "---:|" * (len(columns) + 2))
    for scenario in scenarios:
        cells = [cpu(runs, side, scenario, "machine") for side in ("ours", "raw", "least_sql")]
        cells += [cpu(runs, "ours", scenario, whose) for whose in columns]
        cells += [cpu(runs, "least_sql", scenario, whose) for whose in ("postgres", "generator")]
        print(f"| {scenario} | " + " | ".join(cells) + " |")


def cpu(runs: list[dict[str, Any]], side: str, scenario: str, whose: str) -> str:
    values = [
        row["cpu_us_per_task"][whose]
        for run in runs
        for row in run.get(side, [])
        if row["scenario"] == scenario and whose in row.get("cpu_us_per_task", {})
    ]
    return f"{statistics.median(values):.0f}" if values else "–"


def wrk_table(runs: list[dict[str, Any]]) -> None:
    """The scenarios driven by wrk (``--wrk``), where any run has them: latencies per request."""
    if not any(run.get("ours_wrk") for run in runs):
        return
    columns = ("api", "postgres", "redis", "generator")
    print(
        "\n| through wrk | ours /s | ours / raw | ours / least | p50 ms per request "
        "| p99 ms per request | CPU µs/task: " + " | ".join(columns) + " |"
    )
    print("|---|---:|---:|---:|---:|---:|" + "---:|" * len(columns))
    for row in runs[0].get("ours_wrk", []):
        name = row["scenario"]
        ratios = []
        for side in ("raw", "least_sql"):
            values = [
                o["throughput_per_second"] / r["throughput_per_second"]
                for run in runs
                for o in run.get("ours_wrk", [])
                for r in run.get(side, [])
                if o["scenario"] == r["scenario"] == name and r["throughput_per_second"]
            ]
            ratios.append(f"{statistics.median(values):.2f}" if values else "–")
        cells = [
            median_of(runs, "ours_wrk", name, field)
            for field in ("throughput_per_second", "p50_ms", "p99_ms")
        ]
        shown = [f"{cell:g}" if cell is not None else "–" for cell in cells]
        cpus = [cpu(runs, "ours_wrk", name, whose) for whose in columns]
        print(
            f"| {name} | {shown[0]} | {ratios[0]} | {ratios[1]} | {shown[1]} | {shown[2]} | "
            + " | ".join(cpus)
            + " |"
        )


def main(paths: list[str]) -> int:
    runs = [json.loads(Path(path).read_text()) for path in paths]
    if "faults" in runs[0]:
        return drills(runs)
    scenarios = [
        row["scenario"] for row in runs[0]["ours"] if not row["scenario"].startswith("exact")
    ]
    print(f"Medians of {len(runs)} runs.\n")
    print(
        "| scenario | ours /s | raw SQL /s | ours / raw | least SQL /s | ours / least "
        "| p50 ms | p90 ms | p99 ms | p99.9 ms | 5xx |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for scenario in scenarios:
        ours = median_of(runs, "ours", scenario, "throughput_per_second")
        raw = median_of(runs, "raw", scenario, "throughput_per_second")
        least = median_of(runs, "least_sql", scenario, "throughput_per_second")
        cells = [
            median_of(runs, "ours", scenario, field)
            for field in ("p50_ms", "p90_ms", "p99_ms", "p999_ms", "errors")
        ]
        print(
            f"| {scenario} | {ours:.0f} | {f'{raw:.0f}' if raw else '–'} "
            f"| {median_ratio(runs, 'raw', scenario)} | {f'{least:.0f}' if least else '–'} "
            f"| {median_ratio(runs, 'least_sql', scenario)} | "
            + " | ".join(f"{cell:g}" if cell is not None else "–" for cell in cells)
            + " |"
        )
    for row in runs[0]["ours"]:
        if row["scenario"].startswith("exact"):
            outcomes = [
                next(r["outcomes"] for r in run["ours"] if r["scenario"] == row["scenario"])
                for run in runs
            ]
            print(f"\n{row['scenario']}: " + "; ".join(json.dumps(o) for o in outcomes))
    print("\n| scenario | request | p50 ms | p99 ms |")
    print("|---|---|---:|---:|")
    for scenario in scenarios:
        rows = [
            row.get("requests", {})
            for run in runs
            for row in run["ours"]
            if row["scenario"] == scenario
        ]
        for operation in sorted({name for row in rows for name in row}):
            cells = [
                statistics.median(row[operation][field] for row in rows if operation in row)
                for field in ("p50_ms", "p99_ms")
            ]
            print(f"| {scenario} | {operation} | {cells[0]:g} | {cells[1]:g} |")
    cpu_table(runs, scenarios)
    wrk_table(runs)
    print("\n| baseline (pgbench) | scenario | tasks /s | p50 ms | p99 ms | p99.9 ms |")
    print("|---|---|---:|---:|---:|---:|")
    for side, title in (("raw", "raw SQL"), ("least_sql", "least SQL")):
        for row in runs[0].get(side, []):
            name = row["scenario"]
            cells = [
                median_of(runs, side, name, field)
                for field in ("throughput_per_second", "p50_ms", "p99_ms", "p999_ms")
            ]
            print(
                f"| {title} | {name} | "
                + " | ".join(f"{cell:g}" if cell is not None else "–" for cell in cells)
                + " |"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
