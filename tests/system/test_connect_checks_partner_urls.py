"""`bonus connect` refuses a partner URL it would never call (a file, not a URL, the metadata
address, an internal address outside development) with a clear message and exit code 2,
stores nothing, and never echoes the URL (a Bitrix24 webhook URL is a credential)."""

import asyncpg
import pytest

from tests.conftest import Api
from tests.system.processes import environment
from tests.system.test_cli_and_serve import run_bonus


@pytest.mark.parametrize(
    ("partner", "account", "secrets", "says"),
    [
        (
            "bitrix24",
            "portal.bitrix24.ru",
            ["webhook_url=file:///etc/passwd", "application_token=t"],
            "webhook_url is not an absolute http(s) URL",
        ),
        (
            "bitrix24",
            "portal.bitrix24.ru",
            ["webhook_url=not-a-url", "application_token=t"],
            "webhook_url is not an absolute http(s) URL",
        ),
        (
            "bitrix24",
            "portal.bitrix24.ru",
            ["webhook_url=https://169.254.169.254/rest/1/s3cr3tcode/", "application_token=t"],
            "webhook_url points at an address this server does not send to",
        ),
        (
            "retailcrm",
            "https://10.0.0.7",
            ["api_key=k", "trigger_secret=t"],
            "account points at an address",
        ),
        (
            "woocommerce",
            "http://shop.example",
            ["webhook_secret=w", "consumer_key=ck", "consumer_secret=cs"],
            "account must use https",
        ),
        (
            "woocommerce",
            "https://admin:pw@shop.example",
            ["webhook_secret=w", "consumer_key=ck", "consumer_secret=cs"],
            "must not carry a user name or password",
        ),
    ],
)
async def test_connect_refuses_urls_it_would_never_call(
    api: Api,
    database_url: str,
    redis_server: str,
    partner: str,
    account: str,
    secrets: list[str],
    says: str,
) -> None:
    env = environment(
        database_url=database_url,
        redis_url=redis_server,
        outbound_allow_http="false",
        outbound_allow_private="false",
    )
    arguments = ["--program-id", api.program_id, "--partner", partner, "--account", account]
    for secret in secrets:
        arguments += ["--secret", secret]
    finished = await run_bonus("connect", *arguments, env=env)
    assert finished.code == 2, finished
    assert f"bonus connect: the {partner} " in finished.stderr
    assert says in finished.stderr
    assert "Traceback" not in finished.stderr
    assert "s3cr3tcode" not in finished.stderr + finished.stdout
    connection = await asyncpg.connect(database_url)
    try:
        assert await connection.fetchval("select count(*) from channel_connections") == 0
    finally:
        await connection.close()
