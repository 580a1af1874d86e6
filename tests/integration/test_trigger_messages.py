"""Trigger messages end to end: an accrual through the API becomes, through the outbox, the
message relay and real providers (an aiosmtpd server that requires STARTTLS and a login, an
HTTP SMS gateway that records what it is asked to send), exactly one Russian e-mail and one SMS
for a customer who consented; no consent, quiet hours and the daily cap are honoured; a
duplicate event makes no second message even with two relays at once; a provider's refusals are
retried and then fail with the reason; the unsubscribe link withdraws e-mail consent; and each
channel's template is the one in the customer's locale, else the Russian one."""

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import msgspec
import pytest
from structlog.testing import capture_logs

from processing.runtime import Runtime
from processing.service.messaging.outgoing import MessagePolicy, MessageRelay
from processing.settings import Settings
from tests.api.test_bonuses import born_days_from_today
from tests.api.test_loyalty_rules_and_checkout import put_rules
from tests.api.test_tiers import now_rules, set_tier
from tests.conftest import Api, secrets_keys
from tests.fakes import smtp
from tests.fakes.smtp import SmtpServer, smtp_server
from tests.fakes.webhook_receiver import WebhookReceiver, webhook_receiver

fast = MessagePolicy(
    max_attempts=3,
    backoff_base_seconds=0.05,
    backoff_cap_seconds=0.2,
    lease_seconds=5.0,
    timeout_seconds=4.0,
)
accrued_templates = [
    {
        "channel": "email",
        "subject": "{{ name }}, вам начислено {{ points }} баллов",
        "body": "Здравствуйте, {{ name }}! На ваш счёт начислено {{ points }} баллов. "
        "Баланс: {{ balance }}.",
    },
    {"channel": "sms", "body": "+{{ points }} баллов. Баланс {{ balance }}. {{ program }}"},
]


@pytest.fixture
async def gateway() -> AsyncIterator[WebhookReceiver]:
    async with webhook_receiver() as receiver:
        yield receiver


@pytest.fixture
def mail(tmp_path: Path) -> Iterator[SmtpServer]:
    with smtp_server(tmp_path) as server:
        yield server


@pytest.fixture
def settings(
    database_url: str, redis_server: str, gateway: WebhookReceiver, mail: SmtpServer
) -> Settings:
    return Settings(
        database_url=database_url,
        redis_url=redis_server,
        expiry_worker=False,
        db_pool_min=1,
        db_pool_max=10,
        sms_provider="http",
        sms_url=gateway.url,
        email_provider="smtp",
        smtp_host=mail.host,
        smtp_port=mail.port,
        smtp_username=smtp.username,
        smtp_password=smtp.password,
        smtp_from="bonus@shop.example",
        smtp_ca_file=mail.ca_file,
        public_url="https://bonus.example",
        secrets_keys=secrets_keys,
    )


def relay_of(runtime: Runtime) -> MessageRelay:
    return MessageRelay(runtime.database, runtime.message_channels, runtime.triggers, fast)


async def fan_out(runtime: Runtime) -> None:
    """The outbox fan-out the webhook relay runs: it hands trigger events to the message step."""
    async with runtime.database.transaction() as store:
        await store.fan_out(100)


async def drain(runtime: Runtime, relays: int = 1, settle_seconds: float = 0.0) -> None:
    """Fans the outbox out, then runs the message relays (``relays`` at once) until none has
    anything left to do now, then for ``settle_seconds`` more (backoff)."""
    await fan_out(runtime)
    deadline = time.monotonic() + settle_seconds
    while True:
        done = await asyncio.gather(*(relay_of(runtime).run_once() for _ in range(relays)))
        if not any(done) and time.monotonic() >= deadline:
            return
        if not any(done):
            await asyncio.sleep(0.05)


async def configure(
    api: Api, quiet: tuple[int, int] = (0, 0), cap: int = 3, **trigger: Any
) -> None:
    program = api.program_id
    settings = await api.put_json(
        f"/v1/programs/{program}/message-settings",
        {"time_zone": "UTC", "quiet_start_minute": quiet[0], "quiet_end_minute": quiet[1],
         "daily_cap": cap},
    )  # fmt: skip
    assert settings.status_code == 200, settings.text
    body = {"enabled": True, "templates": accrued_templates} | trigger
    put = await api.put_json(f"/v1/programs/{program}/triggers/points_accrued", body)
    assert put.status_code == 200, put.text


async def enrolled(api: Api, consent: bool, phone: str = "+79161234567", **fields: Any) -> str:
    created = await api.post(
        "/v1/customers", {"phone": phone, "name": "Мария", "email": "maria@example.ru"} | fields
    )
    assert created.status_code == 201, created.text
    customer: str = created.json()["id"]
    if consent:
        for channel in ("sms", "email"):
            given = await api.post(
                f"/v1/customers/{customer}/consents",
                {"channel": channel, "granted": True, "source": "web"},
            )
            assert given.status_code == 201, given.text
    return customer


async def messages(api: Api, customer: str) -> list[dict[str, Any]]:
    page = await api.get(f"/v1/customers/{customer}/messages", key=api.admin_key)
    assert page.status_code == 200, page.text
    items: list[dict[str, Any]] = page.json()["items"]
    return items


def by_channel(items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {item["channel"]: item for item in items}


@pytest.fixture
def put_json(api: Api) -> Api:
    async def put(path: str, body: Any) -> Any:
        return await api.client.put(path, json=body, headers=api.headers(api.admin_key))

    api.put_json = put  # type: ignore[attr-defined]
    return api


pytestmark = pytest.mark.usefixtures("put_json")


async def test_a_consenting_customer_gets_one_russian_email_and_one_sms_on_accrual(
    api: Api, runtime: Runtime, mail: SmtpServer, gateway: WebhookReceiver
) -> None:
    await configure(api)
    customer = await enrolled(api, consent=True)

    with capture_logs() as logs:
        await api.accrue(customer, 600)
        await drain(runtime)
        await drain(runtime)  # a second pass finds nothing more to send

    assert len(mail.received) == 1
    assert len(gateway.received) == 1
    email = mail.received[0]
    assert email["Subject"] == "Мария, вам начислено 600 баллов"
    assert "Здравствуйте, Мария! На ваш счёт начислено 600 баллов. Баланс: 600." in (
        email.get_content()
    )
    assert mail.recipients == ["maria@example.ru"]
    assert mail.logins == 1
    unsubscribe = email["List-Unsubscribe"]
    assert unsubscribe.startswith("<https://bonus.example/v1/unsubscribe/")
    assert email["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    # The text links the page that asks first (mail scanners open links); the header, for mail
    # clients, the one-click address.
    page = unsubscribe.strip("<>").replace("/v1/unsubscribe/", "/unsubscribe/")
    assert f"Отписаться от рассылки: {page}" in email.get_content()
    sms = json.loads(gateway.received[0].body)
    assert sms == {"to": "+79161234567", "text": "+600 баллов. Баланс 600. Test program"}
    sent = by_channel(await messages(api, customer))
    assert {channel: item["state"] for channel, item in sent.items()} == {
        "email": "sent",
        "sms": "sent",
    }
    assert sent["email"]["kind"] == "marketing"
    assert sent["email"]["template_version"] == 1
    assert sent["email"]["provider_id"]
    assert smtp.password not in repr(logs)


async def test_without_consent_the_message_is_suppressed_and_nothing_is_sent(
    api: Api, runtime: Runtime, mail: SmtpServer, gateway: WebhookReceiver
) -> None:
    await configure(api)
    customer = await enrolled(api, consent=False)

    await api.accrue(customer, 600)
    await drain(runtime)

    assert mail.received == []
    assert gateway.received == []
    items = by_channel(await messages(api, customer))
    assert {channel: (item["state"], item["reason"]) for channel, item in items.items()} == {
        "email": ("suppressed", "no_consent"),
        "sms": ("suppressed", "no_consent"),
    }


async def test_a_transactional_trigger_needs_no_consent(
    api: Api, runtime: Runtime, mail: SmtpServer, gateway: WebhookReceiver
) -> None:
    await configure(api, kind="transactional")
    customer = await enrolled(api, consent=False)

    await api.accrue(customer, 100)
    await drain(runtime)

    assert len(mail.received) == 1
    assert len(gateway.received) == 1
    assert mail.received[0]["List-Unsubscribe"] is None


async def test_a_message_due_in_quiet_hours_waits_until_they_end(
    api: Api, runtime: Runtime, mail: SmtpServer, gateway: WebhookReceiver
) -> None:
    now = datetime.now(UTC)
    minute = now.hour * 60 + now.minute
    start, end = (minute - 60) % 1440, (minute + 60) % 1440
    await configure(api, quiet=(start, end))
    customer = await enrolled(api, consent=True)

    await api.accrue(customer, 600)
    await drain(runtime)

    assert mail.received == []
    assert gateway.received == []
    items = await messages(api, customer)
    assert [item["state"] for item in items] == ["queued", "queued"]
    due = datetime.fromisoformat(items[0]["next_attempt_at"])
    ends = now.replace(second=0, microsecond=0) + timedelta(minutes=60)
    assert ends - timedelta(minutes=1) <= due <= ends + timedelta(minutes=1)


async def test_the_daily_cap_suppresses_what_is_beyond_it(
    api: Api, runtime: Runtime, mail: SmtpServer, gateway: WebhookReceiver
) -> None:
    await configure(api, cap=1)
    customer = await enrolled(api, consent=True)

    await api.accrue(customer, 100)
    await api.accrue(customer, 200)
    await drain(runtime)

    assert len(mail.received) == 1
    assert len(gateway.received) == 1
    items = await messages(api, customer)
    states = sorted((item["channel"], item["state"], item["reason"]) for item in items)
    assert states == [
        ("email", "sent", None),
        ("email", "suppressed", "frequency_cap"),
        ("sms", "sent", None),
        ("sms", "suppressed", "frequency_cap"),
    ]


async def test_a_duplicate_event_makes_no_second_message_even_with_two_relays_at_once(
    api: Api, runtime: Runtime, mail: SmtpServer, gateway: WebhookReceiver
) -> None:
    await configure(api)
    customers = [await enrolled(api, True, phone=f"+7916123450{n}") for n in range(5)]
    for customer in customers:
        await api.accrue(customer, 600)

    await drain(runtime, relays=2)
    async with runtime.pool.acquire() as connection:  # the same events delivered once more
        await connection.execute("update message_events set processed_at = null")
    await drain(runtime, relays=2)

    assert len(mail.received) == 5
    assert len(gateway.received) == 5
    assert sorted(mail.recipients) == ["maria@example.ru"] * 5
    for customer in customers:
        assert sorted(item["state"] for item in await messages(api, customer)) == ["sent"] * 2


async def test_a_provider_failure_is_retried_then_fails_with_the_reason(
    api: Api, runtime: Runtime, mail: SmtpServer, gateway: WebhookReceiver
) -> None:
    await configure(api)
    customer = await enrolled(api, consent=True)
    mail.refusals = 10
    gateway.then = 503

    await api.accrue(customer, 600)
    await drain(runtime, settle_seconds=1.5)

    items = by_channel(await messages(api, customer))
    assert (items["email"]["state"], items["email"]["reason"]) == ("failed", "smtp_451")
    assert (items["sms"]["state"], items["sms"]["reason"]) == ("failed", "sms_gateway_refused")
    assert items["email"]["attempts"] == items["sms"]["attempts"] == fast.max_attempts
    assert mail.received == []
    assert len(gateway.received) == fast.max_attempts


async def test_a_refusal_then_success_sends_once(
    api: Api, runtime: Runtime, mail: SmtpServer
) -> None:
    await configure(api)
    customer = await enrolled(api, consent=True)
    mail.refusals = 1

    await api.accrue(customer, 600)
    await drain(runtime, settle_seconds=0.5)

    email = by_channel(await messages(api, customer))["email"]
    assert (email["state"], email["attempts"], len(mail.received)) == ("sent", 2, 1)


async def test_the_unsubscribe_link_withdraws_email_consent(
    api: Api, runtime: Runtime, mail: SmtpServer, gateway: WebhookReceiver
) -> None:
    await configure(api)
    customer = await enrolled(api, consent=True)
    await api.accrue(customer, 600)
    await drain(runtime)
    link = mail.received[0]["List-Unsubscribe"].strip("<>")
    path = link.removeprefix("https://bonus.example")

    clicked = await api.client.post(path, content=b"List-Unsubscribe=One-Click")
    again = await api.client.post(path, content=b"List-Unsubscribe=One-Click")
    forged = await api.client.post(path[:-3] + "AAA")

    assert (clicked.status_code, clicked.json()) == (200, {"channel": "email", "granted": False})
    assert again.status_code == 200
    assert forged.status_code == 404
    page = (await api.get(f"/v1/customers/{customer}/consents")).json()
    in_force = {entry["channel"]: (entry["granted"], entry["source"]) for entry in page["in_force"]}
    assert in_force == {"email": (False, "unsubscribe"), "sms": (True, "web")}
    assert [entry["source"] for entry in page["items"]].count("unsubscribe") == 1

    await api.accrue(customer, 100)
    await drain(runtime)
    assert len(mail.received) == 1
    assert len(gateway.received) == 2
    newest = by_channel((await messages(api, customer))[:2])
    assert (newest["email"]["state"], newest["email"]["reason"]) == ("suppressed", "no_consent")


async def test_points_expiring_within_the_threshold_are_told_once_per_lot(
    api: Api, runtime: Runtime, mail: SmtpServer, gateway: WebhookReceiver
) -> None:
    program = api.program_id
    await api.put_json(f"/v1/programs/{program}/message-settings", {"time_zone": "UTC",
        "quiet_start_minute": 0, "quiet_end_minute": 0})  # fmt: skip
    templates = [
        {"channel": "email", "subject": "Баллы сгорают",
         "body": "{{ name }}, {{ points }} баллов сгорят {{ expiry_date }}."},
        {"channel": "sms", "body": "{{ points }} баллов сгорят {{ expiry_date }}"},
    ]  # fmt: skip
    put = await api.put_json(
        f"/v1/programs/{program}/triggers/points_expiring",
        {"enabled": True, "days_before": 7, "templates": templates},
    )
    assert put.status_code == 200, put.text
    assert put.json()["days_before"] == 7
    customer = await enrolled(api, consent=True)
    soon = datetime.now(UTC) + timedelta(days=7) - timedelta(hours=1)
    later = datetime.now(UTC) + timedelta(days=30)
    await api.accrue(customer, 600, expires_at=soon.isoformat())
    await api.accrue(customer, 900, expires_at=later.isoformat())

    relay = relay_of(runtime)
    assert await relay.scan() == 1
    assert await relay.scan() == 0  # the next day's scan finds the same lot told already
    await drain(runtime)

    told = f"600 баллов сгорят {soon.strftime('%d.%m.%Y')}"
    assert len(mail.received) == 1
    assert mail.received[0].get_content().startswith(f"Мария, {told}.")
    assert [json.loads(item.body)["text"] for item in gateway.received] == [told]
    items = [item for item in await messages(api, customer) if item["trigger"] == "points_expiring"]
    assert sorted(item["state"] for item in items) == ["sent", "sent"]
    assert items[0]["event_key"].endswith(":7d")


async def test_a_birthday_is_announced_once_with_the_bonus_granted_without_an_outside_call(
    api: Api, runtime: Runtime, mail: SmtpServer, gateway: WebhookReceiver
) -> None:
    program = api.program_id
    assert (await put_rules(api, {"bonuses": {"birthday": 500}})).status_code == 200
    await api.put_json(f"/v1/programs/{program}/message-settings", {"time_zone": "UTC",
        "quiet_start_minute": 0, "quiet_end_minute": 0})  # fmt: skip
    templates = [{"channel": "sms", "body": "С днём рождения, {{ name }}! +{{ points }} баллов"}]
    too_far = await api.put_json(f"/v1/programs/{program}/triggers/birthday",
        {"enabled": True, "days_before": 5, "templates": templates})  # fmt: skip
    put = await api.put_json(f"/v1/programs/{program}/triggers/birthday",
        {"enabled": True, "days_before": 2, "templates": templates})  # fmt: skip
    assert (too_far.status_code, too_far.json()["field"]) == (400, "days_before")
    assert put.status_code == 200, put.text
    customer = await enrolled(api, consent=True)
    born = await born_days_from_today(api, 2)
    edited = await api.client.patch(
        f"/v1/customers/{customer}", json={"birthday": born.isoformat()},
        headers=api.headers(api.admin_key),
    )  # fmt: skip
    assert edited.status_code == 200, edited.text
    later = await enrolled(api, consent=True, phone="+79161230000")  # born in three days: not yet
    await api.client.patch(
        f"/v1/customers/{later}", json={"birthday": (born + timedelta(days=1)).isoformat()},
        headers=api.headers(api.admin_key),
    )  # fmt: skip

    relay = relay_of(runtime)
    assert await relay.scan() == 1
    assert await relay.scan() == 0
    await drain(runtime)

    assert [json.loads(item.body)["text"] for item in gateway.received] == [
        "С днём рождения, Мария! +500 баллов"
    ]
    assert (await api.balance(customer))["available"] == 500
    again = await api.post(
        f"/v1/customers/{customer}/events", {"type": "birthday", "document": {"id": "bday"}}
    )
    assert (again.status_code, again.json()["code"]) == (409, "bonus_already_granted")


async def test_welcome_greets_customers_enrolled_since_the_trigger_once(
    api: Api, runtime: Runtime, mail: SmtpServer, gateway: WebhookReceiver
) -> None:
    program = api.program_id
    before = await enrolled(api, consent=True, phone="+79161230001")
    async with runtime.pool.acquire() as connection:  # enrolled an hour before the trigger
        await connection.execute(
            "update customers set created_at = created_at - interval '1 hour' where id = $1",
            UUID(before),
        )
    await api.put_json(f"/v1/programs/{program}/message-settings", {"time_zone": "UTC",
        "quiet_start_minute": 0, "quiet_end_minute": 0})  # fmt: skip
    put = await api.put_json(f"/v1/programs/{program}/triggers/welcome", {"enabled": True,
        "templates": [{"channel": "sms", "body": "Добро пожаловать, {{ name }}!"}]})  # fmt: skip
    assert put.status_code == 200, put.text
    customer = await enrolled(api, consent=True)

    relay = MessageRelay(
        runtime.database,
        runtime.message_channels,
        runtime.triggers,
        msgspec.structs.replace(fast, welcome_delay_seconds=0.0),
    )
    assert await relay.welcome() == 1
    assert await relay.welcome() == 0
    await drain(runtime)

    assert [json.loads(item.body) for item in gateway.received] == [
        {"to": "+79161234567", "text": "Добро пожаловать, Мария!"}
    ]
    assert await messages(api, before) == []
    assert [item["trigger"] for item in await messages(api, customer)] == ["welcome"]


async def test_a_tier_change_is_told_once(
    api: Api, runtime: Runtime, mail: SmtpServer, gateway: WebhookReceiver
) -> None:
    program = api.program_id
    assert (await put_rules(api, now_rules)).status_code == 200
    await api.put_json(f"/v1/programs/{program}/message-settings", {"time_zone": "UTC",
        "quiet_start_minute": 0, "quiet_end_minute": 0})  # fmt: skip
    put = await api.put_json(f"/v1/programs/{program}/triggers/tier_changed", {"enabled": True,
        "templates": [{"channel": "sms", "body": "Ваш уровень: {{ tier }}"}]})  # fmt: skip
    assert put.status_code == 200, put.text
    customer = await enrolled(api, consent=True)

    assert (await set_tier(api, customer, "gold")).status_code == 200
    await drain(runtime, relays=2)
    async with runtime.pool.acquire() as connection:  # delivered once more
        await connection.execute("update message_events set processed_at = null")
    await drain(runtime, relays=2)

    assert [json.loads(item.body)["text"] for item in gateway.received] == ["Ваш уровень: gold"]
    assert mail.received == []


async def test_any_outbox_event_is_a_trigger_a_refund_told_without_consent(
    api: Api, runtime: Runtime, gateway: WebhookReceiver, mail: SmtpServer
) -> None:
    """Every outbox event has its trigger (decision 0023): a refund, the customer's own account
    moving, is transactional unless the program says otherwise, so it is told without consent;
    the events no trigger is on for make nothing."""
    await configure(api)  # points_accrued on, marketing: the customer has not consented
    body = {"enabled": True, "templates": [{"channel": "sms", "body": "Списано {{ points }} б."}]}
    put = await api.put_json(f"/v1/programs/{api.program_id}/triggers/points_refunded", body)  # type: ignore[attr-defined]
    assert put.status_code == 200, put.text
    assert put.json()["kind"] == "transactional"
    customer = await enrolled(api, consent=False)
    accrual = await api.accrue(customer, 300)
    refund = await api.post(
        f"/v1/operations/{accrual['id']}/refunds", {"points": 120, "document": {"id": "r-1"}}
    )
    assert refund.status_code == 201, refund.text

    await drain(runtime)

    assert [json.loads(sms.body)["text"] for sms in gateway.received] == ["Списано 120 б."]
    assert not mail.received
    told = {
        (item["trigger"], item["channel"]): item["state"] for item in await messages(api, customer)
    }
    assert told == {
        ("points_refunded", "sms"): "sent",
        ("points_accrued", "sms"): "suppressed",
        ("points_accrued", "email"): "suppressed",
    }
    listed = await api.get(f"/v1/programs/{api.program_id}/triggers", key=api.admin_key)
    assert {item["trigger"] for item in listed.json()} >= {"points_refunded", "hold_expired"}


async def test_each_customer_gets_the_template_in_their_locale_else_the_russian_one(
    api: Api, runtime: Runtime, mail: SmtpServer, gateway: WebhookReceiver
) -> None:
    sms_en = {
        "channel": "sms",
        "locale": "en",
        "body": "+{{ points }} points. Balance {{ balance }}.",
    }
    await configure(api, kind="transactional", templates=[*accrued_templates, sms_en])
    english = await enrolled(api, consent=False, phone="+79161230001", locale="en")
    russian = await enrolled(api, consent=False, phone="+79161230002")

    await api.accrue(english, 600)
    await api.accrue(russian, 500)
    await drain(runtime)

    texts = {(sms := json.loads(item.body))["to"]: sms["text"] for item in gateway.received}
    assert texts == {
        "+79161230001": "+600 points. Balance 600.",
        "+79161230002": "+500 баллов. Баланс 500. Test program",
    }
    # No English e-mail: the English customer's is the Russian one, as the row records.
    assert sorted(email["Subject"] for email in mail.received) == [
        "Мария, вам начислено 500 баллов",
        "Мария, вам начислено 600 баллов",
    ]
    locales = {
        (customer, item["channel"]): item["locale"]
        for customer in (english, russian)
        for item in await messages(api, customer)
    }
    assert locales == {
        (english, "sms"): "en",
        (english, "email"): "ru",
        (russian, "sms"): "ru",
        (russian, "email"): "ru",
    }

    changed = await api.client.patch(
        f"/v1/customers/{russian}",
        json={"locale": "en"},
        headers=api.headers(api.admin_key, "auto"),
    )
    assert changed.status_code == 200, changed.text
    await api.accrue(russian, 100)
    await drain(runtime)

    assert json.loads(gateway.received[-1].body) == {
        "to": "+79161230002",
        "text": "+100 points. Balance 600.",
    }
