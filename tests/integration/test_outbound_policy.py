"""Webhook receivers and partner APIs reach only addresses we may send to: every way of
writing an internal address is refused when a subscription is made and again when a delivery
is sent (a name that resolves to 127.0.0.1 included), deliveries report a failure's class and
never the socket's words, and a program's subscriptions are capped."""

import asyncio
from collections.abc import AsyncIterator
from typing import Any
from uuid import uuid4

import pytest

from processing.adapters.http_sender import HttpxSender
from processing.adapters.partner_http import HttpxPartnerApi
from processing.core import limits
from processing.core.outbound import OutboundPolicy
from processing.service.messaging.webhooks import Relay, RelayPolicy
from processing.service.ports import PartnerUnavailable
from tests import servers
from tests.api.test_observability import delta, scrape
from tests.conftest import Api
from tests.fakes.webhook_receiver import WebhookReceiver, webhook_receiver

fast = RelayPolicy(
    max_attempts=3,
    backoff_base_seconds=0.05,
    backoff_cap_seconds=0.2,
    lease_seconds=2.0,
    timeout_seconds=1.0,
)
# What production runs with, but plain http allowed: the fake receiver speaks http.
http_only = OutboundPolicy(allow_http=True, allow_private=False)


@pytest.fixture
async def receiver() -> AsyncIterator[WebhookReceiver]:
    async with webhook_receiver() as running:
        yield running


async def subscribe(api: Api, url: str) -> Any:
    return await api.post(
        f"/v1/programs/{api.program_id}/webhooks",
        {"url": url, "event_types": ["points.accrued"]},
        key=api.admin_key,
    )


async def listed(api: Api) -> list[Any]:
    response = await api.get(f"/v1/programs/{api.program_id}/webhooks", key=api.admin_key)
    items: list[Any] = response.json()
    return items


async def deliveries(api: Api, webhook_id: str) -> Any:
    response = await api.get(f"/v1/webhooks/{webhook_id}/deliveries", key=api.admin_key)
    assert response.status_code == 200, response.text
    return response


async def deliver_once(api: Api, sender: HttpxSender) -> None:
    try:
        await Relay(api.runtime.database, sender, fast).run_once()
    finally:
        await sender.close()


@pytest.mark.parametrize(
    "url",
    [
        "http://crm.example/hooks",
        "https://user:pass@crm.example/hooks",
        "https://127.0.0.1/hooks",
        "https://localhost:8443/hooks",
        "https://[::1]/hooks",
        "https://169.254.169.254/latest/meta-data/",
        "https://10.0.0.7/hooks",
        "https://172.16.0.1/hooks",
        "https://192.168.0.1/hooks",
        "https://[fd00::1]/hooks",
        "https://[::ffff:127.0.0.1]/hooks",
        "https://2130706433/hooks",
        "https://0x7f000001/hooks",
        "https://0177.0.0.1/hooks",
        "https://0.0.0.0/hooks",
    ],
)
async def test_an_internal_or_plain_url_is_refused_at_subscribe(api: Api, url: str) -> None:
    api.runtime.webhooks.outbound = OutboundPolicy()  # production's policy
    refused = await subscribe(api, url)
    assert refused.status_code == 400, refused.text
    assert (refused.json()["code"], refused.json()["field"]) == ("url_not_allowed", "url")
    assert await listed(api) == []


async def test_the_metadata_address_is_refused_even_in_development(api: Api) -> None:
    assert api.runtime.webhooks.outbound.allow_private  # the tests' own allowance
    refused = await subscribe(api, "http://169.254.169.254/latest/meta-data/")
    assert (refused.status_code, refused.json()["code"]) == (400, "url_not_allowed")
    accepted = await subscribe(api, "https://crm.example/hooks")  # the control
    assert accepted.status_code == 201, accepted.text


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "localhost",
        "2130706433",
        "0x7f000001",
        "0177.0.0.1",
        "127.1",
        "[::ffff:127.0.0.1]",
        "169.254.169.254",
        "10.0.0.7",
        "[fd00::1]",
    ],
)
async def test_an_internal_address_is_refused_at_send(
    api: Api, receiver: WebhookReceiver, host: str
) -> None:
    # A subscription stored before the policy, or while it allowed this: the send refuses it.
    port = receiver.url.split(":")[2].split("/")[0]
    async with api.runtime.database.transaction() as store:
        record = await store.insert_webhook(
            uuid4(),
            api.program_id_uuid,
            f"http://{host}:{port}/hooks/bonus",
            "whsec_" + "A" * 44,
            ["points.accrued"],
        )
    before = await scrape(api)
    await api.customer(points=10)
    await deliver_once(api, HttpxSender(fast.timeout_seconds, http_only))
    [item] = (await deliveries(api, str(record.id))).json()["items"]
    assert (item["last_error"], item["last_status"]) == ("refused_address", None)
    assert receiver.received == []
    after = await scrape(api)
    assert delta(before, after, "bonus_outbound_failures_total", **{"class": "refused_address"})


async def test_a_name_that_resolves_to_loopback_is_refused_at_send(
    api: Api, receiver: WebhookReceiver
) -> None:
    api.runtime.webhooks.outbound = http_only
    port = receiver.url.split(":")[2].split("/")[0]
    created = await subscribe(api, f"http://receiver.example:{port}/hooks/bonus")
    assert created.status_code == 201, created.text  # a public-looking name when stored

    async def to_loopback(host: str, port: int) -> list[str]:
        return ["127.0.0.1"] if host == "receiver.example" else []

    await api.customer(points=10)
    await deliver_once(api, HttpxSender(fast.timeout_seconds, http_only, to_loopback))
    [item] = (await deliveries(api, created.json()["id"])).json()["items"]
    assert (item["status"], item["last_error"]) == ("pending", "refused_address")
    assert receiver.received == []

    # The control: allowed to send there, the same name reaches the receiver, which proves the
    # socket is opened to the address that was resolved and checked.
    redelivered = await api.post(
        f"/v1/webhook-deliveries/{item['id']}/redeliver", None, key=api.admin_key
    )
    assert redelivered.status_code == 200
    allowed = OutboundPolicy(allow_http=True, allow_private=True)
    await deliver_once(api, HttpxSender(fast.timeout_seconds, allowed, to_loopback))
    [item] = (await deliveries(api, created.json()["id"])).json()["items"]
    assert item["status"] == "delivered"
    assert len(receiver.received) == 1


async def test_a_delivery_failure_shows_its_class_and_no_socket_text(api: Api) -> None:
    closed = f"http://127.0.0.1:{servers.free_port()}/hooks/bonus"  # nothing listens there
    created = (await subscribe(api, closed)).json()
    await api.customer(points=10)
    allowed = OutboundPolicy(allow_http=True, allow_private=True)
    await deliver_once(api, HttpxSender(fast.timeout_seconds, allowed))
    answer = await deliveries(api, created["id"])
    [item] = answer.json()["items"]
    assert (item["last_error"], item["last_status"]) == ("connect_failed", None)
    for words in ("errno", "connection refused", "connecterror", "all connection attempts"):
        assert words not in answer.text.lower()


async def test_a_partner_api_at_an_internal_address_is_refused_at_call(
    receiver: WebhookReceiver,
) -> None:
    partner = HttpxPartnerApi(1.0, http_only)
    try:
        with pytest.raises(PartnerUnavailable, match="refused_address"):
            await partner.get_json(receiver.url, {})
    finally:
        await partner.close()
    assert receiver.received == []


async def test_a_program_has_at_most_so_many_subscriptions(api: Api) -> None:
    cap = limits.webhook_subscriptions_per_program_max
    for number in range(cap - 2):
        created = await subscribe(api, f"https://crm.example/hooks/{number}")
        assert created.status_code == 201, created.text
    # Five at once for the last two places: the count is taken under a lock, so two win.
    racing = await asyncio.gather(
        *(subscribe(api, f"https://crm.example/race/{number}") for number in range(5))
    )
    assert sorted(answer.status_code for answer in racing) == [201, 201, 409, 409, 409]
    refused = next(answer for answer in racing if answer.status_code == 409)
    assert refused.json()["code"] == "webhook_limit_reached"
    assert len(await listed(api)) == cap

    first = (await listed(api))[0]["id"]
    disabled = await api.post(f"/v1/webhooks/{first}/disable", None, key=api.admin_key)
    assert disabled.status_code == 200
    again = await subscribe(api, "https://crm.example/hooks/after-disable")
    assert again.status_code == 201, again.text
