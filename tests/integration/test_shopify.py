"""Shopify over real HTTP: a fake Shopify signs and sends webhooks to our server on a local
port; a paid order earns once however often it is delivered, a cancelled order and a refund
take back what they must, a forged, tampered or misaddressed delivery is refused and stores
nothing, an event a killed worker had leased is applied once by the next worker, and an event
that fails every attempt goes dead after the last."""

from typing import Any
from uuid import UUID

import httpx
import pytest
from prometheus_client import REGISTRY

from processing.runtime import Runtime
from processing.service.partners.channels import Channels, inbox_attempts_max
from processing.service.records import Connection
from tests.conftest import Api
from tests.fakes.shopify import FakeShopify, line_item, order, refund
from tests.invariants import assert_ledger_clean

shop = "bonus-test.myshopify.com"
phone = "+79120000001"
# 10 % of the money, one point a ruble: a 1,000.00 RUB line earns 100 points.
rules = {"point_value_minor": 100, "earning": {"base_bp": 1000}}


@pytest.fixture
async def connection(api: Api) -> Connection:
    response = await api.client.put(
        f"/v1/programs/{api.program_id}/rules", json=rules, headers=api.headers(api.admin_key)
    )
    assert response.status_code == 200, response.text
    return await api.runtime.channels.connect(
        api.program_id_uuid, "shopify", shop, {"client_secret": "shpss_test_secret"}
    )


@pytest.fixture
def shopify(server: str, connection: Connection) -> FakeShopify:
    return FakeShopify(
        url=f"{server}/hooks/shopify/{connection.id}", shop=shop, client_secret="shpss_test_secret"
    )


async def inbox(runtime: Runtime) -> list[dict[str, Any]]:
    async with runtime.pool.acquire() as db:
        rows = await db.fetch(
            "select topic, status, attempts, last_error from channel_inbox order by id"
        )
    return [dict(row) for row in rows]


async def operations(runtime: Runtime) -> list[dict[str, Any]]:
    async with runtime.pool.acquire() as db:
        rows = await db.fetch(
            "select type, points, document_id from operations order by created_at, id"
        )
    return [dict(row) for row in rows]


async def test_a_paid_order_earns_once_however_often_it_is_delivered(
    api: Api, shopify: FakeShopify
) -> None:
    customer = await api.customer(phone)
    paid = order(phone, [line_item("1000.00"), line_item("500.00", quantity=2, sku="SKU-2")])

    first = await shopify.deliver("orders/paid", paid)
    again = await shopify.redeliver(first)
    await shopify.redeliver(first)
    # Shopify may also send the same order under a new webhook id (a resent notification).
    resent = await shopify.deliver("orders/paid", paid)
    await api.runtime.channels.drain()

    assert [first.status, again.status, resent.status] == [200, 200, 200]
    assert (first.answer, again.answer) == (
        {"received": True, "duplicate": False},
        {"received": True, "duplicate": True},
    )
    assert [row["status"] for row in await inbox(api.runtime)] == ["done", "done"]
    assert await operations(api.runtime) == [
        {"type": "purchase", "points": 200, "document_id": f"order-{paid['id']}"}
    ]
    assert (await api.balance(customer))["available"] == 200
    await assert_ledger_clean(api.runtime)


async def test_a_refund_returns_its_lines_and_a_cancellation_takes_back_the_rest(
    api: Api, shopify: FakeShopify
) -> None:
    customer = await api.customer(phone)
    kept, returned = line_item("1000.00"), line_item("300.00", quantity=2, sku="SKU-2")
    paid = order(phone, [kept, returned])
    await shopify.deliver("orders/paid", paid)
    await api.runtime.channels.drain()
    assert (await api.balance(customer))["available"] == 160

    back = await shopify.deliver("refunds/create", refund(paid, [(returned, 1)]))
    await shopify.redeliver(back)
    await api.runtime.channels.drain()
    assert (await api.balance(customer))["available"] == 130

    cancelled = await shopify.deliver("orders/cancelled", {**paid, "cancelled_at": "now"})
    await shopify.redeliver(cancelled)
    await api.runtime.channels.drain()

    assert (await api.balance(customer))["available"] == 0
    assert [(row["type"], row["points"]) for row in await operations(api.runtime)] == [
        ("purchase", 160),
        ("refund", -30),
        ("refund", -130),
    ]
    await assert_ledger_clean(api.runtime)


async def test_a_forged_tampered_or_misaddressed_delivery_is_refused_and_stores_nothing(
    api: Api, shopify: FakeShopify, connection: Connection, server: str
) -> None:
    await api.customer(phone)
    paid = order(phone, [line_item("1000.00")])

    forged = await shopify.deliver("orders/paid", paid, secret="someone-else")
    tampered = await shopify.deliver("orders/paid", paid, tamper=True)
    other_shop = FakeShopify(shopify.url, "other.myshopify.com", "shpss_test_secret")
    misaddressed = await other_shop.deliver("orders/paid", paid)
    nowhere = FakeShopify(f"{server}/hooks/shopify/{UUID(int=1)}", shop, "shpss_test_secret")
    unknown = await nowhere.deliver("orders/paid", paid)
    async with httpx.AsyncClient() as client:
        no_id = await client.post(shopify.url, content=b"{}", headers={"X-Shopify-Topic": "x"})

    assert [forged.status, tampered.status, misaddressed.status] == [401, 401, 401]
    assert forged.answer["code"] == "unauthorized"
    assert unknown.status == 404
    assert no_id.status_code == 401
    assert await inbox(api.runtime) == []
    await api.runtime.channels.drain()
    assert await operations(api.runtime) == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        pytest.param(b'{"id": 1, "note": ' + b"[" * 2000 + b"]" * 2000 + b"}", None, id="deep"),
        pytest.param(b'{"id": 1, "note": "a\\u0000b"}', "note", id="nul"),
        pytest.param(
            b'{"id": 1, "note_attributes": [{"a\\u0000": 1}]}',
            'note_attributes[0]["a\\u0000"]',
            id="nul-key",
        ),
    ],
)
async def test_a_signed_delivery_nested_too_deep_or_with_a_nul_is_refused(
    api: Api, shopify: FakeShopify, body: bytes, field: str | None
) -> None:
    """Signed and well-formed, yet no decoder or column takes it: 400 naming the field, and
    nothing stored (it once failed with a 500 from the JSON decoder or from Postgres)."""
    refused = await shopify.deliver("orders/paid", {}, raw=body)
    shallow = await shopify.deliver("orders/paid", {}, raw=b'{"id": 1, "note": [[["ok"]]]}')

    assert refused.status == 400, refused.answer
    assert refused.answer["code"] == "validation_error"
    if field is not None:
        assert refused.answer["field"] == field
    assert shallow.status == 200, shallow.answer
    assert [row["topic"] for row in await inbox(api.runtime)] == ["orders/paid"]


async def test_orders_that_cannot_apply_change_nothing_and_say_why(
    api: Api, shopify: FakeShopify
) -> None:
    await api.customer(phone)
    stranger = order("+79120000999", [line_item("1000.00")])
    in_dollars = order(phone, [line_item("10.00")], currency="USD")
    half_kopeck = order(phone, [line_item("10.005")])
    unpaid_cancel = order(phone, [line_item("10.00")])

    for topic, payload in [
        ("orders/paid", stranger),
        ("orders/paid", in_dollars),
        ("orders/paid", half_kopeck),
        ("orders/cancelled", unpaid_cancel),
    ]:
        assert (await shopify.deliver(topic, payload)).status == 200
    ignored = await shopify.deliver("products/update", {"id": 1})
    await api.runtime.channels.drain()

    assert ignored.answer == {"received": False}
    rows = await inbox(api.runtime)
    assert [row["status"] for row in rows] == ["done", "dead", "dead", "done"]
    assert "USD" in rows[1]["last_error"]
    assert "minor units" in rows[2]["last_error"]
    assert [row["attempts"] for row in rows] == [1, 1, 1, 1]  # a refusal is never retried
    assert await operations(api.runtime) == []


async def test_an_event_leased_by_a_killed_worker_is_applied_once_by_the_next(
    api: Api, shopify: FakeShopify
) -> None:
    customer = await api.customer(phone)
    await shopify.deliver("orders/paid", order(phone, [line_item("1000.00")]))
    runtime = api.runtime
    # A worker leases the event and dies before applying it: nothing marks it done.
    async with runtime.database.transaction() as store:
        [leased] = await store.lease_inbox_events(10, 600)
    other = Channels(
        runtime.database, runtime.runner, runtime.channels.partners, runtime.channels.terms
    )

    assert await other.drain() == 0  # still leased: nobody takes it meanwhile
    async with runtime.pool.acquire() as db:  # the lease runs out, as if ten minutes had passed
        await db.execute("update channel_inbox set next_attempt_at = clock_timestamp()")
    assert await other.drain() == 1
    assert await other.drain() == 0

    [row] = await inbox(runtime)
    assert (row["status"], row["attempts"]) == ("done", 2)
    assert leased.attempts == 1
    assert (await api.balance(customer))["available"] == 100
    await assert_ledger_clean(runtime)


async def test_a_failing_event_is_retried_with_backoff_and_succeeds_later(
    api: Api, shopify: FakeShopify, monkeypatch: pytest.MonkeyPatch
) -> None:
    customer = await api.customer(phone)
    await shopify.deliver("orders/paid", order(phone, [line_item("1000.00")]))
    channels = api.runtime.channels
    partner = channels.partners["shopify"]
    real = partner.handle
    calls = 0

    async def flaky(event: Any, tools: Any) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionError("the database went away")
        await real(event, tools)

    monkeypatch.setattr(partner, "handle", flaky)
    assert await channels.drain() == 1
    [row] = await inbox(api.runtime)
    assert (row["status"], row["attempts"]) == ("pending", 1)
    assert "the database went away" in row["last_error"]
    assert (await api.balance(customer))["available"] == 0

    async with api.runtime.pool.acquire() as db:  # the backoff has passed
        await db.execute("update channel_inbox set next_attempt_at = now()")
    assert await channels.drain() == 1
    [row] = await inbox(api.runtime)
    assert (row["status"], row["attempts"]) == ("done", 2)
    assert (await api.balance(customer))["available"] == 100


async def test_an_event_that_fails_every_attempt_goes_dead_after_the_last(
    api: Api, shopify: FakeShopify, monkeypatch: pytest.MonkeyPatch
) -> None:
    customer = await api.customer(phone)
    await shopify.deliver("orders/paid", order(phone, [line_item("1000.00")]))
    channels = api.runtime.channels
    partner = channels.partners["shopify"]

    async def always_failing(event: Any, tools: Any) -> None:
        raise ConnectionError("the partner's data cannot be read")

    monkeypatch.setattr(partner, "handle", always_failing)

    def dead_so_far() -> float:
        sample = REGISTRY.get_sample_value(
            "bonus_channel_events_total", {"partner": "shopify", "outcome": "dead"}
        )
        return sample or 0.0

    died_before = dead_so_far()
    for attempt in range(1, inbox_attempts_max + 1):
        async with api.runtime.pool.acquire() as db:  # the backoff has passed
            await db.execute("update channel_inbox set next_attempt_at = clock_timestamp()")
        assert await channels.drain() == 1
        [row] = await inbox(api.runtime)
        expected = "dead" if attempt == inbox_attempts_max else "pending"
        assert (row["status"], row["attempts"]) == (expected, attempt)
    assert "the partner's data cannot be read" in row["last_error"]
    assert dead_so_far() == died_before + 1

    async with api.runtime.pool.acquire() as db:  # however long one waits, dead stays dead
        await db.execute("update channel_inbox set next_attempt_at = clock_timestamp()")
    assert await channels.drain() == 0
    assert (await api.balance(customer))["available"] == 0
