"""Medians over several ``make bench`` runs: ``python -m loadtests.summarize run1.json run2.json
run3.json`` prints a Markdown table (each cell the median of that cell across the runs)."""

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


def main(paths: list[str]) -> int:
    runs = [json.loads(Path(path).read_text()) for path in paths]
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
