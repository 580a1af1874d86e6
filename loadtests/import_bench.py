"""``bonus import`` of a generated 1C-style file (Windows-1251, ``;``, phones as dialled in
Russia, Cyrillic names), timed against the raw-Postgres baseline of the same invocation: a plain
COPY of the same file into a bare table of text columns. Each run creates its own database on
the given server and drops it afterwards.

    .venv/bin/python -m loadtests.import_bench --customers 1000000 --runs 3 \\
        --server postgresql://postgres@127.0.0.1:5432/postgres

The import runs as the real command (a subprocess, no progress bar), then ``bonus reconcile``
must come out clean; the ratio import / COPY is the figure to quote (loadtests/RESULTS.md)."""

import argparse
import asyncio
import base64
import csv
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from processing.service.loyalty.export import columns

first_names = ("Иван", "Мария", "Пётр", "Анна", "Сергей", "Ольга", "Алексей", "Елена")
last_names = ("Петров", "Иванова", "Сидоров", "Кузнецова", "Смирнов", "Попова", "Ёлкин")


def write_file(path: Path, customers: int, *, seed: int = 7, encoding: str = "cp1251") -> int:
    """A 1C-style file of ``customers`` customers; returns its row count. Most customers have
    one lot, a fifth two (one still pending), a tenth none; every seventh phone is written as
    dialled in Russia (``8 (912) ...``); every fiftieth customer is blocked."""
    chance = random.Random(seed)
    rows = 0
    with path.open("w", encoding=encoding, newline="") as out:
        writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
        writer.writerow(columns)
        for number in range(customers):
            for row in customer_rows(number, chance):
                writer.writerow(row)
                rows += 1
    return rows


def customer_rows(number: int, chance: random.Random) -> list[list[str]]:
    digits = f"{number:07d}"
    phone = (
        f"8 (912) {digits[:3]}-{digits[3:5]}-{digits[5:]}" if number % 7 == 0 else f"+7912{digits}"
    )
    name = f"{chance.choice(first_names)} {chance.choice(last_names)} №{number}"
    blocked = number % 50 == 0
    customer = [
        str(uuid.UUID(int=chance.getrandbits(128), version=4)), phone, f"C{number:09d}",
        f"B{number:09d}" if number % 10 == 0 else "", name,
        f"client{number}@example.ru" if number % 3 == 0 else "",
        f"19{chance.randrange(40, 99)}-0{chance.randrange(1, 10)}-1{chance.randrange(0, 10)}",
        "Gold" if number % 25 == 0 else "", "1" if blocked else "0",
        "лишён карты; «по жалобе»" if blocked else "",
    ]  # fmt: skip
    shape = number % 10
    if shape == 9:
        return [[*customer, "", "", "", ""]]
    lots = [[str(chance.randrange(1, 5000)), "0", "2026-01-15T10:00:00Z", "2099-12-31T00:00:00Z"]]
    if shape < 2:
        lots.append([str(chance.randrange(1, 500)), "0", "2099-01-01T00:00:00Z", ""])
    return [customer + lot for lot in lots]


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


async def baseline_copy(url: str, path: Path) -> float:
    """The least Postgres can do with the file: COPY it into a bare table of text columns."""
    connection = await asyncpg.connect(url)
    try:
        await connection.execute(
            "create table import_baseline (" + ", ".join(f"{c} text" for c in columns) + ")"
        )
        started = time.perf_counter()
        await connection.copy_to_table(
            "import_baseline", source=path, format="csv", delimiter=";", header=True,
            encoding="WIN1251",
        )  # fmt: skip
        return time.perf_counter() - started
    finally:
        await connection.close()


def bonus(*args: str, env: dict[str, str]) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(  # noqa: S603 (our own command, our own arguments)
        [sys.executable, "-m", "processing", *args], env=env, capture_output=True, text=True,
        check=False,
    )  # fmt: skip
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"bonus {args[0]} exited {done.returncode}: {done.stderr[-2000:]}")
    return elapsed, done.stdout


async def one_run(server: str, path: Path, run: int) -> dict[str, Any]:
    name = f"bonus_import_bench_{os.getpid()}_{run}"
    admin = await asyncpg.connect(server)
    await admin.execute(f"drop database if exists {name} with (force)")
    await admin.execute(f"create database {name}")
    try:
        url = with_database(server, name)
        key = base64.b64encode(os.urandom(32)).decode()
        env = {k: v for k, v in os.environ.items() if not k.startswith("BONUS_")} | {
            "BONUS_DATABASE_URL": url,
            "BONUS_SECRETS_KEYS": f"k1:{key}",
            "BONUS_LOG_LEVEL": "WARNING",
        }
        bonus("migrate", env=env)
        program = json.loads(bonus("create-program", "--name", "Bench", env=env)[1])["id"]
        imported, summary = bonus(
            "import", "--program-id", program, "--encoding", "cp1251", str(path), env=env
        )
        reconciled, report = bonus("reconcile", env=env)
        if json.loads(report)["differences"]:
            raise RuntimeError(f"reconcile found differences: {report[:2000]}")
        copied = await baseline_copy(url, path)
        return {
            "import_seconds": round(imported, 2),
            "reconcile_seconds": round(reconciled, 2),
            "copy_seconds": round(copied, 2),
            "ratio": round(imported / copied, 1),
            "summary": json.loads(summary),
        }
    finally:
        await admin.execute(f"drop database if exists {name} with (force)")
        await admin.close()


async def main() -> None:
    arguments = argparse.ArgumentParser(description=__doc__)
    arguments.add_argument("--customers", type=int, default=1_000_000)
    arguments.add_argument("--runs", type=int, default=1)
    arguments.add_argument("--server", default="postgresql://postgres@127.0.0.1:5432/postgres")
    arguments.add_argument("--output", default=None, help="write the runs as JSON here")
    args = arguments.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "base.csv"
        started = time.perf_counter()
        rows = write_file(path, args.customers)
        generated = time.perf_counter() - started
        size = path.stat().st_size
        runs = []
        for run in range(args.runs):
            runs.append(await one_run(args.server, path, run))
            sys.stderr.write(json.dumps(runs[-1]) + "\n")
    result = {
        "customers": args.customers,
        "rows": rows,
        "file_bytes": size,
        "generate_seconds": round(generated, 2),
        "runs": runs,
        "median_import_seconds": statistics.median(r["import_seconds"] for r in runs),
        "median_copy_seconds": statistics.median(r["copy_seconds"] for r in runs),
        "median_ratio": statistics.median(r["ratio"] for r in runs),
    }
    if args.output:
        await asyncio.to_thread(Path(args.output).write_text, json.dumps(result, indent=2))
    sys.stdout.write(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    asyncio.run(main())
