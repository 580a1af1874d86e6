"""Quiet hours asked again when a message is tried, on real Postgres through the relay and a fake
channel: a marketing message whose retry backoff lands inside the program's quiet hours waits
until they end (a transactional one does not), and a marketing message queued before the quiet
hours were moved over it is put back until they end, unsent and with no attempt spent. The
clock is the database's; the quiet window is placed around it and the backoff's jitter fixed."""

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest

from processing.core.triggers import Channel
from processing.runtime import Runtime
from processing.service.messaging.outgoing import MessagePolicy, MessageRelay
from processing.service.ports import MessageNotSent, OutgoingMessage
from tests.conftest import Api

# A backoff of ten minutes (no jitter: the step's half, fixed) and room for it in the window.
policy = MessagePolicy(
    max_attempts=3,
    backoff_base_seconds=1200.0,
    backoff_cap_seconds=1200.0,
    lease_seconds=5.0,
    timeout_seconds=4.0,
)
backoff = timedelta(minutes=10)


class FakeSms:
    """An SMS channel that refuses while ``refusing`` and records what it sends."""

    def __init__(self) -> None:
        self.refusing = False
        self.sent: list[OutgoingMessage] = []

    async def send(self, message: OutgoingMessage) -> str:
        if self.refusing:
            raise MessageNotSent("sms_gateway_refused")
        self.sent.append(message)
        return f"fake-{len(self.sent)}"


@pytest.fixture
def sms() -> FakeSms:
    return FakeSms()


def relay_of(runtime: Runtime, sms: FakeSms) -> MessageRelay:
    return MessageRelay(runtime.database, {Channel.sms: sms}, runtime.triggers, policy, lambda: 0.0)


async def database_now(runtime: Runtime) -> datetime:
    value: datetime = await runtime.pool.fetchval("select clock_timestamp()")
    return value.astimezone(UTC)


async def put(api: Api, path: str, body: dict[str, Any]) -> None:
    answered = await api.client.put(path, json=body, headers=api.headers(api.admin_key))
    assert answered.status_code == 200, answered.text


async def quiet_hours(api: Api, start: datetime, end: datetime) -> None:
    """The program's quiet window, in UTC, from ``start`` to ``end`` (to the minute)."""
    await put(api, f"/v1/programs/{api.program_id}/message-settings", {"time_zone": "UTC",
        "quiet_start_minute": start.hour * 60 + start.minute,
        "quiet_end_minute": end.hour * 60 + end.minute, "daily_cap": 3})  # fmt: skip


async def accrued_sms(
    api: Api, runtime: Runtime, sms: FakeSms, kind: str, phone: str = "+79120000001"
) -> dict[str, Any]:
    """A consenting customer's accrual made into one SMS of the given kind; its row."""
    template = {"channel": "sms", "body": "+{{ points }} баллов"}
    trigger = {"enabled": True, "kind": kind, "templates": [template]}
    await put(api, f"/v1/programs/{api.program_id}/triggers/points_accrued", trigger)
    customer = await api.customer(phone)
    given = await api.post(
        f"/v1/customers/{customer}/consents", {"channel": "sms", "granted": True, "source": "web"}
    )
    assert given.status_code == 201, given.text
    await api.accrue(customer, 600)
    async with runtime.database.transaction() as store:
        await store.fan_out(100)
    async with runtime.database.transaction() as store:
        for event in await store.take_message_events(100):
            await relay_of(runtime, sms).make_messages(store, event)
            await store.message_events_processed([event.id])
    return await message_of(runtime, UUID(customer))


async def message_of(runtime: Runtime, customer: UUID) -> dict[str, Any]:
    row = await runtime.pool.fetchrow(
        "select id, kind, state, attempts, next_attempt_at, reason from messages"
        " where customer_id = $1",
        customer,
    )
    assert row is not None
    return dict(row) | {"customer_id": customer}


def to_the_minute(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)


@pytest.mark.parametrize("kind", ["marketing", "transactional"])
async def test_a_retry_whose_backoff_lands_in_quiet_hours_waits_until_they_end(
    api: Api, runtime: Runtime, sms: FakeSms, kind: str
) -> None:
    await quiet_hours(api, datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC))
    message = await accrued_sms(api, runtime, sms, kind)
    now = await database_now(runtime)
    # Quiet from five minutes ahead to an hour ahead: the ten-minute backoff lands inside.
    start, end = to_the_minute(now + timedelta(minutes=5)), to_the_minute(now + timedelta(hours=1))
    await quiet_hours(api, start, end)
    sms.refusing = True

    assert await relay_of(runtime, sms).run_once() == 1

    retried = await message_of(runtime, message["customer_id"])
    assert (retried["state"], retried["attempts"], retried["reason"]) == (
        "queued",
        1,
        "sms_gateway_refused",
    )
    if kind == "marketing":
        assert retried["next_attempt_at"] == end
    else:  # a transactional message ignores quiet hours: the backoff as it is
        assert now + backoff <= retried["next_attempt_at"] <= now + backoff + timedelta(minutes=1)


async def test_a_retry_outside_quiet_hours_keeps_its_backoff(
    api: Api, runtime: Runtime, sms: FakeSms
) -> None:
    await quiet_hours(api, datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC))
    message = await accrued_sms(api, runtime, sms, "marketing")
    now = await database_now(runtime)
    # Quiet hours that end before the backoff does: the retry is not moved.
    start, end = (
        to_the_minute(now + timedelta(minutes=2)),
        to_the_minute(now + timedelta(minutes=5)),
    )
    await quiet_hours(api, start, end)
    sms.refusing = True

    await relay_of(runtime, sms).run_once()

    retried = await message_of(runtime, message["customer_id"])
    assert now + backoff <= retried["next_attempt_at"] <= now + backoff + timedelta(minutes=1)


async def test_a_marketing_message_leased_in_quiet_hours_is_put_back_until_they_end(
    api: Api, runtime: Runtime, sms: FakeSms
) -> None:
    await quiet_hours(api, datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC))
    marketing = await accrued_sms(api, runtime, sms, "marketing")
    transactional = await accrued_sms(api, runtime, sms, "transactional", "+79120000002")
    assert marketing["state"] == transactional["state"] == "queued"
    # The settings change after the messages were queued: quiet from an hour ago to an hour on.
    now = await database_now(runtime)
    start, end = to_the_minute(now - timedelta(hours=1)), to_the_minute(now + timedelta(hours=1))
    await quiet_hours(api, start, end)

    assert await relay_of(runtime, sms).run_once() == 2
    assert await relay_of(runtime, sms).run_once() == 0  # nothing due until the quiet hours end

    assert [message.body for message in sms.sent] == ["+600 баллов"]  # the transactional one
    waiting = await message_of(runtime, marketing["customer_id"])
    assert (waiting["state"], waiting["attempts"], waiting["next_attempt_at"]) == ("queued", 0, end)
    told = await message_of(runtime, transactional["customer_id"])
    assert (told["state"], told["attempts"]) == ("sent", 1)

    # When the quiet hours are over (here: lifted, and the message due again) it is sent.
    await quiet_hours(api, datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, tzinfo=UTC))
    await runtime.pool.execute(
        "update messages set next_attempt_at = clock_timestamp() where id = $1", waiting["id"]
    )
    assert await relay_of(runtime, sms).run_once() == 1
    sent = await message_of(runtime, marketing["customer_id"])
    assert (sent["state"], sent["attempts"], len(sms.sent)) == ("sent", 1, 2)
