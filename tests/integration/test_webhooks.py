"""Webhooks end to end: subscriptions through the admin API, and the relay delivering the
outbox over real HTTP to a receiver, signed the Standard Webhooks way; retried with backoff,
dead after the last attempt and redelivered on request; shared by several relays without
sending an event twice; and never lost when a worker process is killed mid-delivery."""

import asyncio
import base64
import hashlib
import hmac
import json
import os
import re
import signal
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from standardwebhooks.webhooks import Webhook

from processing.adapters.http_sender import HttpxSender
from processing.service.messaging.webhooks import Relay, RelayPolicy
from processing.settings import Settings
from tests.conftest import Api
from tests.fakes.webhook_receiver import WebhookReceiver, webhook_receiver
from tests.system.processes import bonus, environment, read_both

fast = RelayPolicy(
    max_attempts=3,
    backoff_base_seconds=0.05,
    backoff_cap_seconds=0.2,
    lease_seconds=2.0,
    timeout_seconds=1.0,
)


@pytest.fixture
async def receiver() -> AsyncIterator[WebhookReceiver]:
    async with webhook_receiver() as running:
        yield running


@pytest.fixture
async def sender(settings: Settings) -> AsyncIterator[HttpxSender]:
    client = HttpxSender(fast.timeout_seconds, settings.outbound)
    yield client
    await client.close()


async def subscribe(api: Api, url: str, event_types: list[str] | None = None) -> Any:
    body: dict[str, Any] = {"url": url}
    if event_types is not None:
        body["event_types"] = event_types
    return await api.post(f"/v1/programs/{api.program_id}/webhooks", body, key=api.admin_key)


async def deliveries(api: Api, webhook_id: str, **params: Any) -> list[dict[str, Any]]:
    page = await api.get(f"/v1/webhooks/{webhook_id}/deliveries", key=api.admin_key, **params)
    assert page.status_code == 200, page.text
    items: list[dict[str, Any]] = page.json()["items"]
    return items


async def drain(relay: Relay, until: Any, limit_seconds: float = 15) -> None:
    """Runs the relay until ``until()`` holds (it may need retries after backoff)."""
    deadline = time.monotonic() + limit_seconds
    while not await until():
        assert time.monotonic() < deadline, "the relay did not get there in time"
        if not await relay.run_once():
            await asyncio.sleep(0.05)


def verify(secret: str, headers: dict[str, str], body: bytes) -> bool:
    """The receiver's side of Standard Webhooks, written from the specification."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return any(
        hmac.compare_digest(candidate.removeprefix("v1,"), expected)
        for candidate in headers["webhook-signature"].split()
    )


async def test_a_subscription_shows_its_secret_once(api: Api) -> None:
    first = await api.post(
        f"/v1/programs/{api.program_id}/webhooks",
        {"url": "https://crm.example/hooks", "event_types": ["points.redeemed"]},
        key=api.admin_key,
        idempotency_key="subscribe-1",
    )
    assert first.status_code == 201, first.text
    assert first.json()["secret"].startswith("whsec_")
    replay = await api.post(
        f"/v1/programs/{api.program_id}/webhooks",
        {"url": "https://crm.example/hooks", "event_types": ["points.redeemed"]},
        key=api.admin_key,
        idempotency_key="subscribe-1",
    )
    assert (replay.status_code, replay.json()["secret"]) == (201, None)
    listed = (await api.get(f"/v1/programs/{api.program_id}/webhooks", key=api.admin_key)).json()
    assert [item["id"] for item in listed] == [first.json()["id"]]
    assert "secret" not in listed[0]
    async with api.runtime.pool.acquire() as connection:
        stored = await connection.fetchval(
            "select body from idempotency_keys where key = 'subscribe-1'"
        )
    assert stored is not None
    assert first.json()["secret"].encode() not in bytes(stored)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        pytest.param({"url": "ftp://crm.example/hooks"}, "url", id="not-http"),
        pytest.param({"url": "https://crm.example/h", "event_types": ["points"]}, "event_types"),
        pytest.param({"url": "https://crm.example/h", "secret": "mine"}, "secret", id="unknown"),
    ],
)
async def test_a_bad_subscription_is_refused_and_nothing_is_stored(
    api: Api, body: dict[str, Any], field: str
) -> None:
    refused = await api.post(f"/v1/programs/{api.program_id}/webhooks", body, key=api.admin_key)
    assert refused.status_code == 400, refused.text
    assert field in refused.text
    listed = (await api.get(f"/v1/programs/{api.program_id}/webhooks", key=api.admin_key)).json()
    assert listed == []


async def test_only_operators_manage_webhooks(api: Api) -> None:
    refused = await api.post(  # the till's key
        f"/v1/programs/{api.program_id}/webhooks", {"url": "https://crm.example/hooks"}
    )
    assert (refused.status_code, refused.json()["code"]) == (403, "forbidden_scope")
    unknown = await api.post(
        "/v1/programs/00000000-0000-0000-0000-000000000001/webhooks",
        {"url": "https://crm.example/hooks"},
        key=api.admin_key,
    )
    assert unknown.status_code == 404


async def test_events_are_delivered_signed_with_a_stable_id(
    api: Api, receiver: WebhookReceiver, sender: HttpxSender
) -> None:
    created = (await subscribe(api, receiver.url)).json()
    customer = await api.customer(points=100)
    hold = await api.reserve(customer, 30)
    assert hold.status_code == 201
    relay = Relay(api.runtime.database, sender, fast)

    async def four_received() -> bool:
        return len(receiver.received) >= 4

    await drain(relay, four_received)

    assert len(receiver.received) == 4
    for item in receiver.received:
        assert verify(created["secret"], item.headers, item.body)
        # The reference library a receiver would use accepts it too (it raises otherwise).
        assert Webhook(created["secret"]).verify(item.body, item.headers) == json.loads(item.body)
        assert item.headers["content-type"] == "application/json"
        assert abs(int(item.headers["webhook-timestamp"]) - time.time()) < 60
    events = [json.loads(item.body) for item in receiver.received]
    assert sorted(event["type"] for event in events) == [
        "balance.changed",
        "balance.changed",
        "hold.reserved",
        "points.accrued",
    ]
    assert {event["id"] for event in events} == set(receiver.ids)
    assert all(event["data"]["customer_id"] == customer for event in events)
    delivered = await deliveries(api, created["id"])
    assert [(item["status"], item["attempts"], item["last_status"]) for item in delivered] == [
        ("delivered", 1, 200)
    ] * 4
    other_secret = "whsec_" + base64.b64encode(b"x" * 32).decode()
    assert not verify(other_secret, receiver.received[0].headers, receiver.received[0].body)


async def test_a_subscription_gets_only_the_event_types_it_asked_for(
    api: Api, receiver: WebhookReceiver, sender: HttpxSender
) -> None:
    await subscribe(api, receiver.url, ["hold.reserved"])
    customer = await api.customer(points=100)
    await api.reserve(customer, 30)
    relay = Relay(api.runtime.database, sender, fast)

    async def received_one() -> bool:
        return len(receiver.received) >= 1

    await drain(relay, received_one)
    await relay.run_once()
    assert [json.loads(item.body)["type"] for item in receiver.received] == ["hold.reserved"]


async def test_a_failing_receiver_gets_retries_of_the_same_event_until_it_answers(
    api: Api, receiver: WebhookReceiver, sender: HttpxSender
) -> None:
    created = (await subscribe(api, receiver.url, ["points.accrued"])).json()
    receiver.statuses = [503, 500]
    await api.customer(points=100)
    relay = Relay(api.runtime.database, sender, fast)

    async def delivered() -> bool:
        return [item["status"] for item in await deliveries(api, created["id"])] == ["delivered"]

    await drain(relay, delivered)

    [item] = await deliveries(api, created["id"])
    assert (item["attempts"], item["last_status"], item["last_error"]) == (3, 200, None)
    assert len(receiver.ids) == 1  # three attempts, one event id
    assert len({attempt.body for attempt in receiver.received}) == 1  # the same bytes each time


async def test_after_the_last_attempt_a_delivery_is_dead_until_redelivered(
    api: Api, receiver: WebhookReceiver, sender: HttpxSender
) -> None:
    created = (await subscribe(api, receiver.url, ["points.accrued"])).json()
    receiver.then = 500
    await api.customer(points=100)
    relay = Relay(api.runtime.database, sender, fast)

    async def dead() -> bool:
        return [item["status"] for item in await deliveries(api, created["id"])] == ["dead"]

    await drain(relay, dead)
    async with api.runtime.pool.acquire() as connection:  # any backoff is over: still nothing
        await connection.execute("update webhook_deliveries set next_attempt_at = now()")
    await relay.run_once()
    assert len(receiver.received) == 3  # dead: no attempt after the last
    [item] = await deliveries(api, created["id"], status="dead")
    assert (item["attempts"], item["last_status"], item["last_error"]) == (3, 500, "http_status")
    assert len(receiver.received) == 3

    receiver.then = 200
    redelivered = await api.post(
        f"/v1/webhook-deliveries/{item['id']}/redeliver", None, key=api.admin_key
    )
    assert redelivered.status_code == 200, redelivered.text

    async def delivered() -> bool:
        return [i["status"] for i in await deliveries(api, created["id"])] == ["delivered"]

    await drain(relay, delivered)
    assert len(receiver.received) == 4
    again = await api.post(
        f"/v1/webhook-deliveries/{item['id']}/redeliver", None, key=api.admin_key
    )
    assert again.status_code == 404  # delivered: nothing to redeliver


async def test_a_receiver_slower_than_the_timeout_is_retried(
    api: Api, receiver: WebhookReceiver, sender: HttpxSender
) -> None:
    created = (await subscribe(api, receiver.url, ["points.accrued"])).json()
    receiver.delay_seconds = fast.timeout_seconds + 0.5
    await api.customer(points=100)
    relay = Relay(api.runtime.database, sender, fast)
    await relay.run_once()
    [item] = await deliveries(api, created["id"])
    assert (item["status"], item["attempts"], item["last_status"]) == ("pending", 1, None)
    assert item["last_error"] == "timeout"


async def test_a_disabled_subscription_gets_no_new_events(
    api: Api, receiver: WebhookReceiver, sender: HttpxSender
) -> None:
    created = (await subscribe(api, receiver.url)).json()
    disabled = await api.post(f"/v1/webhooks/{created['id']}/disable", None, key=api.admin_key)
    assert (disabled.status_code, disabled.json()["active"]) == (200, False)
    # The control: an active subscription of the same program, to a receiver of its own, gets
    # the very events, so the relay did run and there was something to send.
    async with webhook_receiver() as control:
        active = (await subscribe(api, control.url)).json()
        await api.customer(points=100)
        relay = Relay(api.runtime.database, sender, fast)

        async def control_has_all() -> bool:
            sent = await deliveries(api, active["id"])
            return bool(sent) and all(item["status"] == "delivered" for item in sent)

        await drain(relay, control_has_all)
        assert control.received
    assert receiver.received == []
    assert await deliveries(api, created["id"]) == []


async def test_several_relays_share_the_work_and_send_each_event_once(
    api: Api, receiver: WebhookReceiver, settings: Settings
) -> None:
    await subscribe(api, receiver.url, ["points.accrued"])
    customer = await api.customer()
    for _ in range(40):
        await api.accrue(customer, 1)
    senders = [HttpxSender(fast.timeout_seconds, settings.outbound) for _ in range(3)]
    relays = [Relay(api.runtime.database, one, fast) for one in senders]
    running = [asyncio.create_task(relay.run_forever(0.02)) for relay in relays]
    try:
        deadline = time.monotonic() + 20
        while (
            await api.runtime.pool.fetchval(
                "select count(*) from webhook_deliveries where status = 'delivered'"
            )
            < 40
        ):
            assert time.monotonic() < deadline, len(receiver.received)
            await asyncio.sleep(0.05)
    finally:
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)
        for one in senders:
            await one.close()
    # Every delivery was settled as sent on its first attempt before the relays stopped, so no
    # duplicate can still be on its way (no fixed wait for one that might come).
    async with api.runtime.pool.acquire() as connection:
        settled = await connection.fetch("select status, attempts from webhook_deliveries")
    assert [(row["status"], row["attempts"]) for row in settled] == [("delivered", 1)] * 40
    assert len(receiver.ids) == 40  # one event per accrual
    assert max(receiver.ids.values()) == 1


async def test_a_worker_killed_mid_delivery_loses_no_event(
    api: Api, settings: Settings, receiver: WebhookReceiver, sender: HttpxSender, tmp_path: Path
) -> None:
    created = (await subscribe(api, receiver.url, ["points.accrued"])).json()
    receiver.hang = asyncio.Event()  # the worker's POST arrives and never gets an answer
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        metrics_port = probe.getsockname()[1]
    await api.customer(points=100)
    env = environment(
        database_url=settings.database_url or "",
        redis_url=settings.redis_url or "",
        webhook_lease_seconds="3",
        webhook_timeout_seconds="2",
        webhook_idle_seconds="0.05",
        expiry_interval_seconds="60",
        worker_metrics_port=str(metrics_port),
    )
    stdout_path, stderr_path = tmp_path / "out", tmp_path / "err"
    with stdout_path.open("wb") as stdout, stderr_path.open("wb") as stderr:
        worker = await asyncio.create_subprocess_exec(
            bonus, "worker", env=env, stdout=stdout, stderr=stderr, start_new_session=True
        )
    try:
        deadline = time.monotonic() + 60
        while not receiver.received:
            assert worker.returncode is None, read_both(stdout_path, stderr_path)
            assert time.monotonic() < deadline, read_both(stdout_path, stderr_path)
            await asyncio.sleep(0.05)
        async with httpx.AsyncClient() as client:  # the worker serves its own /metrics
            metrics = await client.get(f"http://127.0.0.1:{metrics_port}/metrics")
            # Its live check has checked the one customer's account (decision 0028).
            while not re.search(r"^bonus_live_check_accounts_total [1-9]", metrics.text, re.M):
                assert time.monotonic() < deadline, metrics.text
                await asyncio.sleep(0.05)
                metrics = await client.get(f"http://127.0.0.1:{metrics_port}/metrics")
        assert "bonus_expiry_sweeps_total" in metrics.text
        os.killpg(worker.pid, signal.SIGKILL)  # mid-delivery: the POST is in flight
        await worker.wait()
    finally:
        if worker.returncode is None:
            os.killpg(worker.pid, signal.SIGKILL)
            await worker.wait()
    receiver.hang.set()
    receiver.hang = None
    [leased] = await deliveries(api, created["id"])
    assert (leased["status"], leased["attempts"]) == ("pending", 1)

    relay = Relay(api.runtime.database, sender, fast)

    async def delivered() -> bool:
        return [item["status"] for item in await deliveries(api, created["id"])] == ["delivered"]

    await drain(relay, delivered)  # once the dead worker's lease has run out
    [item] = await deliveries(api, created["id"])
    assert item["attempts"] == 2
    assert list(receiver.ids.values()) == [2]  # at least once: the same event id twice


async def test_deliveries_come_in_pages_newest_first(
    api: Api, receiver: WebhookReceiver, sender: HttpxSender
) -> None:
    created = (await subscribe(api, receiver.url, ["points.accrued"])).json()
    customer = await api.customer()
    for _ in range(5):
        await api.accrue(customer, 1)
    await Relay(api.runtime.database, sender, fast).run_once()
    seen: list[int] = []
    cursor = None
    for expected in (2, 2, 1):
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = await api.get(
            f"/v1/webhooks/{created['id']}/deliveries", key=api.admin_key, **params
        )
        body = page.json()
        assert len(body["items"]) == expected
        seen += [item["id"] for item in body["items"]]
        cursor = body["next_cursor"]
    assert cursor is None
    assert seen == sorted(seen, reverse=True)
    assert len(set(seen)) == 5
    bad = await api.get(
        f"/v1/webhooks/{created['id']}/deliveries", key=api.admin_key, cursor="nonsense"
    )
    assert (bad.status_code, bad.json()["field"]) == (400, "cursor")
