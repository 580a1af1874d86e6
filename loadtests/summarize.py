"""Medians over several ``make bench`` runs: ``python -m loadtests.summarize run1.json run2.json
run3.json`` prints a Markdown table (each cell the median of that cell across the runs). Given
the JSON of ``make faults`` runs instead, it prints the drill's medians."""

import json
import statistics
import sys
from pathlib import Path
from typing import Any


def median_of(runs: list[dict[str, Any]], side: str, scenario: str, field: str) -> float | None:
    values = [
        row[field]
        for run in runs
        for row in run[side]
        if row["scenario"] == scenario and row.get(field) is not None
    ]
    return statistics.median(values) if values else None


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

    def cpu(side: str, scenario: str, whose: str) -> str:
        values = [
            row["cpu_us_per_task"][whose]
            for run in runs
            for row in run[side]
            if row["scenario"] == scenario and whose in row.get("cpu_us_per_task", {})
        ]
        return f"{statistics.median(values):.0f}" if values else "–"

    if not any(row.get("cpu_us_per_task") for run in runs for row in run["ours"]):
        return
    print("\n| scenario | CPU µs/task, ours | raw SQL | " + " | ".join(columns) + " |")
    print("|---|---:|---:|" + "---:|" * len(columns))
    for scenario in scenarios:
        cells = [cpu("ours", scenario, "machine"), cpu("raw", scenario, "machine")]
        cells += [cpu("ours", scenario, whose) for whose in columns]
        print(f"| {scenario} | " + " | ".join(cells) + " |")


def main(paths: list[str]) -> int:
    runs = [json.loads(Path(path).read_text()) for path in paths]
    if "faults" in runs[0]:
        return drills(runs)
    scenarios = [
        row["scenario"] for row in runs[0]["ours"] if not row["scenario"].startswith("exact")
    ]
    print(f"Medians of {len(runs)} runs.\n")
    print("| scenario | ours /s | raw SQL /s | ratio | p50 ms | p90 ms | p99 ms | p99.9 ms | 5xx |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for scenario in scenarios:
        ours = median_of(runs, "ours", scenario, "throughput_per_second")
        raw = median_of(runs, "raw", scenario, "throughput_per_second")
        ratios = [
            o["throughput_per_second"] / r["throughput_per_second"]
            for run in runs
            for o in run["ours"]
            for r in run["raw"]
            if o["scenario"] == r["scenario"] == scenario
        ]
        ratio = f"{statistics.median(ratios):.2f}" if ratios else "–"
        cells = [
            median_of(runs, "ours", scenario, field)
            for field in ("p50_ms", "p90_ms", "p99_ms", "p999_ms", "errors")
        ]
        print(
            f"| {scenario} | {ours:.0f} | {f'{raw:.0f}' if raw else '–'} | {ratio} | "
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
    print("\n| baseline (pgbench) | raw SQL /s | p50 ms | p99 ms | p99.9 ms |")
    print("|---|---:|---:|---:|---:|")
    for row in runs[0]["raw"]:
        name = row["scenario"]
        cells = [
            median_of(runs, "raw", name, field)
            for field in ("throughput_per_second", "p50_ms", "p99_ms", "p999_ms")
        ]
        print(f"| {name} | " + " | ".join(f"{cell:g}" for cell in cells if cell is not None) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
