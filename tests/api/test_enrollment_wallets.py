"""The enrollment page's Google Wallet button against a fake Google over real HTTP: hidden until
the program's Google Wallet is set up, then it takes the signed-in customer (or a card link's
holder) to Google's save page with a JWT naming their card's object; without a session, no
link."""

from collections.abc import AsyncIterator

import httpx
import msgspec
import pytest

from processing.settings import Settings
from tests.api import test_enrollment_page as page
from tests.api.test_enrollment_page import Visitor, join, open_page, slug, with_sms_gateway
from tests.api.test_google_wallet import account, put_settings, wallet_settings
from tests.conftest import Api
from tests.fakes.google_wallet import FakeGoogleWallet, new_key
from tests.fakes.webhook_receiver import WebhookReceiver

private_key, public_key = new_key()
# The enrollment page's fixtures: the SMS gateway and a visitor's browser.
gateway, visitor = page.gateway, page.visitor


@pytest.fixture
async def google() -> AsyncIterator[FakeGoogleWallet]:
    fake = await FakeGoogleWallet(accounts={account: public_key}).start()
    try:
        yield fake
    finally:
        await fake.stop()


@pytest.fixture
def settings(settings: Settings, gateway: WebhookReceiver, google: FakeGoogleWallet) -> Settings:
    return msgspec.structs.replace(
        with_sms_gateway(settings, gateway),
        google_wallet_api_url=google.api_url,
        google_wallet_token_url=google.token_url,
    )


async def test_the_card_offers_google_wallet_once_it_is_set_up(
    api: Api, visitor: Visitor, gateway: WebhookReceiver, google: FakeGoogleWallet
) -> None:
    await open_page(api)
    card = await join(visitor, gateway, "+79127000019")
    assert "Google Wallet" not in card.text
    response = await put_settings(api, wallet_settings(private_key=private_key))
    assert response.status_code == 200, response.text

    again = await visitor.get(f"/join/{slug}/card")
    assert f'href="/join/{slug}/google-wallet"' in again.text
    saved = await visitor.client.get(f"/join/{slug}/google-wallet")

    assert saved.status_code == 303, saved.text
    assert saved.headers["location"].startswith("https://pay.google.com/gp/v/save/")
    stranger = httpx.AsyncClient(transport=visitor.client._transport, base_url="http://testserver")
    refused = await stranger.get(f"/join/{slug}/google-wallet")
    assert refused.status_code == 303
    assert refused.headers["location"] == f"/join/{slug}/sign-in"
