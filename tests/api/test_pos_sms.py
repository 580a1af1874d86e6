"""SMS confirmation codes at the till, sent through the HTTP provider to a real gateway (a local
HTTP server that records what it is asked to send): the code reaches the customer's phone and
nowhere else (not the answer, the database, or the logs), a replay sends nothing, sends are
rate-limited per customer even when they race, wrong tries spend a check, a code expires, and
a gateway that refuses the message leaves a check no one can confirm."""

import asyncio
import json
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from structlog.testing import capture_logs

from processing.adapters.sms import ConsoleSms, HttpSms
from processing.core import limits
from processing.service.ports import SmsNotSent
from processing.settings import Settings
from tests.conftest import Api, make_program, secrets_keys
from tests.fakes.webhook_receiver import WebhookReceiver, webhook_receiver
from tests.servers import free_port

phone = "+79161234567"


@pytest.fixture
async def gateway() -> AsyncIterator[WebhookReceiver]:
    async with webhook_receiver() as receiver:
        yield receiver


@pytest.fixture
def settings(database_url: str, redis_server: str, gateway: WebhookReceiver) -> Settings:
    return Settings(
        database_url=database_url,
        redis_url=redis_server,
        expiry_worker=False,
        db_pool_min=1,
        db_pool_max=10,
        sms_provider="http",
        sms_url=gateway.url,
        sms_token="gateway-token",
        secrets_keys=secrets_keys,
    )


async def send(api: Api, customer: str, **kw: Any) -> Any:
    return await api.post("/pos/v1/sms-codes", {"customer_id": customer}, **kw)


async def confirm(api: Api, check_id: str, code: str, **kw: Any) -> Any:
    return await api.post(f"/pos/v1/sms-codes/{check_id}/confirm", {"code": code}, **kw)


def sent_code(gateway: WebhookReceiver, index: int = -1) -> str:
    message = json.loads(gateway.received[index].body)
    found = re.search(r"\b(\d{6})\b", message["text"])
    assert found, message
    return found.group(1)


def wrong(code: str) -> str:
    return f"{(int(code) + 1) % 10**6:06d}"


async def test_a_code_reaches_the_phone_and_confirms_once(
    api: Api, gateway: WebhookReceiver
) -> None:
    customer = await api.customer(phone=phone)

    sent = await send(api, customer)

    assert sent.status_code == 201, sent.text
    check = sent.json()
    assert (check["customer_id"], check["phone"]) == (customer, "+7916*****67")
    assert set(check) == {"check_id", "customer_id", "phone", "expires_at"}
    assert len(gateway.received) == 1
    delivered = gateway.received[0]
    assert delivered.headers["authorization"] == "Bearer gateway-token"
    assert json.loads(delivered.body)["to"] == phone
    code = sent_code(gateway)

    refused = await confirm(api, check["check_id"], wrong(code))
    assert refused.status_code == 409, refused.text
    assert refused.json()["code"] == "sms_code_invalid"
    assert f"{limits.sms_confirm_attempts_max - 1} tries left" in refused.json()["detail"]

    confirmed = await confirm(api, check["check_id"], code)
    assert confirmed.status_code == 200, confirmed.text
    assert (confirmed.json()["check_id"], confirmed.json()["customer_id"]) == (
        check["check_id"],
        customer,
    )

    again = await confirm(api, check["check_id"], code)
    assert (again.status_code, again.json()["code"]) == (409, "sms_code_expired")


async def test_the_code_is_never_answered_stored_or_logged(
    api: Api, gateway: WebhookReceiver
) -> None:
    api.runtime.sms.codes = lambda: "918273"
    customer = await api.customer(phone=phone)

    with capture_logs() as logs:
        sent = await send(api, customer)
        confirmed = await confirm(api, sent.json()["check_id"], "918273")

    assert confirmed.status_code == 200, confirmed.text
    assert "918273" in json.loads(gateway.received[0].body)["text"]
    assert "918273" not in sent.text + confirmed.text
    assert "918273" not in repr(logs)
    async with api.runtime.pool.acquire() as connection:
        checks = await connection.fetch("select * from sms_checks")
        answers = await connection.fetch("select body from idempotency_keys")
    assert len(checks) == 1
    assert "918273" not in repr([dict(row) for row in checks])
    assert all(b"918273" not in bytes(row["body"]) for row in answers)


async def test_a_replayed_send_answers_again_and_sends_nothing(
    api: Api, gateway: WebhookReceiver
) -> None:
    customer = await api.customer(phone=phone)

    first = await send(api, customer, idempotency_key="till-7-sms-1")
    replay = await send(api, customer, idempotency_key="till-7-sms-1")

    assert first.status_code == 201, first.text
    assert replay.content == first.content
    assert replay.headers["idempotent-replayed"] == "true"
    assert len(gateway.received) == 1


async def test_sends_are_rate_limited_per_customer_even_when_they_race(
    api: Api, gateway: WebhookReceiver
) -> None:
    customer = await api.customer(phone=phone)
    other = await api.customer(phone="+79161234568")
    tries = limits.sms_sends_per_customer_max * 2

    answers = await asyncio.gather(*(send(api, customer) for _ in range(tries)))

    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [201] * limits.sms_sends_per_customer_max + [429] * (
        tries - limits.sms_sends_per_customer_max
    ), [answer.text for answer in answers]
    assert {answer.json()["code"] for answer in answers if answer.status_code == 429} == {
        "sms_rate_limited"
    }
    assert len(gateway.received) == limits.sms_sends_per_customer_max
    assert (await send(api, other)).status_code == 201  # another customer has a limit of his own


async def test_wrong_codes_spend_the_check_and_a_replay_counts_no_try(
    api: Api, gateway: WebhookReceiver
) -> None:
    customer = await api.customer(phone=phone)
    check_id = (await send(api, customer)).json()["check_id"]
    code = sent_code(gateway)
    first = await confirm(api, check_id, wrong(code), idempotency_key="confirm-1")
    replayed = await confirm(api, check_id, wrong(code), idempotency_key="confirm-1")
    assert replayed.content == first.content

    answers = [
        (await confirm(api, check_id, wrong(code))).json()["code"]
        for _ in range(limits.sms_confirm_attempts_max - 1)
    ]
    assert answers == ["sms_code_invalid"] * (limits.sms_confirm_attempts_max - 2) + [
        "sms_attempts_exceeded"
    ]

    spent = await confirm(api, check_id, code)
    assert (spent.status_code, spent.json()["code"]) == (409, "sms_attempts_exceeded")


async def test_an_expired_code_is_refused(api: Api, gateway: WebhookReceiver) -> None:
    customer = await api.customer(phone=phone)
    check_id = (await send(api, customer)).json()["check_id"]
    async with api.runtime.pool.acquire() as connection:
        await connection.execute(
            "update sms_checks set expires_at = clock_timestamp() - interval '1 second'"
        )

    late = await confirm(api, check_id, sent_code(gateway))

    assert (late.status_code, late.json()["code"]) == (409, "sms_code_expired")


async def test_a_gateway_refusal_leaves_no_usable_check_and_no_spent_limit(
    api: Api, gateway: WebhookReceiver
) -> None:
    customer = await api.customer(phone=phone)
    gateway.statuses = [503]

    refused = await send(api, customer, idempotency_key="sms-down")
    replay = await send(api, customer, idempotency_key="sms-down")

    assert refused.status_code == 502, refused.text
    assert refused.json()["code"] == "sms_not_sent"
    assert (replay.status_code, replay.json()["code"]) == (502, "sms_not_sent")
    assert len(gateway.received) == 1  # the replay did not try again
    async with api.runtime.pool.acquire() as connection:
        check_id = await connection.fetchval("select id from sms_checks")
    never_sent = await confirm(api, str(check_id), sent_code(gateway))
    assert (never_sent.status_code, never_sent.json()["code"]) == (409, "sms_code_expired")
    for _ in range(limits.sms_sends_per_customer_max):
        assert (await send(api, customer)).status_code == 201


async def test_bad_requests_are_refused_and_send_nothing(
    api: Api, gateway: WebhookReceiver
) -> None:
    customer = await api.customer(phone=phone)
    block = {"reason": "fraud"}
    assert (await api.post(f"/v1/customers/{customer}/block", block, key=api.admin_key)).is_success
    unknown = "00000000-0000-4000-8000-000000000000"

    blocked = await send(api, customer)
    missing = await send(api, unknown)
    no_key = await send(api, customer, idempotency_key=None)

    assert (blocked.status_code, blocked.json()["code"]) == (409, "account_blocked")
    assert (missing.status_code, missing.json()["code"]) == (404, "not_found")
    assert (no_key.status_code, no_key.json()["code"]) == (400, "validation_error")
    assert gateway.received == []

    other = await api.customer(phone="+79161234568")
    check_id = (await send(api, other)).json()["check_id"]
    code = sent_code(gateway)
    letters = await confirm(api, check_id, "12ab56")
    assert (letters.status_code, letters.json()["code"]) == (400, "validation_error")
    _, _, stranger_key = await make_program(api.runtime, name="Another program")
    stranger = await confirm(api, check_id, code, key=stranger_key)
    assert (stranger.status_code, stranger.json()["code"]) == (404, "not_found")
    assert (await confirm(api, check_id, code)).status_code == 200  # neither spent a try


async def test_the_console_provider_prints_and_the_http_one_hides_the_text() -> None:
    class Stream:
        def __init__(self) -> None:
            self.text = ""

        def write(self, text: str) -> None:
            self.text += text

        def flush(self) -> None:
            pass

    stream = Stream()
    await ConsoleSms(stream).send(phone, "123456 is your code")  # type: ignore[arg-type]
    assert stream.text == f"[development SMS to {phone}] 123456 is your code\n"

    closed = HttpSms(f"http://127.0.0.1:{free_port()}/sms", None, timeout_seconds=1)
    try:
        with pytest.raises(SmsNotSent) as raised:
            await closed.send(phone, "654321 is your code")
    finally:
        await closed.close()
    assert "654321" not in str(raised.value)
    assert raised.value.__cause__ is None
