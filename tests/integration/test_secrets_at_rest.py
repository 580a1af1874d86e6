"""Secrets at rest: webhook signing secrets and partner secrets are sealed in the database (no
byte of them in clear in any row), still sign and verify as before, rows from before sealing
are sealed when a server starts, and `bonus rotate-secrets` re-seals everything under a new
key, after which the old key can go and everything still opens."""

import base64
import json
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import msgspec
import pytest
from standardwebhooks.webhooks import Webhook

from processing.adapters.http_sender import HttpxSender
from processing.adapters.sealing import SecretsKeyError
from processing.core.rejections import Rejection
from processing.runtime import Runtime
from processing.service.messaging.webhooks import Relay, RelayPolicy, new_secret
from processing.service.records import Accepted, Actor, Connection, Refused
from processing.settings import Settings
from tests.api.test_apple_wallet import card_holder, crm_key, fetch_pass, set_up
from tests.api.test_certificates import sold, wrong
from tests.api.test_google_wallet import put_settings as put_google_settings
from tests.api.test_google_wallet import wallet_settings as google_wallet_settings
from tests.conftest import Api, secrets_keys
from tests.fakes.wallet import make_chain
from tests.fakes.webhook_receiver import webhook_receiver
from tests.system.processes import environment
from tests.system.test_cli_and_serve import run_bonus

new_key = "k2:" + base64.b64encode(b"a new key, 32 bytes long, really"[:32]).decode()
partner_secrets = {
    "bitrix24": {
        "webhook_url": "https://b24.example/rest/1/b24-inbound-c0de/",
        "application_token": "b24-app-t0ken",
    },
    "retailcrm": {"api_key": "rcrm-api-k3y", "trigger_secret": "rcrm-trigger-t0ken"},
    "woocommerce": {
        "webhook_secret": "woo-webhook-s3cret",
        "consumer_key": "ck_woo-consumer-k3y",
        "consumer_secret": "cs_woo-consumer-s3cret",
    },
    "shopify": {"client_secret": "shpss_shopify-client-s3cret"},
}
accounts = {
    "bitrix24": "b24.example",
    "retailcrm": "https://rcrm.example",
    "woocommerce": "https://shop.example",
    "shopify": "shop.myshopify.com",
}


async def connect_every_partner(runtime: Runtime, program_id: UUID) -> dict[str, Connection]:
    return {
        partner: await runtime.channels.connect(
            program_id, partner, accounts[partner], dict(secrets)
        )
        for partner, secrets in partner_secrets.items()
    }


async def database_text(database_url: str) -> str:
    """Every row of the tables a secret could be in, as text."""
    connection = await asyncpg.connect(database_url)
    try:
        rows = []
        for table in ("webhook_subscriptions", "channel_connections", "idempotency_keys"):
            rows += await connection.fetch(f"select t::text as row from {table} t")  # noqa: S608
    finally:
        await connection.close()
    return "\n".join(row["row"] for row in rows)


def clear_texts(webhook_secret: str) -> list[str]:
    return [webhook_secret.removeprefix("whsec_")] + [
        value for secrets in partner_secrets.values() for value in secrets.values()
    ]


async def subscribe(api: Api, url: str) -> dict[str, Any]:
    created = await api.post(
        f"/v1/programs/{api.program_id}/webhooks", {"url": url}, key=api.admin_key
    )
    assert created.status_code == 201, created.text
    body: dict[str, Any] = created.json()
    return body


async def test_the_database_holds_no_secret_in_clear(api: Api, database_url: str) -> None:
    created = await subscribe(api, "https://crm.example/hooks")
    connections = await connect_every_partner(api.runtime, api.program_id_uuid)
    stored = await database_text(database_url)
    assert "sealed:v1:test-1:" in stored
    for clear in clear_texts(created["secret"]):
        assert clear not in stored, clear
    for partner, connection in connections.items():
        reread = await api.runtime.channels.connection(connection.id)
        assert reread is not None
        assert reread.secrets == partner_secrets[partner]


async def test_a_sealed_webhook_secret_still_signs(api: Api) -> None:
    async with webhook_receiver() as receiver:
        created = await subscribe(api, receiver.url)
        await api.customer(points=5)
        sender = HttpxSender(1.0, api.runtime.settings.outbound)
        try:
            await Relay(api.runtime.database, sender, RelayPolicy()).run_once()
        finally:
            await sender.close()
    assert receiver.received
    for delivery in receiver.received:
        Webhook(created["secret"]).verify(delivery.body, delivery.headers)


async def test_rows_from_before_sealing_are_sealed_when_a_server_starts(
    api: Api, settings: Settings, database_url: str
) -> None:
    secret, webhook_id, connection_id = new_secret(), uuid4(), uuid4()
    clear = partner_secrets["retailcrm"]
    async with api.runtime.pool.acquire() as db:
        await db.execute(
            "insert into webhook_subscriptions (id, program_id, url, secret)"
            " values ($1, $2, $3, $4)",
            webhook_id, api.program_id_uuid, "https://crm.example/old", secret,
        )  # fmt: skip
        key_id = await db.fetchval("select id from api_keys limit 1")
        await db.execute(
            "insert into channel_connections (id, program_id, partner, account, key_id, secrets)"
            " values ($1, $2, 'retailcrm', 'https://old.example', $3, $4::jsonb)",
            connection_id, api.program_id_uuid, key_id, json.dumps(clear),
        )  # fmt: skip
    reopened = await Runtime.open(settings)
    try:
        stored = await database_text(database_url)
        for value in [secret.removeprefix("whsec_"), *clear.values()]:
            assert value not in stored, value
        connection = await reopened.channels.connection(connection_id)
        assert connection is not None
        assert connection.secrets == clear
        async with reopened.pool.acquire() as db:
            sealed_secret = await db.fetchval(
                "select secret from webhook_subscriptions where id = $1", webhook_id
            )
        assert reopened.keyring.open(sealed_secret, f"webhook:{webhook_id}") == secret
    finally:
        await reopened.close()


async def sealed_wallet_rows(database_url: str) -> list[tuple[str, str]]:
    """Each sealed wallet secret with the context it is sealed under."""
    connection = await asyncpg.connect(database_url)
    try:
        rows = await connection.fetch(
            "select credentials_sealed as sealed, 'apple-wallet:' || program_id as context"
            " from apple_wallet_settings"
            " union all select authentication_token_sealed, 'wallet-pass:' || serial_number"
            " from wallet_passes"
            " union all select private_key_sealed, 'google-wallet:' || program_id"
            " from google_wallet_settings"
        )
    finally:
        await connection.close()
    return [(row["sealed"], row["context"]) for row in rows]


async def hold_wallet_secrets(api: Api) -> None:
    """The program's Apple Wallet credentials, one card's pass (its token) and the Google
    Wallet service account key: every wallet secret there is."""
    chain = make_chain()
    await set_up(api, chain)
    await card_holder(api)
    assert (await fetch_pass(api, await crm_key(api))).status_code == 200
    assert (await put_google_settings(api, google_wallet_settings())).status_code == 200


async def test_rotation_reseals_everything_so_the_old_key_can_go(
    api: Api, settings: Settings, database_url: str, redis_server: str
) -> None:
    created = await subscribe(api, "https://crm.example/hooks")
    connections = await connect_every_partner(api.runtime, api.program_id_uuid)
    await hold_wallet_secrets(api)
    wallet_before = await sealed_wallet_rows(database_url)
    assert len(wallet_before) == 3
    assert all(sealed.startswith("sealed:v1:test-1:") for sealed, _ in wallet_before)

    only_new = msgspec.structs.replace(settings, secrets_keys=new_key)
    too_soon = await Runtime.open(only_new)  # the control: without the old key nothing opens
    try:
        with pytest.raises(SecretsKeyError, match="not in the key ring"):
            await too_soon.channels.connection(connections["shopify"].id)
    finally:
        await too_soon.close()

    rotated = await run_bonus(
        "rotate-secrets",
        env=environment(
            database_url=database_url,
            redis_url=redis_server,
            secrets_keys=f"{new_key},{secrets_keys}",
        ),
    )
    assert rotated.code == 0, rotated
    # One webhook, four connections and the wallets' three secrets re-sealed under k2.
    assert rotated.result == {
        "webhook_secrets": 1,
        "connection_secrets": 4,
        "google_wallet_keys": 1,
        "apple_wallet_credentials": 1,
        "wallet_pass_tokens": 1,
        "certificate_pins_under_older_keys": 0,
        "key_id": "k2",
    }
    wallet_after = await sealed_wallet_rows(database_url)
    assert all(sealed.startswith("sealed:v1:k2:") for sealed, _ in wallet_after)
    stored = await database_text(database_url)
    assert "sealed:v1:test-1:" not in stored
    assert "sealed:v1:k2:" in stored
    for clear in clear_texts(created["secret"]):
        assert clear not in stored, clear

    after = await Runtime.open(only_new)
    try:
        for partner, connection in connections.items():
            reread = await after.channels.connection(connection.id)
            assert reread is not None
            assert reread.secrets == partner_secrets[partner]
        async with after.pool.acquire() as db:
            sealed_secret = await db.fetchval(
                "select secret from webhook_subscriptions where id = $1", UUID(created["id"])
            )
        assert after.keyring.open(sealed_secret, f"webhook:{created['id']}") == created["secret"]
        opened = {context: after.keyring.open(sealed, context) for sealed, context in wallet_after}
        assert opened == {
            context: api.runtime.keyring.open(sealed, context) for sealed, context in wallet_before
        }
    finally:
        await after.close()


async def test_no_command_runs_outside_development_without_a_key(
    database_url: str, redis_server: str
) -> None:
    finished = await run_bonus(
        "reconcile",
        env=environment(database_url=database_url, redis_url=redis_server, secrets_keys=""),
    )
    assert finished.code == 2, finished
    assert "BONUS_SECRETS_KEYS is required outside development" in finished.stderr
    assert "Traceback" not in finished.stderr


async def pin_state(database_url: str, certificate_id: str) -> tuple[str, int, bool]:
    connection = await asyncpg.connect(database_url)
    try:
        row = await connection.fetchrow(
            "select pin_key_id, wrong_pins, blocked_at is not null as blocked"
            " from certificates where id = $1",
            UUID(certificate_id),
        )
    finally:
        await connection.close()
    assert row is not None
    return row["pin_key_id"], row["wrong_pins"], row["blocked"]


def till(api: Api) -> Actor:
    return Actor(
        key_id=uuid4(), program_id=api.program_id_uuid, scopes=frozenset({"pos"}), store_id=None
    )


async def test_a_certificates_pin_moves_to_the_new_key_at_its_next_right_entry(
    api: Api, settings: Settings, database_url: str, redis_server: str
) -> None:
    """A PIN is an HMAC: rotation cannot re-key it, so `bonus rotate-secrets` counts the
    certificates still under the old key, and each moves to the new key the next time its
    right PIN is entered; then the old key can go."""
    certificate = await sold(api)
    env = environment(
        database_url=database_url, redis_url=redis_server, secrets_keys=f"{new_key},{secrets_keys}"
    )
    rotated = await run_bonus("rotate-secrets", env=env)
    assert rotated.code == 0, rotated
    assert rotated.result["certificate_pins_under_older_keys"] == 1

    both = await Runtime.open(
        msgspec.structs.replace(settings, secrets_keys=f"{new_key},{secrets_keys}")
    )
    try:
        found = await both.certificates.lookup(till(api), certificate["number"], certificate["pin"])
    finally:
        await both.close()
    assert isinstance(found, Accepted), found
    assert await pin_state(database_url, certificate["id"]) == ("k2", 0, False)
    again = await run_bonus("rotate-secrets", env=env)
    assert again.result["certificate_pins_under_older_keys"] == 0

    only_new = await Runtime.open(msgspec.structs.replace(settings, secrets_keys=new_key))
    try:
        right = await only_new.certificates.lookup(
            till(api), certificate["number"], certificate["pin"]
        )
        refused = await only_new.certificates.lookup(
            till(api), certificate["number"], wrong(certificate["pin"])
        )
    finally:
        await only_new.close()
    assert isinstance(right, Accepted), right
    assert isinstance(refused, Refused)
    assert refused.rejection is Rejection.certificate_pin_invalid


async def test_a_pin_under_a_dropped_key_is_the_servers_fault_and_counts_nothing(
    api: Api, settings: Settings, database_url: str
) -> None:
    """Dropping the old key too soon must not block every older certificate on its right
    PIN: the till is told the server cannot check it (503) and nothing is counted."""
    certificate = await sold(api)
    only_new = await Runtime.open(msgspec.structs.replace(settings, secrets_keys=new_key))
    try:
        answers = [
            await only_new.certificates.lookup(till(api), certificate["number"], pin)
            for pin in [certificate["pin"], *[wrong(certificate["pin"])] * 6]
        ]
    finally:
        await only_new.close()
    for answer in answers:
        assert isinstance(answer, Refused)
        assert (answer.rejection, answer.field) == (Rejection.certificate_pin_key_missing, "pin")
    assert await pin_state(database_url, certificate["id"]) == ("test-1", 0, False)
    found = await api.post(
        "/pos/v1/certificates/lookup",
        {"number": certificate["number"], "pin": certificate["pin"]},
        idempotency_key=None,
    )
    assert found.status_code == 200, found.text  # with the key back, the right PIN works
