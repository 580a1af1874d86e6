"""``bonus export`` writes every customer that is not erased with each open lot as one CSV row
in the documented format (UTF-8 with ``;``, Windows-1251 with ``,``), whose points agree with
the API's balances and sum to the open lots' remaining; it streams thousands of customers in
small batches, and an unknown program, an unwritable path or a name Windows-1251 lacks end it
with one clear line and no file."""

import csv
import io
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from processing.service.loyalty.export import columns
from tests.conftest import Api
from tests.system.processes import environment
from tests.system.test_cli_and_serve import run_bonus


@pytest.fixture
def cli_env(database_url: str, redis_server: str) -> dict[str, str]:
    return environment(database_url=database_url, redis_url=redis_server)


async def enroll(api: Api, phone: str, **fields: Any) -> str:
    response = await api.post("/v1/customers", {"phone": phone, **fields})
    assert response.status_code == 201, response.text
    customer_id: str = response.json()["id"]
    return customer_id


async def populate(api: Api, database_url: str) -> dict[str, str]:
    """Customers covering what the format must carry; returns their ids by role."""
    ivan = await enroll(
        api, "+79120000001", name="Иван Петров; «младший»", card_number="C-1",
        email="ivan@example.ru", birthday="1980-02-29",
    )  # fmt: skip
    await api.accrue(ivan, 100)
    await api.accrue(ivan, 40, expires_at="2099-01-01T00:00:00Z")
    await api.accrue(ivan, 25, activates_at="2098-01-01T00:00:00Z")
    hold = await api.reserve(ivan, 30)
    assert hold.status_code == 201, hold.text
    added = await api.post(f"/v1/customers/{ivan}/cards", {"number": "C-2"})
    assert added.status_code == 201, added.text
    blocked_card = await api.post("/v1/cards/C-2/block", {"reason": "lost"})
    assert blocked_card.status_code == 200, blocked_card.text
    maria = await enroll(api, "+79120000002", name='Мария "Ёлкина"', card_number="C-3")
    await api.accrue(maria, 7)
    blocked = await api.post(f"/v1/customers/{maria}/block", {"reason": "fraud"}, key=api.admin_key)
    assert blocked.status_code == 200, blocked.text
    empty = await enroll(api, "+79120000003")
    erased = await enroll(api, "+79120000004", name="Стёрт", card_number="C-4")
    await api.accrue(erased, 50)
    erasure = await api.post(
        f"/v1/customers/{erased}/erase", {"reason": "asked"}, key=api.admin_key
    )
    assert erasure.status_code == 200, erasure.text
    connection = await asyncpg.connect(database_url)
    try:
        await connection.execute("update customers set tier_floor = 'Gold' where id = $1", ivan)
    finally:
        await connection.close()
    return {"ivan": ivan, "maria": maria, "empty": empty, "erased": erased}


def parsed(raw: bytes, encoding: str, separator: str) -> list[dict[str, str]]:
    rows = list(csv.reader(io.StringIO(raw.decode(encoding), newline=""), delimiter=separator))
    assert tuple(rows[0]) == columns
    return [dict(zip(columns, row, strict=True)) for row in rows[1:]]


def moment(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


async def open_remaining(database_url: str, program_id: str) -> int:
    connection = await asyncpg.connect(database_url)
    try:
        total: int = await connection.fetchval(
            "select coalesce(sum(l.remaining), 0) from lots l join customers c "
            "on c.id = l.account_id where c.program_id = $1 and c.erased_at is null",
            program_id,
        )
        return total
    finally:
        await connection.close()


@pytest.mark.parametrize(
    ("encoding", "separator", "decoded"), [("utf-8", ";", "utf-8-sig"), ("cp1251", ",", "cp1251")]
)
async def test_export_matches_the_balances_in_both_encodings(
    api: Api,
    cli_env: dict[str, str],
    database_url: str,
    tmp_path: Path,
    encoding: str,
    separator: str,
    decoded: str,
) -> None:
    ids = await populate(api, database_url)
    output = tmp_path / "export.csv"
    done = await run_bonus(
        "export", "--program-id", api.program_id, "--output", str(output),
        "--encoding", encoding, "--separator", separator, env=cli_env,
    )  # fmt: skip
    assert done.code == 0, done
    assert "bonus export: 3 customers, 4 lots, 172 points" in done.stderr
    raw = output.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") == (encoding == "utf-8")
    assert b"\r\n" in raw
    rows = parsed(raw, decoded, separator)
    assert ids["erased"] not in {row["customer_id"] for row in rows}
    assert sum(int(row["points"] or 0) for row in rows) == 172
    assert await open_remaining(database_url, api.program_id) == 172
    now = datetime.now(UTC)
    for role in ("ivan", "maria", "empty"):
        mine = [row for row in rows if row["customer_id"] == ids[role]]
        lots = [row for row in mine if row["points"]]
        balance = await api.balance(ids[role])
        active = [row for row in lots if moment(row["activates_at"]) <= now]
        assert balance["available"] == sum(int(r["points"]) - int(r["held"]) for r in active)
        assert balance["pending"] == sum(
            int(row["points"]) for row in lots if moment(row["activates_at"]) > now
        )
        assert balance["reserved"] == sum(int(row["held"]) for row in lots)
    ivan = [row for row in rows if row["customer_id"] == ids["ivan"]]
    assert len(ivan) == 3
    assert {row["name"] for row in ivan} == {"Иван Петров; «младший»"}
    assert {(r["phone"], r["cards"], r["blocked_cards"]) for r in ivan} == {
        ("+79120000001", "C-1", "C-2")
    }
    assert {(r["email"], r["birthday"], r["tier"], r["blocked"]) for r in ivan} == {
        ("ivan@example.ru", "1980-02-29", "Gold", "0")
    }
    assert sorted((r["points"], r["expires_at"]) for r in ivan) == [
        ("100", ""),
        ("25", ""),
        ("40", "2099-01-01T00:00:00Z"),
    ]
    assert sum(int(row["held"]) for row in ivan) == 30  # the hold's points stay in the lots
    assert [r["activates_at"] for r in ivan if r["points"] == "25"] == ["2098-01-01T00:00:00Z"]
    (maria,) = [row for row in rows if row["customer_id"] == ids["maria"]]
    assert (maria["name"], maria["blocked"], maria["blocked_reason"]) == (
        'Мария "Ёлкина"',
        "1",
        "fraud",
    )
    (empty,) = [row for row in rows if row["customer_id"] == ids["empty"]]
    assert (empty["points"], empty["activates_at"], empty["cards"]) == ("", "", "")


async def test_export_to_stdout(api: Api, cli_env: dict[str, str]) -> None:
    customer = await enroll(api, "+79120000009", name="Пётр")
    await api.accrue(customer, 3)
    done = await run_bonus("export", "--program-id", api.program_id, "--output", "-", env=cli_env)
    assert done.code == 0, done
    rows = parsed(done.stdout.encode(), "utf-8-sig", ";")
    assert [(row["name"], row["points"]) for row in rows] == [("Пётр", "3")]


async def test_an_unknown_program_exits_2_with_one_line(
    api: Api, cli_env: dict[str, str], tmp_path: Path
) -> None:
    unknown = "00000000-0000-4000-8000-000000000000"
    output = tmp_path / "export.csv"
    done = await run_bonus("export", "--program-id", unknown, "--output", str(output), env=cli_env)
    assert done.code == 2, done
    assert "Traceback" not in done.stderr
    assert f"bonus export: no program with id {unknown}" in done.stderr
    assert not output.exists()


async def test_an_unwritable_path_exits_2_with_one_line(
    api: Api, cli_env: dict[str, str], tmp_path: Path
) -> None:
    output = tmp_path / "missing" / "export.csv"
    done = await run_bonus(
        "export", "--program-id", api.program_id, "--output", str(output), env=cli_env
    )
    assert done.code == 2, done
    assert "Traceback" not in done.stderr
    assert f"bonus export: cannot write {output}: No such file or directory" in done.stderr


async def test_a_name_windows_1251_lacks_is_refused_and_leaves_no_file(
    api: Api, cli_env: dict[str, str], tmp_path: Path
) -> None:
    await enroll(api, "+79120000005", name="Иван")
    customer = await enroll(api, "+79120000006", name="王伟")
    output = tmp_path / "export.csv"
    done = await run_bonus(
        "export", "--program-id", api.program_id, "--output", str(output),
        "--encoding", "cp1251", env=cli_env,
    )  # fmt: skip
    assert done.code == 1, done
    assert "Traceback" not in done.stderr
    assert f"bonus export: customer {customer}: '王伟' cannot be written in cp1251" in done.stderr
    assert "--encoding utf-8" in done.stderr
    assert os.listdir(tmp_path) == []


async def test_export_streams_thousands_of_customers_in_small_batches(
    api: Api, cli_env: dict[str, str], database_url: str, tmp_path: Path
) -> None:
    count = 3000
    connection = await asyncpg.connect(database_url)
    try:
        await connection.execute(
            """
            with made as (
                insert into customers (id, program_id, phone, name)
                select gen_random_uuid(), $1, '+7912' || lpad(n::text, 7, '0'), 'Клиент ' || n
                from generate_series(1, $2::integer) n
                returning id, program_id
            )
            insert into accounts (id, program_id, kind, customer_id)
            select id, program_id, 'customer', id from made
            """,
            api.program_id,
            count,
        )
    finally:
        await connection.close()
    output = tmp_path / "export.csv"
    done = await run_bonus(
        "export", "--program-id", api.program_id, "--output", str(output),
        "--batch-rows", "37", env=cli_env,
    )  # fmt: skip
    assert done.code == 0, done
    assert f"bonus export: {count} customers, 0 lots, 0 points" in done.stderr
    rows = parsed(output.read_bytes(), "utf-8-sig", ";")
    assert len(rows) == count
    assert len({row["customer_id"] for row in rows}) == count
