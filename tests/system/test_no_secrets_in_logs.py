"""No secret reaches the server's own output: ``bonus serve`` runs a Bitrix24 deal through its
channel worker (REST calls to the portal's inbound-webhook URL, whose code opens the whole CRM)
and delivers a webhook to a URL with a token in its query, and nothing it writes to stdout or
stderr holds the webhook code, the application token, the webhook URL's token, the signing
secret, an API key or a query string a client sent."""

import asyncio
import time
from pathlib import Path
from uuid import UUID

import httpx

from processing.runtime import Runtime
from processing.settings import Settings
from tests import servers
from tests.conftest import make_program
from tests.fakes.bitrix24 import FakeBitrix24
from tests.fakes.webhook_receiver import webhook_receiver
from tests.system.processes import (
    auth,
    environment,
    read_both,
    start_serve,
    stop,
    wait_until_ready,
)

phone = "+79120000001"
flow_timeout_seconds = 60


async def test_serve_writes_no_secret_to_its_output(
    tmp_path: Path, settings: Settings, database_url: str, redis_server: str
) -> None:
    portal = FakeBitrix24()
    portal_runner = await portal.start()
    port = servers.free_port()
    opened = await Runtime.open(settings)
    try:
        program_id, admin_key, pos_key = await make_program(opened)
        connection = await opened.channels.connect(
            UUID(program_id),
            "bitrix24",
            portal.domain,
            {"webhook_url": portal.webhook_url, "application_token": portal.application_token},
            {"rate_per_second": 100, "burst": 100},
        )
    finally:
        await opened.close()
    portal.handler = f"http://127.0.0.1:{port}/hooks/bitrix24/{connection.id}"
    env = environment(
        database_url=database_url,
        redis_url=redis_server,
        port=str(port),
        expiry_worker="false",
        webhook_idle_seconds="0.05",
    )
    stdout_path, stderr_path = tmp_path / "serve.out", tmp_path / "serve.err"
    webhook_token, query_secret = "wh-t0ken-in-the-query", "client-query-s3cret"
    try:
        async with webhook_receiver() as receiver:
            process = await start_serve(env, stdout_path, stderr_path)
            try:
                async with httpx.AsyncClient(
                    base_url=f"http://127.0.0.1:{port}", timeout=30
                ) as client:
                    await wait_until_ready(client, process, stdout_path, stderr_path)
                    rules = await client.put(
                        f"/v1/programs/{program_id}/rules",
                        json={"point_value_minor": 100, "earning": {"base_bp": 1000}},
                        headers=auth(admin_key, "rules"),
                    )
                    assert rules.status_code == 200, rules.text
                    created = await client.post(
                        f"/v1/programs/{program_id}/webhooks",
                        json={"url": f"{receiver.url}?token={webhook_token}"},
                        headers=auth(admin_key, "subscribe"),
                    )
                    assert created.status_code == 201, created.text
                    signing_secret = created.json()["secret"]
                    customer = await client.post(
                        "/v1/customers", json={"phone": phone}, headers=auth(pos_key, "c")
                    )
                    assert customer.status_code == 201, customer.text

                    contact = portal.contact(phone)
                    deal = portal.deal(contact, "10000.00")
                    await portal.change(deal, STAGE_ID="WON")
                    deadline = time.monotonic() + flow_timeout_seconds
                    while not (
                        portal.contacts[contact].get("UF_CRM_LOYALTY_BALANCE") == "1000"
                        and receiver.received
                    ):
                        assert time.monotonic() < deadline, read_both(stdout_path, stderr_path)
                        await asyncio.sleep(0.05)
                    balance = await client.get(
                        f"/v1/customers/{customer.json()['id']}/balance",
                        params={"probe": query_secret},
                        headers=auth(pos_key, ""),
                    )
                    assert balance.json()["available"] == 1000
            finally:
                await stop(process)
    finally:
        await portal.settled()
        await portal_runner.cleanup()

    output = read_both(stdout_path, stderr_path)
    # The control: the output is there, and it shows the calls that carried the secrets.
    assert '"operation":"balance"' in output
    assert "channel_event_received" in output
    assert portal.calls  # the worker did call the portal's REST API
    for secret in (
        portal.code,
        portal.application_token,
        webhook_token,
        signing_secret,
        signing_secret.removeprefix("whsec_"),
        admin_key,
        pos_key,
        query_secret,
    ):
        assert secret not in output, f"{secret!r} is in the server's output"
