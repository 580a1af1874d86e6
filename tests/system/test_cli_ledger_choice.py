"""Only ``serve`` and ``migrate`` create a ledger: any other ``bonus`` command pointed at a data
directory without one, or at a database never migrated, exits 2 naming where it looked and
creates nothing; every command says on stderr which ledger it used, without its password."""

import os
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import pytest

from tests import servers
from tests.system.processes import environment
from tests.system.test_cli_and_serve import run_bonus

commands_that_need_a_ledger = [
    pytest.param(["reconcile"], id="reconcile"),
    pytest.param(["expire"], id="expire"),
    pytest.param(["create-program", "--name", "Lost"], id="create-program"),
    pytest.param(["worker"], id="worker"),
]


@pytest.fixture
async def never_migrated_url(postgres_server: str) -> AsyncIterator[str]:
    name = f"bonus_cli_never_migrated_{os.getpid()}"
    admin = await asyncpg.connect(postgres_server)
    try:
        await admin.execute(f"drop database if exists {name} with (force)")
        await admin.execute(f"create database {name}")
        yield servers.with_database(postgres_server, name)
        await admin.execute(f"drop database if exists {name} with (force)")
    finally:
        await admin.close()


@pytest.mark.parametrize("command", commands_that_need_a_ledger)
async def test_a_command_in_a_directory_without_a_ledger_exits_2_and_creates_nothing(
    tmp_path: Path, command: list[str]
) -> None:
    elsewhere = tmp_path / "elsewhere" / ".data"
    finished = await run_bonus(*command, env=environment(data_dir=str(elsewhere)))
    assert finished.code == 2, finished
    assert f"no ledger in {elsewhere}" in finished.stderr
    assert "bonus migrate" in finished.stderr
    assert "Traceback" not in finished.stderr
    assert not elsewhere.exists()


@pytest.mark.parametrize("command", commands_that_need_a_ledger)
async def test_a_command_against_a_database_never_migrated_exits_2_and_leaves_it_empty(
    never_migrated_url: str, redis_server: str, command: list[str]
) -> None:
    env = environment(database_url=never_migrated_url, redis_url=redis_server)
    finished = await run_bonus(*command, env=env)
    assert finished.code == 2, finished
    assert "holds no ledger" in finished.stderr
    assert urlsplit(never_migrated_url).path.lstrip("/") in finished.stderr
    assert "Traceback" not in finished.stderr
    connection = await asyncpg.connect(never_migrated_url)
    try:
        tables = await connection.fetchval(
            "select count(*) from pg_tables where schemaname = 'public'"
        )
    finally:
        await connection.close()
    assert tables == 0


async def test_a_command_says_which_ledger_it_used_without_its_password(
    database_url: str, redis_server: str
) -> None:
    parts = urlsplit(database_url)
    secret = parts.password or "ignored-by-trust-auth"  # the embedded server trusts local users
    host = parts.netloc.rpartition("@")[2]
    url = parts._replace(netloc=f"{parts.username}:{secret}@{host}").geturl()
    finished = await run_bonus(
        "reconcile", env=environment(database_url=url, redis_url=redis_server)
    )
    assert finished.code == 0, finished
    said = [line for line in finished.stderr.splitlines() if line.startswith("bonus reconcile:")]
    assert len(said) == 1, finished
    assert said[0].startswith("bonus reconcile: ledger: postgresql://"), said
    assert f"{parts.username}:***@" in said[0]
    assert parts.path in said[0]
    assert f":{secret}@" not in finished.stderr + finished.stdout


@pytest.mark.parametrize("command", ["reconcile", "migrate"])
async def test_a_database_that_does_not_answer_exits_1_and_one_that_refuses_exits_2(
    postgres_server: str, redis_server: str, command: str
) -> None:
    silent = f"postgresql://postgres@127.0.0.1:{servers.free_port()}/bonus"
    finished = await run_bonus(
        command, env=environment(database_url=silent, redis_url=redis_server)
    )
    assert finished.code == 1, finished
    assert f"bonus {command}: {silent} did not answer" in finished.stderr
    assert "Traceback" not in finished.stderr

    missing = servers.with_database(postgres_server, "bonus_no_such_database")
    finished = await run_bonus(
        command, env=environment(database_url=missing, redis_url=redis_server)
    )
    assert finished.code == 2, finished
    assert "refused" in finished.stderr
    assert "bonus_no_such_database" in finished.stderr
    assert "Traceback" not in finished.stderr
