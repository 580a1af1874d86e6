"""Pass updates pushed through APNs (decision 0029): a balance change through the API reaches a
local HTTP/2 APNs once (its JWT verified with the key's public half, its topic the pass type),
from the wallet worker after the outbox relay's fan-out, never from the request; nothing is
pushed when no pass changed; a failed push is retried and pushes once; a token APNs calls gone
drops the registration; the JWT is reused; a token signed with another key is refused."""

from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import msgspec
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from processing.adapters.apns import ApnsClient
from processing.runtime import apns_client
from processing.service.ports import PushResult
from processing.service.wallet.pushes import WalletPushes
from processing.settings import Settings
from tests.api.test_passkit_web_service import Device, holding_a_pass, push_token
from tests.conftest import Api
from tests.fakes.apns import FakeApns, tls_files
from tests.fakes.wallet import Chain, make_chain, pass_type, team

key_id = "KEY1234567"


@pytest.fixture(scope="module")
def chain() -> Chain:
    return make_chain()


@pytest.fixture(scope="module")
def apns_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def key_file(folder: Path, key: ec.EllipticCurvePrivateKey) -> Path:
    path = folder / "AuthKey.p8"
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return path


@pytest.fixture
async def fake_apns(
    tmp_path: Path, apns_key: ec.EllipticCurvePrivateKey
) -> AsyncIterator[FakeApns]:
    fake = FakeApns(public_key=apns_key.public_key(), key_id=key_id, team_id=team, topic=pass_type)
    await fake.start(*tls_files(tmp_path))
    try:
        yield fake
    finally:
        await fake.stop()


@pytest.fixture
def settings(
    settings: Settings, fake_apns: FakeApns, tmp_path: Path, apns_key: ec.EllipticCurvePrivateKey
) -> Settings:
    return msgspec.structs.replace(
        settings,
        wallet_worker=False,
        apns_url=fake_apns.url,
        apns_key_id=key_id,
        apns_team_id=team,
        apns_key_file=str(key_file(tmp_path, apns_key)),
        apns_ca_file=str(tmp_path / "apns-cert.pem"),
    )


@pytest.fixture
async def pushes(api: Api) -> AsyncIterator[WalletPushes]:
    client = apns_client(api.runtime.settings)
    assert client is not None
    try:
        yield WalletPushes(api.runtime.apple_wallet, client)
    finally:
        await client.close()


async def relay(api: Api) -> None:
    """The outbox relay's fan-out, as the worker runs it."""
    async with api.runtime.database.transaction() as store:
        await store.fan_out(500)


async def registered(api: Api, chain: Chain) -> tuple[Device, str]:
    phone, customer = await holding_a_pass(api, chain)
    assert (await phone.register()).status_code == 201
    return phone, customer


async def test_a_balance_change_reaches_apns_once(
    api: Api, chain: Chain, fake_apns: FakeApns, pushes: WalletPushes
) -> None:
    phone, customer = await registered(api, chain)
    # The accrual before the pass was fetched is relayed now: the pass shows it already and
    # the device registered after, so nothing is pushed.
    await relay(api)
    await pushes.run_once()
    assert fake_apns.pushes == []
    tag = (await phone.updated_since(None)).json()["lastUpdated"]

    await api.accrue(customer, 300)
    assert fake_apns.pushes == []  # the request path pushes nothing
    await relay(api)
    await pushes.run_once()
    assert [(push.token, push.topic, push.payload) for push in fake_apns.pushes] == [
        (push_token, pass_type, {})
    ]
    assert fake_apns.refusals == []

    # Nothing more for the same change, nor for another customer's.
    other = await api.customer(phone="+79160000002")
    await api.accrue(other, 5)
    await relay(api)
    await pushes.run_once()
    assert len(fake_apns.pushes) == 1
    changed = await phone.updated_since(tag)
    assert changed.json()["serialNumbers"] == [phone.serial]


async def test_a_failed_push_is_retried_and_pushes_once(
    api: Api, chain: Chain, fake_apns: FakeApns, pushes: WalletPushes
) -> None:
    _, customer = await registered(api, chain)
    await relay(api)
    await pushes.run_once()  # the accrual before the pass: nothing to push
    fake_apns.fail_next = 1
    await api.accrue(customer, 300)
    await relay(api)
    await pushes.run_once()
    assert fake_apns.pushes == []
    assert fake_apns.refusals == ["ServiceUnavailable"]
    assert await pushes.run_once() == 0  # not due yet: backing off
    connection = await asyncpg.connect(api.runtime.settings.database_url)
    try:  # the backoff, passed
        await connection.execute("update wallet_changes set next_attempt_at = clock_timestamp()")
    finally:
        await connection.close()
    await pushes.run_once()
    assert len(fake_apns.pushes) == 1
    await pushes.run_once()
    assert len(fake_apns.pushes) == 1


async def test_a_token_apns_calls_gone_is_unregistered(
    api: Api, chain: Chain, fake_apns: FakeApns, pushes: WalletPushes
) -> None:
    phone, customer = await registered(api, chain)
    fake_apns.gone.add(push_token)
    await api.accrue(customer, 300)
    await relay(api)
    await pushes.run_once()
    assert fake_apns.refusals == ["Unregistered"]
    assert (await phone.updated_since(None)).status_code == 204
    assert await pushes.run_once() == 0  # the change is done


async def test_the_provider_token_is_reused_and_checked(
    fake_apns: FakeApns, apns_key: ec.EllipticCurvePrivateKey, tmp_path: Path
) -> None:
    pem = key_file(tmp_path, apns_key).read_bytes()
    now = [1_000_000.0]
    client = ApnsClient(
        fake_apns.url, key_id, team, pem, 5.0, str(tmp_path / "apns-cert.pem"), lambda: now[0]
    )
    first = client.token()
    now[0] += 29 * 60
    assert client.token() == first  # reused inside 30 minutes
    now[0] += 2 * 60
    assert client.token() != first  # renewed after
    await client.close()

    other = ec.generate_private_key(ec.SECP256R1())
    forged = ApnsClient(
        fake_apns.url,
        key_id,
        team,
        key_file(tmp_path, other).read_bytes(),
        5.0,
        str(tmp_path / "apns-cert.pem"),
    )
    try:
        assert await forged.push(push_token, pass_type) is PushResult.failed
        assert fake_apns.refusals == ["InvalidProviderToken"]
    finally:
        await forged.close()
    right = ApnsClient(fake_apns.url, key_id, team, pem, 5.0, str(tmp_path / "apns-cert.pem"))
    try:
        assert await right.push(push_token, "pass.com.other.card") is PushResult.failed
        assert fake_apns.refusals[-1] == "BadTopic"
        assert await right.push(push_token, pass_type) is PushResult.sent
        assert await right.push(push_token, pass_type) is PushResult.sent
        assert len({push.jwt for push in fake_apns.pushes}) == 1
    finally:
        await right.close()


def test_a_key_that_is_not_p256_is_refused(tmp_path: Path) -> None:
    wrong = ec.generate_private_key(ec.SECP384R1())
    with pytest.raises(ValueError, match="P-256"):
        ApnsClient("https://x", key_id, team, key_file(tmp_path, wrong).read_bytes(), 1.0)


async def test_a_card_blocked_reaches_apns_once(
    api: Api, chain: Chain, fake_apns: FakeApns, pushes: WalletPushes
) -> None:
    _, _ = await registered(api, chain)
    await relay(api)
    await pushes.run_once()
    blocked = await api.post("/v1/cards/2000-0001/block", {"reason": "lost"})
    assert blocked.status_code == 200, blocked.text
    await pushes.run_once()
    assert [push.token for push in fake_apns.pushes] == [push_token]
    await pushes.run_once()
    assert len(fake_apns.pushes) == 1
