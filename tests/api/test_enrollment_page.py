"""The public enrollment page through the app, with SMS sent to a real local gateway that
records them: a person joins with the code they were sent (the welcome bonus, a card the till
identifies, the consents they ticked with the page's wording), a phone already enrolled is taken
to its page and not enrolled twice, bad input and wrong or expired codes are refused in Russian
with nothing written, forms without the visit's CSRF token change nothing, the abuse limits
refuse with 429 and send nothing, and a card link sent by the API opens that card only."""

import io
import json
import re
import zipfile
from collections.abc import AsyncIterator
from typing import Any
from uuid import uuid4

import httpx
import msgspec
import pytest

from api.app import create_app
from processing.core import limits
from processing.core.card_numbers import is_ours
from processing.runtime import Runtime
from processing.service.ports import AbuseWindowsUnavailable
from processing.settings import Settings
from tests.api.test_apple_wallet import set_up as set_up_wallet
from tests.api.test_console import card_page, form_key_for, signed_in
from tests.api.test_loyalty_rules_and_checkout import put_rules
from tests.conftest import Api
from tests.fakes.wallet import Chain, make_chain
from tests.fakes.webhook_receiver import WebhookReceiver, webhook_receiver

slug = "coffee-club"
page_settings = {
    "slug": slug,
    "enabled": True,
    "display_name": "Кофейный клуб",
    "terms": "Баллы начисляются за покупки. Оператор: ООО «Кофе», Москва.",
    "sms_wording": "Согласен получать SMS с предложениями Кофейного клуба",
    "email_wording": "Согласен получать письма с предложениями Кофейного клуба",
}


@pytest.fixture(scope="module")
def chain() -> Chain:
    return make_chain()


@pytest.fixture
async def gateway() -> AsyncIterator[WebhookReceiver]:
    async with webhook_receiver() as receiver:
        yield receiver


def with_sms_gateway(settings: Settings, gateway: WebhookReceiver) -> Settings:
    """The shared test settings with SMS sent to the fake gateway, and the page's address."""
    return msgspec.structs.replace(
        settings, sms_provider="http", sms_url=gateway.url, public_url="https://bonus.example"
    )


@pytest.fixture
def settings(settings: Settings, gateway: WebhookReceiver) -> Settings:
    return with_sms_gateway(settings, gateway)


class Visitor:
    """A browser without a browser: its own client address (the abuse windows in Redis are
    shared by every test), its cookies, and the CSRF token of the last page it read."""

    def __init__(self, settings: Settings, runtime: Runtime) -> None:
        address = f"10.{uuid4().int % 250}.{uuid4().int % 250}.{uuid4().int % 250}"
        transport = httpx.ASGITransport(app=create_app(settings, runtime), client=(address, 40000))
        self.client = httpx.AsyncClient(transport=transport, base_url="http://testserver")
        self.csrf = ""

    def read(self, response: httpx.Response) -> httpx.Response:
        found = re.search(r'name="csrf" value="([^"]+)"', response.text)
        if found:
            self.csrf = found.group(1)
        return response

    async def get(self, path: str) -> httpx.Response:
        return self.read(await self.client.get(path, follow_redirects=True))

    async def post(self, path: str, form: dict[str, str], csrf: bool = True) -> httpx.Response:
        fields = {"csrf": self.csrf, **form} if csrf else form
        return self.read(await self.client.post(path, data=fields, follow_redirects=True))

    async def send_code(self, phone: str, purpose: str = "join") -> httpx.Response:
        if not self.csrf:
            await self.get(f"/join/{slug}")
        return await self.post(f"/join/{slug}/code", {"phone": phone, "purpose": purpose})

    async def confirm(self, code: str, **form: str) -> httpx.Response:
        return await self.post(f"/join/{slug}/confirm", {"code": code, **form})


@pytest.fixture
async def visitor(settings: Settings, runtime: Runtime) -> AsyncIterator[Visitor]:
    opened = Visitor(settings, runtime)
    yield opened
    await opened.client.aclose()


async def open_page(api: Api, **changes: Any) -> Any:
    response = await api.client.put(
        f"/v1/programs/{api.program_id}/enrollment-page",
        json=page_settings | changes,
        headers=api.headers(api.admin_key),
    )
    assert response.status_code == 200, response.text
    return response.json()


def sent_code(gateway: WebhookReceiver, index: int = -1) -> str:
    text = json.loads(gateway.received[index].body)["text"]
    found = re.search(r"\b(\d{6})\b", text)
    assert found, text
    return found.group(1)


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 10**6:06d}"


async def count(api: Api, sql: str, *args: Any) -> int:
    async with api.runtime.pool.acquire() as connection:
        return int(await connection.fetchval(sql, *args))


async def join(visitor: Visitor, gateway: WebhookReceiver, phone: str, **form: str) -> Any:
    sent = await visitor.send_code(phone)
    assert sent.status_code == 200, sent.text
    return await visitor.confirm(sent_code(gateway), **({"name": "Анна"} | form))


def card_number_of(page: httpx.Response) -> str:
    found = re.search(r'data-card-number="([^"]+)"', page.text)
    assert found, page.text
    return found.group(1)


async def test_a_person_joins_with_the_code_gets_the_welcome_bonus_and_a_card_the_till_knows(
    api: Api, visitor: Visitor, gateway: WebhookReceiver
) -> None:
    assert (await put_rules(api, {"bonuses": {"welcome": 200}})).status_code == 200
    await open_page(api)

    opened = await visitor.get(f"/join/{slug}")
    assert opened.status_code == 200
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in opened.text
    assert "bonus_join" in opened.headers["set-cookie"]
    assert "httponly" in opened.headers["set-cookie"].lower()
    assert "samesite=lax" in opened.headers["set-cookie"].lower()
    sent = await visitor.send_code("8 912 700-00-01")
    assert sent.status_code == 200
    assert "Код отправлен на +7912***01" in sent.text
    assert json.loads(gateway.received[-1].body)["to"] == "+79127000001"
    assert "Кофейный клуб" in json.loads(gateway.received[-1].body)["text"]

    card = await visitor.confirm(
        sent_code(gateway), name="Анна", birthday="1990-05-01", consent_sms="1"
    )

    assert card.status_code == 200, card.text
    assert "Добро пожаловать" in card.text
    assert '<dd class="available">200</dd>' in card.text
    assert "<svg" in card.text
    number = card_number_of(card)
    assert is_ours(number)
    identified = await api.post(
        "/pos/v1/identify", {"identifier": {"type": "qr", "value": number}}, idempotency_key=None
    )
    assert identified.status_code == 200, identified.text
    customer = identified.json()["customer_id"]
    assert identified.json()["name"] == "Анна"
    assert identified.json()["balance"]["available"] == 200
    consents = await api.get(f"/v1/customers/{customer}/consents")
    in_force = {item["channel"]: item for item in consents.json()["in_force"]}
    assert set(in_force) == {"sms"}
    assert (in_force["sms"]["granted"], in_force["sms"]["source"]) == (True, "enrollment_page")
    assert in_force["sms"]["wording"] == page_settings["sms_wording"]
    # The code is nowhere but in the SMS: only its HMAC is stored.
    async with api.runtime.pool.acquire() as connection:
        row = await connection.fetchrow("select * from enrollment_codes")
    assert sent_code(gateway).encode() not in bytes(row["code_hmac"])
    assert row["verified_at"] is not None


async def test_a_phone_already_enrolled_is_taken_to_its_page_and_not_enrolled_twice(
    api: Api, visitor: Visitor, gateway: WebhookReceiver
) -> None:
    await open_page(api)
    customer = await api.customer("+79127000002", points=50)

    card = await join(visitor, gateway, "+79127000002", name="Другое имя")

    assert card.status_code == 200, card.text
    assert "Вы уже участник" in card.text
    assert '<dd class="available">50</dd>' in card.text
    assert await count(api, "select count(*) from customers") == 1
    assert await count(api, "select count(*) from customers where name is null") == 1
    assert customer


async def test_signing_in_shows_the_balance_what_expires_and_the_statement(
    api: Api, visitor: Visitor, gateway: WebhookReceiver
) -> None:
    await open_page(api)
    customer = await api.customer("+79127000003")
    await api.accrue(customer, 120, expires_at="2099-01-31T00:00:00Z")
    await api.post(f"/v1/customers/{customer}/cards", {"number": "CARD-77"}, key=api.admin_key)

    asked = await visitor.get(f"/join/{slug}/sign-in")
    assert "Я уже участник" in asked.text
    sent = await visitor.send_code("+79127000003", purpose="sign_in")
    assert 'name="name"' not in sent.text  # signing in asks for the code only
    card = await visitor.confirm(sent_code(gateway))

    assert card.status_code == 200, card.text
    assert '<dd class="available">120</dd>' in card.text
    assert "120 — 31.01.2099" in card.text
    assert "Начисление" in card.text
    assert card_number_of(card) == "CARD-77"
    # Signed out, the page is closed again.
    out = await visitor.post(f"/join/{slug}/sign-out", {})
    assert "Я уже участник" in out.text
    again = await visitor.get(f"/join/{slug}/card")
    assert "Я уже участник" in again.text


async def test_signing_in_with_a_phone_not_enrolled_asks_for_the_details_without_a_new_code(
    api: Api, visitor: Visitor, gateway: WebhookReceiver
) -> None:
    await open_page(api)
    await visitor.send_code("+79127000004", purpose="sign_in")
    asked = await visitor.confirm(sent_code(gateway))
    assert "ещё не участвует" in asked.text
    assert 'name="code"' not in asked.text

    card = await visitor.post(f"/join/{slug}/confirm", {"name": "Борис"})

    assert "Добро пожаловать" in card.text
    assert len(gateway.received) == 1


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"name": ""}, "Укажите имя"),
        ({"birthday": "1990-13-01"}, "Дата рождения указана неверно"),
        ({"birthday": "2999-01-01"}, "Дата рождения указана неверно"),
        ({"consent_email": "1"}, "Укажите e-mail"),
        ({"email": "anna at example"}, "E-mail указан неверно"),
    ],
)
async def test_bad_details_are_refused_before_the_code_is_tried_and_nothing_is_written(
    api: Api, visitor: Visitor, gateway: WebhookReceiver, form: dict[str, str], message: str
) -> None:
    await open_page(api)
    await visitor.send_code("+79127000005")

    refused = await visitor.confirm(sent_code(gateway), **({"name": "Анна"} | form))

    assert refused.status_code == 422
    assert message in refused.text
    assert await count(api, "select count(*) from customers") == 0
    assert await count(api, "select sum(attempts) from enrollment_codes") == 0


async def test_a_bad_phone_is_refused_and_nothing_is_sent(
    api: Api, visitor: Visitor, gateway: WebhookReceiver
) -> None:
    await open_page(api)

    refused = await visitor.send_code("12345")

    assert refused.status_code == 422
    assert "Номер телефона указан неверно" in refused.text
    assert gateway.received == []
    assert await count(api, "select count(*) from enrollment_codes") == 0


async def test_wrong_codes_count_down_and_the_last_spends_the_code(
    api: Api, visitor: Visitor, gateway: WebhookReceiver
) -> None:
    await open_page(api)
    await visitor.send_code("+79127000006")
    code = sent_code(gateway)

    first = await visitor.confirm(wrong(code), name="Анна")
    assert first.status_code == 422
    assert f"Осталось попыток: {limits.enrollment_code_attempts_max - 1}" in first.text
    for _ in range(limits.enrollment_code_attempts_max - 1):
        await visitor.confirm(wrong(code), name="Анна")
    spent = await visitor.confirm(code, name="Анна")

    assert spent.status_code == 422
    assert "попытки исчерпаны" in spent.text
    assert await count(api, "select count(*) from customers") == 0
    assert await count(api, "select attempts from enrollment_codes") == (
        limits.enrollment_code_attempts_max
    )


async def test_an_expired_code_is_refused_and_nothing_is_written(
    api: Api, visitor: Visitor, gateway: WebhookReceiver
) -> None:
    await open_page(api)
    await visitor.send_code("+79127000007")
    async with api.runtime.pool.acquire() as connection:
        await connection.execute(
            "update enrollment_codes set created_at = created_at - interval '1 hour', "
            "expires_at = clock_timestamp() - interval '1 second'"
        )

    refused = await visitor.confirm(sent_code(gateway), name="Анна")

    assert refused.status_code == 422
    assert "Срок действия кода истёк" in refused.text
    assert await count(api, "select count(*) from customers") == 0


async def test_a_form_without_the_visits_csrf_token_or_from_another_site_changes_nothing(
    api: Api, visitor: Visitor, gateway: WebhookReceiver
) -> None:
    await open_page(api)
    await visitor.get(f"/join/{slug}")

    missing = await visitor.post(f"/join/{slug}/code", {"phone": "+79127000008"}, csrf=False)
    forged = await visitor.post(
        f"/join/{slug}/code", {"phone": "+79127000008", "csrf": "forged"}, csrf=False
    )
    elsewhere = await visitor.client.post(
        f"/join/{slug}/code",
        data={"phone": "+79127000008", "csrf": visitor.csrf},
        headers={"Origin": "https://evil.example"},
    )
    stranger = Visitor.__new__(Visitor)  # no visit at all: no cookie
    stranger.client = httpx.AsyncClient(
        transport=visitor.client._transport, base_url="http://testserver"
    )
    cookieless = await stranger.client.post(
        f"/join/{slug}/code", data={"phone": "+79127000008", "csrf": visitor.csrf}
    )

    statuses = [r.status_code for r in (missing, forged, elsewhere, cookieless)]
    assert statuses == [403, 403, 403, 403]
    assert "Форма устарела" in missing.text
    assert gateway.received == []
    assert await count(api, "select count(*) from enrollment_codes") == 0


async def test_codes_to_one_phone_are_limited_per_hour_across_addresses(
    settings: Settings, runtime: Runtime, api: Api, gateway: WebhookReceiver
) -> None:
    await open_page(api)
    bound = limits.enrollment_codes_per_phone_hour_max
    for _ in range(bound):
        each = Visitor(settings, runtime)  # a new address each time: the phone's limit holds
        assert (await each.send_code("+79127000009")).status_code == 200

    refused = await Visitor(settings, runtime).send_code("+79127000009")

    assert refused.status_code == 429
    assert "уже отправлено 3 кода за час" in refused.text
    assert refused.headers["retry-after"] == "3600"
    assert len(gateway.received) == bound
    assert await count(api, "select count(*) from enrollment_codes") == bound


async def test_codes_from_one_address_are_limited_per_minute(
    api: Api, visitor: Visitor, gateway: WebhookReceiver
) -> None:
    await open_page(api)
    bound = limits.enrollment_codes_per_address_minute_max
    for index in range(bound):
        assert (await visitor.send_code(f"+7912710000{index}")).status_code == 200

    refused = await visitor.send_code("+79127100009")

    assert refused.status_code == 429
    assert "Подождите минуту" in refused.text
    assert len(gateway.received) == bound


async def test_form_posts_from_one_address_are_limited_per_minute(
    api: Api, visitor: Visitor, gateway: WebhookReceiver
) -> None:
    await open_page(api)
    await visitor.send_code("+79127000010")
    code = sent_code(gateway)
    answers = [
        (await visitor.confirm(wrong(code), name="")).status_code
        for _ in range(limits.enrollment_posts_per_address_minute_max)
    ]

    # The code's own post was the first of the minute: the bound's last confirm is one over.
    assert answers[:-1] == [422] * (len(answers) - 1)
    assert answers[-1] == 429
    assert await count(api, "select count(*) from customers") == 0


async def test_a_page_not_opened_or_closed_answers_404(api: Api, visitor: Visitor) -> None:
    assert (await visitor.get(f"/join/{slug}")).status_code == 404
    await open_page(api, enabled=False)
    closed = await visitor.get(f"/join/{slug}")
    assert closed.status_code == 404
    assert "Такой страницы нет" in closed.text


async def test_the_pages_load_nothing_from_another_host(
    api: Api, visitor: Visitor, gateway: WebhookReceiver
) -> None:
    await open_page(api)
    pages = [await visitor.get(f"/join/{slug}"), await join(visitor, gateway, "+79127000011")]
    for page in pages:
        sources = re.findall(r'(?:href|src|action)="([^"]+)"', page.text)
        assert sources
        assert all(source.startswith("/") for source in sources), sources
        assert page.headers["content-security-policy"].startswith("default-src 'self'")


async def test_settings_are_read_back_and_a_slug_is_one_programs(api: Api) -> None:
    await open_page(api)
    read = await api.get(f"/v1/programs/{api.program_id}/enrollment-page", key=api.admin_key)
    assert read.status_code == 200
    assert read.json()["slug"] == slug
    other = await api.post("/v1/programs", {"name": "Другая", "currency": "RUB"}, key=api.admin_key)
    assert other.status_code == 201, other.text
    taken = await api.client.put(
        f"/v1/programs/{other.json()['id']}/enrollment-page",
        json=page_settings,
        headers=api.headers(api.admin_key),
    )
    assert taken.status_code == 400
    assert taken.json()["field"] == "slug"
    bad = await api.client.put(
        f"/v1/programs/{api.program_id}/enrollment-page",
        json=page_settings | {"slug": "Bad Slug"},
        headers=api.headers(api.admin_key),
    )
    assert bad.status_code == 400
    assert await count(api, "select count(*) from api_keys where name = 'enrollment page'") == 1


async def test_a_card_link_by_sms_opens_that_card_only_and_a_replay_sends_nothing(
    api: Api, visitor: Visitor, gateway: WebhookReceiver
) -> None:
    await open_page(api)
    customer = await api.customer("+79127000012", points=30)
    await api.post(f"/v1/customers/{customer}/cards", {"number": "CARD-12"}, key=api.admin_key)
    headers = api.headers(api.admin_key, "card-link-1")

    sent = await api.client.post(
        f"/v1/customers/{customer}/card-links", json={"channel": "sms"}, headers=headers
    )
    replayed = await api.client.post(
        f"/v1/customers/{customer}/card-links", json={"channel": "sms"}, headers=headers
    )

    assert sent.status_code == 201, sent.text
    assert sent.json()["recipient"] == "+7912*****12"
    assert replayed.headers.get("idempotent-replayed") == "true"
    assert len(gateway.received) == 1
    message = json.loads(gateway.received[0].body)
    assert message["to"] == "+79127000012"
    link = re.search(r"https://bonus\.example(/join/\S+)", message["text"])
    assert link, message
    card = await visitor.get(link.group(1))
    assert card.status_code == 200
    assert card_number_of(card) == "CARD-12"
    assert 'class="available"' not in card.text  # the balance needs the phone confirmed
    tampered = await visitor.get(link.group(1)[:-2] + "xx")
    assert tampered.status_code == 404
    assert "Ссылка недействительна" in tampered.text


async def test_a_card_link_needs_an_email_to_go_by_email_and_an_open_page(
    api: Api, gateway: WebhookReceiver
) -> None:
    customer = await api.customer("+79127000013")
    no_page = await api.post(
        f"/v1/customers/{customer}/card-links", {"channel": "sms"}, key=api.admin_key
    )
    assert no_page.status_code == 409
    assert no_page.json()["code"] == "enrollment_page_closed"
    await open_page(api)
    no_email = await api.post(
        f"/v1/customers/{customer}/card-links", {"channel": "email"}, key=api.admin_key
    )
    assert no_email.status_code == 409
    assert no_email.json()["code"] == "no_address_on_channel"
    till = await api.post(f"/v1/customers/{customer}/card-links", {"channel": "sms"})
    assert till.status_code == 403  # a till's key may not send links
    assert gateway.received == []


async def test_the_consoles_button_sends_the_card_link_once(
    api: Api, gateway: WebhookReceiver
) -> None:
    await open_page(api)
    customer = await api.customer("+79127000014")
    await signed_in(api)
    page, csrf, _ = await card_page(api, customer)
    action = f"/console/customers/{customer}/card-links"
    assert "Отправить ссылку на карту" in page
    form = {"csrf": csrf, "form_key": form_key_for(page, action), "channel": "sms"}

    assert (await api.client.post(action, data={**form, "csrf": ""})).status_code == 403
    assert gateway.received == []
    for _ in range(2):
        done = await api.client.post(action, data=form)
        assert done.status_code == 303, done.text
        assert done.headers["location"] == f"/console/customers/{customer}?done=card_link_sent"
    assert len(gateway.received) == 1
    assert f"/join/{slug}/card/" in json.loads(gateway.received[0].body)["text"]
    no_email = await api.client.post(
        action, data={**form, "channel": "email", "form_key": form_key_for(page, action) + "x"}
    )
    assert no_email.status_code == 409
    assert "The customer has no e-mail" in no_email.text


async def test_the_card_offers_apple_wallet_once_the_programs_pass_is_set_up(
    api: Api, visitor: Visitor, gateway: WebhookReceiver, chain: Chain
) -> None:
    await open_page(api)
    card = await join(visitor, gateway, "+79127000015")
    assert "Apple Wallet" not in card.text  # no pass set up: no button
    assert "Google Wallet" not in card.text
    await set_up_wallet(api, chain)

    again = await visitor.get(f"/join/{slug}/card")
    assert f'href="/join/{slug}/apple-wallet"' in again.text
    downloaded = await visitor.client.get(f"/join/{slug}/apple-wallet")

    assert downloaded.status_code == 200, downloaded.text
    assert downloaded.headers["content-type"] == "application/vnd.apple.pkpass"
    assert downloaded.content.startswith(b"PK")
    stranger = Visitor.__new__(Visitor)
    stranger.client = httpx.AsyncClient(
        transport=visitor.client._transport, base_url="http://testserver"
    )
    refused = await stranger.client.get(f"/join/{slug}/apple-wallet")
    assert refused.status_code == 303  # no session: to the sign-in, no pass


async def test_a_card_link_opens_that_cards_apple_pass_and_a_tampered_one_nothing(
    api: Api, visitor: Visitor, gateway: WebhookReceiver, chain: Chain
) -> None:
    await open_page(api)
    await set_up_wallet(api, chain)
    customer = await api.customer("+79127000017", points=30)
    await api.post(f"/v1/customers/{customer}/cards", {"number": "CARD-17"}, key=api.admin_key)
    sent = await api.client.post(
        f"/v1/customers/{customer}/card-links",
        json={"channel": "sms"},
        headers=api.headers(api.admin_key, "card-link-17"),
    )
    assert sent.status_code == 201, sent.text
    link = re.search(
        r"https://bonus\.example(/join/\S+)", json.loads(gateway.received[0].body)["text"]
    )
    assert link

    downloaded = await visitor.client.get(f"{link.group(1)}/apple-wallet")
    tampered = await visitor.client.get(f"{link.group(1)[:-2]}xx/apple-wallet")

    assert downloaded.status_code == 200, downloaded.text
    assert downloaded.headers["content-type"] == "application/vnd.apple.pkpass"
    with zipfile.ZipFile(io.BytesIO(downloaded.content)) as package:
        assert json.loads(package.read("pass.json"))["barcodes"][0]["message"] == "CARD-17"
    assert tampered.status_code == 404
    assert "Ссылка недействительна" in tampered.text


async def test_codes_to_one_phone_are_limited_per_day(
    api: Api, visitor: Visitor, gateway: WebhookReceiver
) -> None:
    await open_page(api)
    # Earlier today, by another program's page: the day's count is the phone's, not a page's.
    spent = limits.enrollment_codes_per_phone_day_max
    async with api.runtime.pool.acquire() as connection:
        for hours in range(2, 2 + spent):
            await connection.execute(
                "insert into enrollment_codes (id, program_id, phone, code_hmac, code_key_id,"
                " created_at, expires_at) values ($1, $2, '+79127000016', $3, 'test-1',"
                " clock_timestamp() - make_interval(hours => $4),"
                " clock_timestamp() - make_interval(hours => $4) + interval '10 minutes')",
                uuid4(),
                api.program_id_uuid,
                bytes(32),
                hours,
            )

    refused = await visitor.send_code("+79127000016")

    assert refused.status_code == 429
    assert "6 кодов за сутки" in refused.text
    assert gateway.received == []


async def test_without_redis_to_count_in_the_page_sends_nothing_and_answers_503(
    api: Api, visitor: Visitor, gateway: WebhookReceiver
) -> None:
    await open_page(api)
    await visitor.get(f"/join/{slug}")

    class Unreachable:
        async def count(self, key: str, window_seconds: int) -> int:
            raise AbuseWindowsUnavailable("connection refused")

    api.runtime.enrollments.windows = Unreachable()
    refused = await visitor.send_code("+79127000017")

    assert refused.status_code == 503
    assert gateway.received == []
    assert await count(api, "select count(*) from enrollment_codes") == 0


async def test_a_code_the_gateway_refused_is_abandoned_and_does_not_count(
    api: Api, visitor: Visitor, gateway: WebhookReceiver
) -> None:
    await open_page(api)
    gateway.then = 500

    refused = await visitor.send_code("+79127000018")

    assert refused.status_code == 502
    assert "Не удалось отправить SMS" in refused.text
    assert await count(api, "select count(*) from enrollment_codes where abandoned_at is null") == 0
    gateway.then = 200
    assert (await visitor.send_code("+79127000018")).status_code == 200
