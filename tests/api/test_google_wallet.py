"""Google Wallet through the HTTP API against a fake Google over real HTTP: settings are checked
and their key sealed, the save link names an object inserted first and is signed with the
service account's key, and a balance, tier or card change reaches Google exactly once, later
when Google fails, never lost."""

from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID

import msgspec
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from prometheus_client import REGISTRY

from processing.core.google_wallet import object_id
from processing.service.admin import create_key
from processing.service.wallet.google import GoogleWalletSync
from processing.settings import Settings
from tests.conftest import Api, make_program
from tests.fakes.google_wallet import FakeGoogleWallet, new_key, verify_jwt

issuer = "3388000000022195795"
account = "wallet@bonus-test.iam.gserviceaccount.com"
private_key, public_key = new_key()


@pytest.fixture
async def google() -> AsyncIterator[FakeGoogleWallet]:
    fake = await FakeGoogleWallet(accounts={account: public_key}).start()
    try:
        yield fake
    finally:
        await fake.stop()


@pytest.fixture
def settings(settings: Settings, google: FakeGoogleWallet) -> Settings:
    return msgspec.structs.replace(
        settings, google_wallet_api_url=google.api_url, google_wallet_token_url=google.token_url
    )


def wallet_settings(**changes: Any) -> dict[str, Any]:
    return {
        "issuer_id": issuer,
        "service_account_email": account,
        "private_key": private_key,
        "program_name": "Coffee Club",
        "logo_url": "https://example.com/logo.png",
        "background_color": "#336699",
        "origins": ["https://shop.example.com"],
    } | changes


async def put_settings(api: Api, body: dict[str, Any], program_id: str | None = None) -> Any:
    return await api.client.put(
        f"/v1/programs/{program_id or api.program_id}/google-wallet",
        json=body,
        headers=api.headers(api.admin_key),
    )


async def crm_key(api: Api, program_id: str) -> str:
    async with api.runtime.database.transaction() as store:
        key = await create_key(store, UUID(program_id), "crm", ["crm"], None)
    return str(key.key)


async def card_holder(api: Api, number: str, points: int, phone: str = "+79120000001") -> str:
    customer_id = await api.customer(phone, points)
    response = await api.post(f"/v1/customers/{customer_id}/cards", {"number": number})
    assert response.status_code == 201, response.text
    return customer_id


async def link(api: Api, number: str, key: str) -> Any:
    return await api.get(f"/v1/cards/{number}/google-wallet", key=key)


async def relay_and_sync(api: Api) -> int:
    """The outbox relay's fan-out, then the worker until it has nothing due; patches made."""
    async with api.runtime.database.transaction() as store:
        while (await store.fan_out(100))[0]:
            pass
    sync = GoogleWalletSync(api.runtime.database, api.runtime.google_wallet_api)
    done = 0
    while made := await sync.run_once():
        done += made
    return done


def updates(outcome: str) -> float:
    sample = REGISTRY.get_sample_value("bonus_google_wallet_updates_total", {"outcome": outcome})
    return sample or 0.0


async def object_row(api: Api, number: str) -> Any:
    async with api.runtime.pool.acquire() as connection:
        return await connection.fetchrow(
            "select * from google_wallet_objects where card_number = $1", number
        )


async def test_settings_are_stored_with_the_key_sealed_and_never_shown(api: Api) -> None:
    response = await put_settings(api, wallet_settings())
    assert response.status_code == 200, response.text
    shown = response.json()
    assert "private_key" not in shown
    assert shown["issuer_id"] == issuer
    assert shown["class_id"] == f"{issuer}.program-{UUID(api.program_id).hex}"
    read = await api.get(f"/v1/programs/{api.program_id}/google-wallet", key=api.admin_key)
    assert read.status_code == 200
    assert read.json() == shown
    async with api.runtime.pool.acquire() as connection:
        stored = await connection.fetchval("select private_key_sealed from google_wallet_settings")
    assert stored.startswith("sealed:v1:")
    assert "PRIVATE KEY" not in stored


def ec_key() -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"issuer_id": "33880000x"}, "issuer_id"),
        ({"service_account_email": "not-an-address"}, "service_account_email"),
        (
            {"private_key": "-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----"},
            "private_key",
        ),
        ({"private_key": ec_key()}, "private_key"),
        ({"private_key": new_key(1024)[0]}, "private_key"),
        ({"program_name": "   "}, "program_name"),
        ({"logo_url": "http://example.com/logo.png"}, "logo_url"),
        ({"background_color": "blue"}, "background_color"),
        ({"origins": ["https://shop.example.com/checkout"]}, "origins[0]"),
        ({"origins": ["https://a.example.com"] * 11}, "origins"),
        ({"secret": "x"}, "secret"),
    ],
)
async def test_bad_settings_are_refused_naming_the_field(
    api: Api, changes: dict[str, Any], field: str
) -> None:
    response = await put_settings(api, wallet_settings(**changes))
    assert response.status_code == 400, response.text
    assert response.json()["field"] == field
    read = await api.get(f"/v1/programs/{api.program_id}/google-wallet", key=api.admin_key)
    assert read.status_code == 409
    assert read.json()["code"] == "wallet_not_configured"


async def test_settings_of_an_unknown_program_are_404(api: Api) -> None:
    response = await put_settings(api, wallet_settings(), "00000000-0000-0000-0000-000000000001")
    assert response.status_code == 404


async def test_the_save_link_names_an_object_inserted_first_and_is_signed(
    api: Api, google: FakeGoogleWallet
) -> None:
    assert (await put_settings(api, wallet_settings())).status_code == 200
    key = await crm_key(api, api.program_id)
    await card_holder(api, "CARD-0001", 120)
    response = await link(api, "CARD-0001", key)
    assert response.status_code == 200, response.text
    answer = response.json()
    program = UUID(api.program_id)
    expected_object = object_id(issuer, program, "CARD-0001")
    assert answer["object_id"] == expected_object
    assert answer["url"] == "https://pay.google.com/gp/v/save/" + answer["jwt"]
    claims = verify_jwt(answer["jwt"], public_key)
    assert claims["iss"] == account
    assert claims["aud"] == "google"
    assert claims["typ"] == "savetowallet"
    assert claims["origins"] == ["https://shop.example.com"]
    assert claims["payload"] == {
        "loyaltyObjects": [{"id": expected_object, "classId": answer["class_id"]}]
    }
    assert len(answer["jwt"]) < 1800  # skinny: safe in a link
    # The service account's assertion was checked by the fake's token endpoint.
    assert google.refused_assertions == []
    [assertion] = google.assertions
    assert assertion["iss"] == account
    assert google.classes[answer["class_id"]]["programName"] == "Coffee Club"
    shown = google.objects[expected_object]
    assert shown["classId"] == answer["class_id"]
    assert shown["accountId"] == "CARD-0001"
    assert shown["loyaltyPoints"]["balance"] == {"int": 120}
    assert shown["barcode"] == {
        "type": "QR_CODE",
        "value": "CARD-0001",
        "alternateText": "CARD-0001",
    }
    assert shown["state"] == "ACTIVE"
    # The QR code's value is what the till's identify takes.
    identified = await api.post(
        "/pos/v1/identify", {"identifier": {"type": "qr", "value": "CARD-0001"}}
    )
    assert identified.status_code == 200, identified.text
    # A second link makes no second insert and asks for no second token (it is kept).
    calls = len(google.calls)
    again = await link(api, "CARD-0001", key)
    assert again.status_code == 200
    assert len(google.assertions) == 1
    assert [call.method for call in google.calls[calls:]] == []


async def test_a_balance_change_reaches_google_once(api: Api, google: FakeGoogleWallet) -> None:
    assert (await put_settings(api, wallet_settings())).status_code == 200
    key = await crm_key(api, api.program_id)
    customer_id = await card_holder(api, "CARD-0002", 100)
    assert await relay_and_sync(api) == 0  # the accrual before the link: no object to patch
    assert (await link(api, "CARD-0002", key)).status_code == 200
    assert await relay_and_sync(api) == 0  # and the object inserted shows it
    await api.accrue(customer_id, 40)
    assert await relay_and_sync(api) == 1
    object_name = object_id(issuer, UUID(api.program_id), "CARD-0002")
    [patch] = google.patches(object_name)
    assert patch.status == 200
    assert patch.body["loyaltyPoints"] == {"label": "Points", "balance": {"int": 140}}
    assert google.objects[object_name]["loyaltyPoints"]["balance"] == {"int": 140}
    assert await relay_and_sync(api) == 0  # nothing more to send
    row = await object_row(api, "CARD-0002")
    assert row["synced"] == row["changes"]


async def test_a_burst_of_changes_is_one_patch_with_the_last_values(
    api: Api, google: FakeGoogleWallet
) -> None:
    assert (await put_settings(api, wallet_settings())).status_code == 200
    key = await crm_key(api, api.program_id)
    customer_id = await card_holder(api, "CARD-0003", 10)
    assert (await link(api, "CARD-0003", key)).status_code == 200
    for points in (1, 2, 3):
        await api.accrue(customer_id, points)
    assert await relay_and_sync(api) == 1
    [patch] = google.patches(object_id(issuer, UUID(api.program_id), "CARD-0003"))
    assert patch.body["loyaltyPoints"]["balance"] == {"int": 16}


async def test_a_blocked_card_shows_inactive_and_unblocked_active_again(
    api: Api, google: FakeGoogleWallet
) -> None:
    assert (await put_settings(api, wallet_settings())).status_code == 200
    key = await crm_key(api, api.program_id)
    await card_holder(api, "CARD-0004", 10)
    assert (await link(api, "CARD-0004", key)).status_code == 200
    blocked = await api.post("/v1/cards/CARD-0004/block", {"reason": "lost"}, key=key)
    assert blocked.status_code == 200, blocked.text
    assert await relay_and_sync(api) == 1
    object_name = object_id(issuer, UUID(api.program_id), "CARD-0004")
    assert google.objects[object_name]["state"] == "INACTIVE"
    unblocked = await api.post("/v1/cards/CARD-0004/unblock", {"reason": "found"}, key=key)
    assert unblocked.status_code == 200
    assert await relay_and_sync(api) == 1
    assert [call.body["state"] for call in google.patches(object_name)] == ["INACTIVE", "ACTIVE"]


async def test_a_manual_tier_reaches_google(api: Api, google: FakeGoogleWallet) -> None:
    rules = {"tiers": [{"name": "gold", "threshold_minor": 100_000_00, "earn_bp": 1000}]}
    response = await api.client.put(
        f"/v1/programs/{api.program_id}/rules", json=rules, headers=api.headers(api.admin_key)
    )
    assert response.status_code in (200, 201), response.text
    assert (await put_settings(api, wallet_settings())).status_code == 200
    key = await crm_key(api, api.program_id)
    customer_id = await card_holder(api, "CARD-0005", 10)
    assert (await link(api, "CARD-0005", key)).status_code == 200
    tiered = await api.client.put(
        f"/v1/customers/{customer_id}/tier",
        json={"tier": "gold", "reason": "vip"},
        headers=api.headers(key),
    )
    assert tiered.status_code == 200, tiered.text
    assert await relay_and_sync(api) == 1
    [patch] = google.patches(object_id(issuer, UUID(api.program_id), "CARD-0005"))
    assert patch.body["textModulesData"] == [{"id": "tier", "header": "Tier", "body": "gold"}]


async def test_google_failing_is_retried_later_and_nothing_is_lost(
    api: Api, google: FakeGoogleWallet
) -> None:
    assert (await put_settings(api, wallet_settings())).status_code == 200
    key = await crm_key(api, api.program_id)
    customer_id = await card_holder(api, "CARD-0006", 100)
    assert (await link(api, "CARD-0006", key)).status_code == 200
    await api.accrue(customer_id, 5)
    google.failures = [503, 429]
    retried, patched = updates("retried"), updates("patched")
    assert await relay_and_sync(api) == 1  # tried once: 503; not due again until its backoff
    row = await object_row(api, "CARD-0006")
    assert (row["last_status"], row["last_error"]) == (503, "http_status")
    assert row["synced"] < row["changes"]
    object_name = object_id(issuer, UUID(api.program_id), "CARD-0006")
    for expected_status in (429, 200):
        async with api.runtime.pool.acquire() as connection:  # the backoff has passed
            await connection.execute("update google_wallet_objects set next_attempt_at = now()")
        assert await relay_and_sync(api) == 1
        assert google.calls[-1].status == expected_status
    assert google.objects[object_name]["loyaltyPoints"]["balance"] == {"int": 105}
    assert [call.status for call in google.patches(object_name)] == [503, 429, 200]
    row = await object_row(api, "CARD-0006")
    assert row["synced"] == row["changes"]
    assert row["last_error"] is None
    assert (updates("retried") - retried, updates("patched") - patched) == (2, 1)
    sync = GoogleWalletSync(api.runtime.database, api.runtime.google_wallet_api)
    await sync.observe()
    pending = REGISTRY.get_sample_value("bonus_google_wallet_backlog", {"state": "pending"})
    assert pending == 0


async def test_the_link_answers_502_when_google_fails_and_works_on_a_retry(
    api: Api, google: FakeGoogleWallet
) -> None:
    assert (await put_settings(api, wallet_settings())).status_code == 200
    key = await crm_key(api, api.program_id)
    await card_holder(api, "CARD-0007", 7)
    google.failures = [500]
    failed = await link(api, "CARD-0007", key)
    assert failed.status_code == 502, failed.text
    assert failed.json()["code"] == "partner_unavailable"
    retried = await link(api, "CARD-0007", key)
    assert retried.status_code == 200, retried.text
    assert retried.json()["object_id"] in google.objects


async def test_a_card_of_another_program_is_404_and_no_settings_is_409(
    api: Api, google: FakeGoogleWallet
) -> None:
    assert (await put_settings(api, wallet_settings())).status_code == 200
    await card_holder(api, "CARD-0008", 1)
    other, _, _ = await make_program(api.runtime, "Other program")
    other_key = await crm_key(api, other)
    unconfigured = await link(api, "CARD-0008", other_key)
    assert unconfigured.status_code == 409
    assert unconfigured.json()["code"] == "wallet_not_configured"
    assert (await put_settings(api, wallet_settings(), other)).status_code == 200
    refused = await link(api, "CARD-0008", other_key)
    assert refused.status_code == 404
    assert refused.json()["code"] == "card_not_found"
    assert google.objects == {}
    # An operator key belongs to no program, and a card is found in one.
    assert (await link(api, "CARD-0008", api.admin_key)).status_code == 403


async def test_a_card_number_with_other_characters_gets_an_allowed_id() -> None:
    program = UUID(int=7)
    plain = object_id(issuer, program, "CARD_01-x")
    assert plain == f"{issuer}.{program.hex}-c-CARD_01-x"
    odd = object_id(issuer, program, "карта 01/2")
    assert odd.startswith(f"{issuer}.{program.hex}-h-")
    assert all(character.isalnum() or character in "._-" for character in odd)
    assert odd != object_id(issuer, program, "карта 01/3")


async def test_new_settings_update_the_class_and_a_token_google_dropped_is_renewed(
    api: Api, google: FakeGoogleWallet
) -> None:
    assert (await put_settings(api, wallet_settings())).status_code == 200
    key = await crm_key(api, api.program_id)
    await card_holder(api, "CARD-0009", 1)
    await card_holder(api, "CARD-0010", 2, phone="+79120000002")
    assert (await link(api, "CARD-0009", key)).status_code == 200
    renamed = wallet_settings(program_name="Coffee Club Gold", background_color="#112233")
    assert (await put_settings(api, renamed)).status_code == 200
    google.tokens.clear()  # Google no longer takes the token the server keeps
    response = await link(api, "CARD-0010", key)
    assert response.status_code == 200, response.text
    shown = google.classes[response.json()["class_id"]]
    assert (shown["programName"], shown["hexBackgroundColor"]) == ("Coffee Club Gold", "#112233")
    assert [call.method for call in google.calls if "loyaltyClass" in call.path] == [
        "GET",
        "POST",
        "GET",  # with the dropped token: 401, then again with a new one
        "GET",
        "PUT",
    ]
    assert len(google.assertions) == 2
