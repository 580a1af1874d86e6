"""Operator mistakes end ``bonus`` commands with one clear line on stderr and a documented exit
status, never a traceback: a Bitrix24 "portal" that answers HTML pages (exit 1, the operation
failed), and a partner account connected a second time (exit 2), also when two operators
connect it at the same moment (the database's unique constraint decides, not a prior check)."""

import asyncio

import asyncpg
import pytest

from tests.conftest import Api
from tests.fakes.bitrix24 import FakeBitrix24
from tests.fakes.http import serve_html
from tests.system.processes import environment
from tests.system.test_cli_and_serve import run_bonus


@pytest.fixture
def cli_env(database_url: str, redis_server: str) -> dict[str, str]:
    return environment(database_url=database_url, redis_url=redis_server)


def connect_bitrix24(program_id: str, domain: str, webhook_url: str) -> list[str]:
    return [
        "connect", "--program-id", program_id, "--partner", "bitrix24", "--account", domain,
        "--secret", f"webhook_url={webhook_url}", "--secret", "application_token=t0ken",
    ]  # fmt: skip


@pytest.mark.parametrize("status", [200, 404])
async def test_bitrix24_install_against_a_portal_answering_html_exits_1_clearly(
    cli_env: dict[str, str], api: Api, status: int
) -> None:
    runner, base = await serve_html(status)
    try:
        connected = await run_bonus(
            *connect_bitrix24(api.program_id, "html.bitrix24.ru", f"{base}/rest/1/c0de/"),
            env=cli_env,
        )
        assert connected.code == 0, connected
        installed = await run_bonus(
            "bitrix24-install", "--connection-id", connected.result["connection_id"], env=cli_env
        )
    finally:
        await runner.cleanup()
    assert installed.code == 1, installed
    assert "Traceback" not in installed.stderr
    assert "bonus bitrix24-install: the portal" in installed.stderr
    assert "no JSON object" in installed.stderr or str(status) in installed.stderr
    assert "c0de" not in installed.stderr  # the webhook's secret code is not shown


async def test_connecting_an_account_twice_exits_2_and_keeps_the_first(
    cli_env: dict[str, str], api: Api, database_url: str
) -> None:
    portal = FakeBitrix24()
    command = connect_bitrix24(api.program_id, portal.domain, "https://x.invalid/rest/1/k/")
    first = await run_bonus(*command, env=cli_env)
    assert first.code == 0, first
    again = await run_bonus(*command, env=cli_env)
    assert again.code == 2, again
    assert "Traceback" not in again.stderr
    assert f"bitrix24 account {portal.domain} is connected already" in again.stderr
    assert await connections_and_keys(database_url, portal.domain) == (1, 1)


async def test_two_operators_connecting_one_account_at_once_get_one_connection(
    cli_env: dict[str, str], api: Api, database_url: str
) -> None:
    command = connect_bitrix24(api.program_id, "race.bitrix24.ru", "https://x.invalid/rest/1/k/")
    finished = await asyncio.gather(*(run_bonus(*command, env=cli_env) for _ in range(3)))
    assert sorted(result.code for result in finished) == [0, 2, 2], finished
    assert all("Traceback" not in result.stderr for result in finished), finished
    assert await connections_and_keys(database_url, "race.bitrix24.ru") == (1, 1)


async def connections_and_keys(database_url: str, account: str) -> tuple[int, int]:
    """Connections of the account, and API keys made for it: a refused connect leaves no key."""
    connection = await asyncpg.connect(database_url)
    try:
        row = await connection.fetchrow(
            "select (select count(*) from channel_connections where account = $1) as connections,"
            " (select count(*) from api_keys where name = 'bitrix24 ' || $1) as keys",
            account,
        )
    finally:
        await connection.close()
    assert row is not None
    return row["connections"], row["keys"]
