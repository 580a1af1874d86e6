"""Confirmations of one SMS check racing in Postgres, each under its own Idempotency-Key: wrong
guesses sent at once never get more tries than a check allows (each answer counts the try it
was given, and only those are counted), and the right code sent twice at once spends the
check once."""

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID

import pytest

from processing.adapters.postgres.store import PostgresStore
from processing.core import limits
from processing.service.records import SmsCheckRecord
from processing.settings import Settings
from tests.api.test_pos_sms import confirm, send, sent_code, wrong
from tests.conftest import Api, secrets_keys
from tests.fakes.webhook_receiver import WebhookReceiver, webhook_receiver

racers = 12
# Confirmations that all read the check before any of them writes: fewer than the pool's
# connections, since each holds one while it waits for the others.
readers = 4


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


class ReadTogether:
    """Holds the first ``parties`` reads of a check until all of them have read it, so their
    decisions are all made on one version; reads after those pass at once."""

    def __init__(self, parties: int) -> None:
        self.left = parties
        self.all_read = asyncio.Event()

    async def wait(self) -> None:
        if self.all_read.is_set():
            return
        self.left -= 1
        if self.left == 0:
            self.all_read.set()
        await asyncio.wait_for(self.all_read.wait(), timeout=10)


@pytest.fixture
def read_together(monkeypatch: pytest.MonkeyPatch) -> ReadTogether:
    together = ReadTogether(readers)
    read = PostgresStore.sms_check

    async def held(
        store: PostgresStore, check_id: UUID, program_id: UUID, store_id: str | None = None
    ) -> SmsCheckRecord | None:
        check = await read(store, check_id, program_id, store_id)
        await together.wait()
        return check

    monkeypatch.setattr(PostgresStore, "sms_check", held)
    return together


async def sent_check(api: Api, gateway: WebhookReceiver) -> tuple[str, str]:
    customer = await api.customer(phone="+79161234567")
    sent = await send(api, customer)
    assert sent.status_code == 201, sent.text
    return sent.json()["check_id"], sent_code(gateway)


def codes(answers: list[Any]) -> Counter[str]:
    return Counter(
        "ok" if answer.status_code == 200 else answer.json()["code"] for answer in answers
    )


async def test_wrong_guesses_at_once_get_no_more_tries_than_allowed(
    api: Api, gateway: WebhookReceiver
) -> None:
    check_id, code = await sent_check(api, gateway)

    answers = await asyncio.gather(*(confirm(api, check_id, wrong(code)) for _ in range(racers)))

    attempts = await api.runtime.pool.fetchval(
        "select attempts from sms_checks where id = $1", UUID(check_id)
    )
    assert attempts == limits.sms_confirm_attempts_max
    counted = [
        answer.json()["detail"]
        for answer in answers
        if answer.json()["code"] == "sms_code_invalid" or "last try" in answer.json()["detail"]
    ]
    # Every try counted was answered as one, each on a count of its own.
    assert len(counted) == len(set(counted)) == attempts, counted
    assert set(codes(answers)) <= {
        "sms_code_invalid",
        "sms_attempts_exceeded",
        "idempotency_request_in_progress",  # kept losing to the others: not stored, sent again
    }
    spent = await confirm(api, check_id, code)
    assert (spent.status_code, spent.json()["code"]) == (409, "sms_attempts_exceeded")


async def test_the_right_code_twice_at_once_spends_the_check_once(
    api: Api, gateway: WebhookReceiver, read_together: ReadTogether
) -> None:
    check_id, code = await sent_check(api, gateway)

    answers = await asyncio.gather(*(confirm(api, check_id, code) for _ in range(readers)))

    assert read_together.all_read.is_set()
    assert codes(answers) == {"ok": 1, "sms_code_expired": readers - 1}
    used = [answer.json()["detail"] for answer in answers if answer.status_code != 200]
    assert set(used) == {"This code was already used."}
