"""`bonus serve` relays webhooks itself unless told not to (`make run`'s default, so a single
process is a whole working system): an accrual made through the running server reaches a
subscriber, signed; with BONUS_WEBHOOK_RELAY=false it does not, and stays in the outbox for a
worker."""

import asyncio
from pathlib import Path

import httpx
import pytest
from standardwebhooks.webhooks import Webhook

from processing.runtime import Runtime
from processing.settings import Settings
from tests import servers
from tests.conftest import make_program
from tests.fakes.webhook_receiver import webhook_receiver
from tests.system.processes import auth, environment, start_serve, stop, wait_until_ready


@pytest.mark.parametrize("relay", [True, False], ids=["relay-on", "relay-off"])
async def test_serve_delivers_webhooks_unless_the_relay_is_off(
    tmp_path: Path, settings: Settings, database_url: str, redis_server: str, relay: bool
) -> None:
    opened = await Runtime.open(settings)
    try:
        program_id, admin_key, pos_key = await make_program(opened)
    finally:
        await opened.close()
    port = servers.free_port()
    env = environment(
        database_url=database_url,
        redis_url=redis_server,
        port=str(port),
        expiry_worker="false",
        webhook_relay=str(relay).lower(),
        webhook_idle_seconds="0.05",
    )
    stdout_path, stderr_path = tmp_path / "serve.out", tmp_path / "serve.err"
    async with webhook_receiver() as receiver:
        process = await start_serve(env, stdout_path, stderr_path)
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
                await wait_until_ready(client, process, stdout_path, stderr_path)
                created = await client.post(
                    f"/v1/programs/{program_id}/webhooks",
                    json={"url": receiver.url, "event_types": ["points.accrued"]},
                    headers=auth(admin_key, "subscribe"),
                )
                assert created.status_code == 201, created.text
                customer = await client.post(
                    "/v1/customers", json={"phone": "+79120000001"}, headers=auth(pos_key, "c")
                )
                accrued = await client.post(
                    f"/v1/customers/{customer.json()['id']}/accruals",
                    json={"points": 10, "document": {"id": "R-1"}},
                    headers=auth(pos_key, "a"),
                )
                assert accrued.status_code == 201, accrued.text
                for _ in range(300 if relay else 40):  # up to 15 s on, 2 s off
                    if receiver.received:
                        break
                    await asyncio.sleep(0.05)
        finally:
            await stop(process)
    if relay:
        [delivery] = receiver.received
        assert Webhook(created.json()["secret"]).verify(delivery.body, delivery.headers)
    else:
        assert receiver.received == []
        opened = await Runtime.open(settings)
        try:
            async with opened.pool.acquire() as connection:
                waiting = await connection.fetchval(
                    "select count(*) from outbox where relayed_at is null"
                )
        finally:
            await opened.close()
        assert waiting >= 2  # the accrual's events wait for a worker
