"""``bonus import`` reads the export's format into a program: a dry run reports every kind of
invalid row and writes nothing; a Windows-1251 file with ``,`` imports with the API's balances
equal to the file and a clean reconcile and live check; a re-run applies nothing; a run killed
mid-import resumes to the state of one clean run; a generated 1C-style file of 100,000
customers imports and reconciles; export, import into another program, export again gives the
same file; and the welcome trigger greets no imported customer."""

import asyncio
import csv
import io
import json
import os
import signal
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import asyncpg
import msgspec
import pytest

from loadtests.import_bench import write_file
from processing.adapters.postgres.database import PostgresDatabase, create_pool
from processing.adapters.sealing import Keyring, parse_keys
from processing.runtime import Runtime
from processing.service.loyalty.export import columns
from processing.service.messaging.outgoing import MessageRelay
from tests.conftest import Api, secrets_keys
from tests.integration.test_trigger_messages import fast
from tests.invariants import live_check_walk
from tests.system.processes import bonus, environment
from tests.system.test_cli_and_serve import command_timeout_seconds, run_bonus
from tests.system.test_cli_export import enroll, populate


@pytest.fixture
def cli_env(database_url: str, redis_server: str) -> dict[str, str]:
    return environment(database_url=database_url, redis_url=redis_server)


def row(phone: str, **fields: str) -> dict[str, str]:
    return {column: "" for column in columns} | {"phone": phone, "blocked": "0"} | fields


def write_rows(
    path: Path, rows: list[dict[str, str]], encoding: str = "utf-8-sig", separator: str = ";"
) -> Path:
    with path.open("w", encoding=encoding, newline="") as out:
        writer = csv.writer(out, delimiter=separator, lineterminator="\r\n")
        writer.writerow(columns)
        writer.writerows([item[column] for column in columns] for item in rows)
    return path


def parsed(raw: bytes, encoding: str = "utf-8-sig", separator: str = ";") -> list[dict[str, str]]:
    rows = list(csv.reader(io.StringIO(raw.decode(encoding), newline=""), delimiter=separator))
    return [dict(zip(rows[0], line, strict=True)) for line in rows[1:]]


async def fetchval(database_url: str, query: str, *args: Any) -> Any:
    connection = await asyncpg.connect(database_url)
    try:
        return await connection.fetchval(query, *args)
    finally:
        await connection.close()


async def ledger_counts(database_url: str, program_id: str) -> dict[str, int]:
    connection = await asyncpg.connect(database_url)
    try:
        counts = {}
        for table in ("customers", "cards", "lots", "operations", "entries", "outbox"):
            counts[table] = await connection.fetchval(
                f"select count(*) from {table} where program_id = $1",  # noqa: S608 (our names)
                program_id,
            )
        counts["points"] = await connection.fetchval(
            "select coalesce(sum(remaining), 0) from lots where program_id = $1", program_id
        )
        return counts
    finally:
        await connection.close()


async def new_program(cli_env: dict[str, str], name: str) -> str:
    done = await run_bonus("create-program", "--name", name, env=cli_env)
    assert done.code == 0, done
    program_id: str = json.loads(done.stdout)["id"]
    return program_id


async def reconciled(
    cli_env: dict[str, str], *, live: bool = True, timeout_seconds: float = command_timeout_seconds
) -> None:
    """``bonus reconcile`` finds no difference, nor does a walk of the live check over every
    account (``live``: 0.4 ms an account, left out of the 100,000-customer import)."""
    done = await run_bonus("reconcile", env=cli_env, timeout_seconds=timeout_seconds)
    assert done.code == 0, done
    assert '"differences":[]' in done.stdout, done.stdout
    if not live:
        return
    pool = await create_pool(cli_env["BONUS_DATABASE_URL"], min_size=1, max_size=2)
    try:
        database = PostgresDatabase(pool, Keyring(parse_keys(secrets_keys)))
        assert await live_check_walk(database) == []
    finally:
        await pool.close()


async def export(cli_env: dict[str, str], program_id: str, path: Path) -> list[dict[str, str]]:
    done = await run_bonus("export", "--program-id", program_id, "--output", str(path), env=cli_env)
    assert done.code == 0, done
    return parsed(await asyncio.to_thread(path.read_bytes))


def without_ids(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    return [{k: v for k, v in item.items() if k != "customer_id"} for item in rows]


async def test_a_dry_run_reports_every_kind_of_invalid_row_and_writes_nothing(
    api: Api, cli_env: dict[str, str], database_url: str, tmp_path: Path
) -> None:
    await enroll(api, "+79120000099", card_number="TAKEN-1")
    valid = row("+79120000001", name="Годный", points="10", activates_at="2026-01-01T00:00:00Z")
    rows = [
        valid,  # row 2
        row("12", customer_id="x3"),  # 3: no phone number
        row("+79120000004", cards="C 4?"),  # 4: card number
        row("+79120000005", birthday="1990-02-30"),  # 5: no such date
        row("+79120000006", points="12a", activates_at="2026-01-01T00:00:00Z"),  # 6
        row("+79120000007", points="5", activates_at="2026-01-01 10:00"),  # 7: no zone
        row(
            "+79120000008",
            points="5",
            activates_at="2026-02-01T00:00:00Z",
            expires_at="2026-01-01T00:00:00Z",
        ),  # 8: expires before it activates
        row("+79120000009", blocked="2"),  # 9
        row("+79120000010", email="nobody"),  # 10
        row("+79120000011", customer_id="c11", name="Один"),  # 11
        row("+79120000011", customer_id="c11", name="Другой"),  # 12: disagrees with row 11
        row("+79120000013", cards="C-1"),  # 13
        row("+79120000014", cards="C-1"),  # 14: card of row 13
        row("8 912 000-00-01"),  # 15: the phone of row 2, as dialled in Russia
        row("+79120000099"),  # 16: already a customer of the program
        row("+79120000017", cards="TAKEN-1"),  # 17: the program's card already
        row("+79120000018", blocked_reason="why"),  # 18: a reason, yet not blocked
    ]
    path = write_rows(tmp_path / "base.csv", rows)
    with path.open("a", encoding="utf-8", newline="") as out:
        out.write("only;three;columns\r\n")  # 19
    report = tmp_path / "report.csv"
    before = await ledger_counts(database_url, api.program_id)
    done = await run_bonus(
        "import", "--program", api.program_id, str(path), "--dry-run", "--report", str(report),
        env=cli_env,
    )  # fmt: skip
    assert done.code == 1, done
    assert "Traceback" not in done.stderr
    found = {(int(item["row"]), item["field"]) for item in parsed(report.read_bytes())}
    assert found == {
        (3, "phone"), (4, "cards"), (5, "birthday"), (6, "points"), (7, "activates_at"),
        (8, "expires_at"), (9, "blocked"), (10, "email"), (12, "name"), (14, "cards"),
        (15, "phone"), (16, "phone"), (17, "cards"), (18, "blocked_reason"), (19, "row"),
    }  # fmt: skip
    assert await ledger_counts(database_url, api.program_id) == before
    assert await fetchval(database_url, "select count(*) from import_runs") == 0

    refused = await run_bonus("import", "--program-id", api.program_id, str(path), env=cli_env)
    assert refused.code == 1, refused
    assert "nothing imported: 15 invalid rows" in refused.stderr
    assert "bonus import: row 3, phone: not a phone number" in refused.stderr
    assert await ledger_counts(database_url, api.program_id) == before

    skipped = await run_bonus(
        "import", "--program-id", api.program_id, str(path), "--skip-invalid", env=cli_env
    )
    assert skipped.code == 0, skipped
    after = await ledger_counts(database_url, api.program_id)
    # Only the customers of rows 2 and 13 are valid: rows 11 and 12 are one customer, skipped
    # whole for row 12; the card of row 13 and the phone of row 2 are refused where repeated.
    assert after["customers"] == before["customers"] + 2
    assert after["points"] == before["points"] + 10
    await reconciled(cli_env)


async def test_a_windows_1251_file_with_commas_imports_as_the_file_says(
    api: Api, cli_env: dict[str, str], database_url: str, tmp_path: Path
) -> None:
    program = await new_program(cli_env, "Перенос")
    dated = {"activates_at": "2026-01-01T00:00:00Z"}
    rows = [
        row("8 (912) 000-00-01", customer_id="1", cards="C-1", blocked_cards="C-2",
            name='Иван, "младший"', email="ivan@example.ru", birthday="1980-02-29", tier="Gold",
            points="100", held="30", **dated),
        row("8 (912) 000-00-01", customer_id="1", cards="C-1", blocked_cards="C-2",
            name='Иван, "младший"', email="ivan@example.ru", birthday="1980-02-29", tier="Gold",
            points="40", expires_at="2099-01-01T00:00:00Z", **dated),
        row("8 (912) 000-00-01", customer_id="1", cards="C-1", blocked_cards="C-2",
            name='Иван, "младший"', email="ivan@example.ru", birthday="1980-02-29", tier="Gold",
            points="25", activates_at="2098-01-01T00:00:00+03:00"),
        row("+79120000002", name="Мария", blocked="1", blocked_reason="мошенничество",
            points="7", **dated),
        row("+79120000003", name="Истёк", points="9", expires_at="2026-02-01T00:00:00Z",
            **dated),
        row("+79120000004"),
    ]  # fmt: skip
    path = write_rows(tmp_path / "1c.csv", rows, encoding="cp1251", separator=",")
    done = await run_bonus(
        "import", "--program-id", program, str(path), "--encoding", "cp1251", "--separator", ",",
        env=cli_env,
    )  # fmt: skip
    assert done.code == 0, done
    assert "imported 4 customers, 5 lots, 181 points (1 lots already expired" in done.stderr
    counts = await ledger_counts(database_url, program)
    assert counts["outbox"] == 0  # no webhook for an opening balance
    assert counts["operations"] == 3  # one opening operation per customer with points
    await reconciled(cli_env)

    admin = api.admin_key
    ivan = await fetchval(database_url, "select id from customers where phone = $1 and "
                          "program_id = $2", "+79120000001", program)  # fmt: skip
    balance = await api.get(f"/v1/customers/{ivan}/balance", key=admin)
    assert balance.status_code == 200, balance.text
    assert (balance.json()["available"], balance.json()["pending"]) == (140, 25)
    customer = (await api.get(f"/v1/customers/{ivan}", key=admin)).json()
    assert (customer["name"], customer["email"], customer["birthday"]) == (
        'Иван, "младший"', "ivan@example.ru", "1980-02-29",
    )  # fmt: skip
    assert {(card["number"], card["status"]) for card in customer["cards"]} == {
        ("C-1", "active"), ("C-2", "blocked"),
    }  # fmt: skip
    statement = (await api.get(f"/v1/customers/{ivan}/operations", key=admin)).json()
    assert [(item["type"], item["points"]) for item in statement["items"]] == [("opening", 165)]
    maria = await fetchval(database_url, "select id from customers where phone = $1 and "
                           "program_id = $2", "+79120000002", program)  # fmt: skip
    blocked = await fetchval(
        database_url, "select blocked_reason from accounts where id = $1", maria
    )
    assert blocked == "мошенничество"
    lots = await fetchval(
        database_url,
        "select array_agg(activates_at order by activates_at) from lots where account_id = $1",
        ivan,
    )
    assert lots[-1] == datetime(2097, 12, 31, 21, tzinfo=UTC)  # the file's instant, kept

    expired = await run_bonus("expire", env=cli_env)
    assert expired.code == 0, expired
    assert '"expired_points":9' in expired.stdout
    await reconciled(cli_env)


async def test_a_second_run_applies_nothing(
    api: Api, cli_env: dict[str, str], database_url: str, tmp_path: Path
) -> None:
    path = tmp_path / "base.csv"
    write_file(path, 300, encoding="utf-8-sig")
    arguments = ("import", "--program-id", api.program_id, str(path), "--batch-customers", "40")
    first = await run_bonus(*arguments, env=cli_env)
    assert first.code == 0, first
    counts = await ledger_counts(database_url, api.program_id)
    assert counts["customers"] == 300
    again = await run_bonus(*arguments, env=cli_env)
    assert again.code == 0, again
    assert "was imported before; nothing to do" in again.stderr
    assert await ledger_counts(database_url, api.program_id) == counts
    # The same file under another import id finds its customers already in the program.
    other = await run_bonus(*arguments, "--import-id", "second", env=cli_env)
    assert other.code == 1, other
    assert "already a customer of the program" in other.stderr
    assert await ledger_counts(database_url, api.program_id) == counts
    await reconciled(cli_env)


async def test_a_run_killed_mid_import_resumes_to_the_state_of_one_clean_run(
    api: Api, cli_env: dict[str, str], database_url: str, tmp_path: Path
) -> None:
    path = tmp_path / "base.csv"
    customers = 20_000
    write_file(path, customers, encoding="utf-8-sig")
    program = await new_program(cli_env, "Resumed")
    arguments = ["import", "--program-id", program, str(path), "--batch-customers", "250"]
    process = await asyncio.create_subprocess_exec(
        bonus, *arguments, env=cli_env, stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        applied = 0
        for _ in range(600):
            applied = await fetchval(database_url, "select count(*) from import_batches")
            if applied >= 5 or process.returncode is not None:
                break
            await asyncio.sleep(0.1)
        process.send_signal(signal.SIGKILL)
    finally:
        await process.wait()
    assert process.returncode == -signal.SIGKILL
    partial = await ledger_counts(database_url, program)
    assert 0 < partial["customers"] < customers
    assert partial["customers"] % 250 == 0  # whole batches only
    resumed = await run_bonus(*arguments, env=cli_env)
    assert resumed.code == 0, resumed
    assert json.loads(resumed.stdout)["batches_before"] == partial["customers"] // 250

    clean = await new_program(cli_env, "Clean")
    once = await run_bonus("import", "--program-id", clean, str(path), env=cli_env)
    assert once.code == 0, once
    counts = await ledger_counts(database_url, program)
    assert counts == await ledger_counts(database_url, clean)
    assert counts["customers"] == customers
    await reconciled(cli_env)
    assert without_ids(await export(cli_env, program, tmp_path / "a.csv")) == without_ids(
        await export(cli_env, clean, tmp_path / "b.csv")
    )


large_import_timeout_seconds = 600  # 100,000 customers take 20-60 s; a loaded machine more


async def test_a_generated_1c_file_of_100000_customers_imports_and_reconciles(
    api: Api, cli_env: dict[str, str], database_url: str, tmp_path: Path
) -> None:
    path = tmp_path / "1c.csv"
    rows = write_file(path, 100_000)  # Windows-1251, ';', some phones as dialled in Russia
    assert rows >= 100_000
    program = await new_program(cli_env, "1C")
    started = asyncio.get_running_loop().time()
    done = await run_bonus(
        "import",
        "--program-id",
        program,
        str(path),
        "--encoding",
        "cp1251",
        env=cli_env,
        timeout_seconds=large_import_timeout_seconds,
    )
    elapsed = asyncio.get_running_loop().time() - started
    assert done.code == 0, done
    counts = await ledger_counts(database_url, program)
    with path.open(encoding="cp1251", newline="") as source:
        points = sum(int(item["points"] or 0) for item in csv.DictReader(source, delimiter=";"))
    assert (counts["customers"], counts["points"]) == (100_000, points)
    await reconciled(cli_env, live=False, timeout_seconds=large_import_timeout_seconds)
    print(f"imported 100,000 customers ({rows} rows) in {elapsed:.1f} s")  # noqa: T201


async def test_export_then_import_into_another_program_then_export_gives_the_same_file(
    api: Api, cli_env: dict[str, str], database_url: str, tmp_path: Path
) -> None:
    await populate(api, database_url)
    first = await export(cli_env, api.program_id, tmp_path / "first.csv")
    program = await new_program(cli_env, "Copy")
    done = await run_bonus(
        "import", "--program-id", program, str(tmp_path / "first.csv"), env=cli_env
    )
    assert done.code == 0, done
    second = await export(cli_env, program, tmp_path / "second.csv")
    # Holds stay behind (a till's reserve does not move), so their points arrive unheld.
    unheld = [item | {"held": "0"} if item["points"] else item for item in without_ids(first)]
    assert unheld == without_ids(second)
    assert sum(int(item["held"] or 0) for item in first) == 30
    await reconciled(cli_env)


async def test_an_unknown_program_or_a_file_not_in_the_format_exits_2_with_one_line(
    api: Api, cli_env: dict[str, str], tmp_path: Path
) -> None:
    path = write_rows(tmp_path / "base.csv", [row("+79120000001")], separator=",")
    unknown = "00000000-0000-4000-8000-000000000000"
    cases = [
        (["--program-id", unknown, str(path)], f"no program with id {unknown}"),
        (["--program-id", api.program_id, str(path)], "try --separator ','"),
        (["--program-id", api.program_id, str(tmp_path / "none.csv")], "cannot read"),
    ]
    cp1251 = tmp_path / "cp1251.csv"
    write_rows(cp1251, [row("+79120000001", name="Пётр")], encoding="cp1251")
    cases.append((["--program-id", api.program_id, str(cp1251)], "--encoding"))
    for arguments, reason in cases:
        done = await run_bonus("import", *arguments, env=cli_env)
        assert done.code == 2, done
        assert "Traceback" not in done.stderr
        lines = [line for line in done.stderr.splitlines() if "ledger:" not in line]
        assert len(lines) == 1, done.stderr
        assert reason in lines[0], done.stderr
    assert sorted(os.listdir(tmp_path)) == ["base.csv", "cp1251.csv"]


async def test_the_welcome_trigger_greets_no_imported_customer(
    api: Api, runtime: Runtime, cli_env: dict[str, str], tmp_path: Path
) -> None:
    trigger = await api.client.put(
        f"/v1/programs/{api.program_id}/triggers/welcome",
        json={"enabled": True, "templates": [{"channel": "sms", "body": "Привет, {{ name }}!"}]},
        headers=api.headers(api.admin_key),
    )
    assert trigger.status_code == 200, trigger.text
    path = write_rows(tmp_path / "base.csv", [row("+79120000001"), row("+79120000002")])
    done = await run_bonus("import", "--program-id", api.program_id, str(path), env=cli_env)
    assert done.code == 0, done
    relay = MessageRelay(
        runtime.database,
        runtime.message_channels,
        runtime.triggers,
        msgspec.structs.replace(fast, welcome_delay_seconds=0.0),
    )
    assert await relay.welcome() == 0
    await enroll(api, "+79120000003")
    assert await relay.welcome() == 1  # an enrolment through the API is still greeted


async def test_imported_balances_are_in_the_reports_and_a_rebuild_keeps_them(
    cli_env: dict[str, str], database_url: str, tmp_path: Path
) -> None:
    """An opening balance writes no outbox event, so its import batch rolls it up itself
    (decision 0025): the liability counts it at once, pending until its lot activates, and
    `bonus reports rebuild` recomputes the same rollups from the ledger."""
    program = await new_program(cli_env, "Carried over")
    path = write_rows(
        tmp_path / "base.csv",
        [
            row("+79120000001", points="100", activates_at="2026-01-01T00:00:00Z"),
            row("+79120000002", points="40", activates_at="2199-01-01T00:00:00Z"),
        ],
    )
    done = await run_bonus("import", "--program-id", program, str(path), env=cli_env)
    assert done.code == 0, done

    async def rollups() -> list[tuple[Any, ...]]:
        connection = await asyncpg.connect(database_url)
        try:
            rows = await connection.fetch(
                "select type, operations, credited, debited from report_points "
                "where program_id = $1",
                UUID(program),
            )
            rows += await connection.fetch(
                "select lot_store_id, lot_activates_on > day, points from report_liability "
                "where program_id = $1 order by 2",
                UUID(program),
            )
        finally:
            await connection.close()
        return [tuple(item) for item in rows]

    rolled = await rollups()
    # Two opening operations of 140 points: 100 active, 40 pending until 2199.
    assert rolled == [("opening", 2, 140, 0), ("", False, 100), ("", True, 40)]
    rebuilt = await run_bonus("reports", "rebuild", "--program-id", program, env=cli_env)
    assert rebuilt.code == 0, rebuilt
    assert json.loads(rebuilt.stdout) == {"report_points_rows": 1, "report_liability_rows": 2}
    assert await rollups() == rolled
    await reconciled(cli_env)
