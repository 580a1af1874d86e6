"""WooCommerce over real HTTP both ways: a fake WooCommerce site signs and sends webhooks to our
server on a local port, and answers the REST reads our channel worker makes. A paid order earns
once however often and in whatever order its deliveries come, because the worker acts on the
order as the shop shows it now; a refund by line returns its lines once; a cancelled order takes
back the rest; a shop that is down is read again later; a forged, tampered or misaddressed
delivery is refused and stores nothing."""

from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID

import httpx
import pytest

from processing.runtime import Runtime
from processing.service.records import Connection
from tests.conftest import Api
from tests.fakes.woocommerce import FakeWooCommerce
from tests.invariants import assert_ledger_clean

phone = "+79120000001"
# 10 % of the money, one point a ruble: a 1,000.00 RUB order earns 100 points.
rules = {"point_value_minor": 100, "earning": {"base_bp": 1000}}


@pytest.fixture
async def site() -> AsyncIterator[FakeWooCommerce]:
    fake = FakeWooCommerce()
    runner = await fake.start()
    yield fake
    await runner.cleanup()


@pytest.fixture
async def connection(api: Api, site: FakeWooCommerce) -> Connection:
    response = await api.client.put(
        f"/v1/programs/{api.program_id}/rules", json=rules, headers=api.headers(api.admin_key)
    )
    assert response.status_code == 200, response.text
    return await api.runtime.channels.connect(
        api.program_id_uuid,
        "woocommerce",
        site.site,
        {
            "webhook_secret": site.webhook_secret,
            "consumer_key": site.consumer_key,
            "consumer_secret": site.consumer_secret,
        },
    )


@pytest.fixture
def shop(server: str, site: FakeWooCommerce, connection: Connection) -> FakeWooCommerce:
    site.receiver = f"{server}/hooks/woocommerce/{connection.id}"
    return site


async def inbox(runtime: Runtime) -> list[dict[str, Any]]:
    async with runtime.pool.acquire() as db:
        rows = await db.fetch(
            "select topic, status, attempts, last_error from channel_inbox order by received_at"
        )
    return [dict(row) for row in rows]


async def operations(runtime: Runtime) -> list[tuple[str, int, str]]:
    async with runtime.pool.acquire() as db:
        rows = await db.fetch(
            "select type, points, document_id from operations order by created_at, id"
        )
    return [(row["type"], row["points"], row["document_id"]) for row in rows]


async def test_a_paid_order_earns_once_whatever_its_deliveries_repeat(
    api: Api, shop: FakeWooCommerce
) -> None:
    customer = await api.customer(phone)
    order = shop.order(phone, [("1000.00", 1), ("999.99", 3)])
    created = await shop.deliver("order.created", order)  # pending: nothing to earn yet
    shop.set_status(order["id"], "processing")
    paid = await shop.deliver("order.updated", order)
    again = await shop.redeliver(paid)
    shop.set_status(order["id"], "completed")
    await shop.deliver("order.updated", order)
    await api.runtime.channels.drain()

    assert [created.status, paid.status, again.status] == [200, 200, 200]
    assert again.answer == {"received": True, "duplicate": True}
    assert [row["status"] for row in await inbox(api.runtime)] == ["done"] * 3
    assert await operations(api.runtime) == [("purchase", 199, f"wc-order-{order['id']}")]
    assert (await api.balance(customer))["available"] == 199
    await assert_ledger_clean(api.runtime)


async def test_an_old_delivery_arriving_after_a_cancellation_acts_on_the_order_as_it_is(
    api: Api, shop: FakeWooCommerce
) -> None:
    customer = await api.customer(phone)
    order = shop.order(phone, [("1000.00", 1)])
    shop.set_status(order["id"], "processing")
    paid_body = dict(order)  # what the "processing" delivery said
    shop.set_status(order["id"], "cancelled")
    await shop.deliver("order.updated", order)  # the cancellation overtakes the payment
    await api.runtime.channels.drain()
    assert await operations(api.runtime) == []  # never paid as far as the shop says now

    await shop.deliver("order.updated", {**paid_body, "status": "processing"})
    await api.runtime.channels.drain()

    assert await operations(api.runtime) == []
    assert (await api.balance(customer))["available"] == 0
    # The worker read the order from the shop both times, never trusting the body.
    assert shop.reads == [f"/wp-json/wc/v3/orders/{order['id']}"] * 2


async def test_refunds_return_their_lines_once_and_a_cancellation_takes_back_the_rest(
    api: Api, shop: FakeWooCommerce
) -> None:
    customer = await api.customer(phone)
    order = shop.order(phone, [("1000.00", 1), ("600.00", 2)])
    shop.set_status(order["id"], "processing")
    await shop.deliver("order.updated", order)
    await api.runtime.channels.drain()
    assert (await api.balance(customer))["available"] == 160

    shop.refund(order["id"], [(1, 1)], "300.00")
    first = await shop.deliver("order.updated", order)
    await shop.redeliver(first)
    shop.refund(order["id"], [], "50.00")  # shipping money back: no line returned
    await shop.deliver("order.updated", order)
    await api.runtime.channels.drain()
    assert (await api.balance(customer))["available"] == 130

    shop.set_status(order["id"], "cancelled")
    cancelled = await shop.deliver("order.updated", order)
    await shop.redeliver(cancelled)
    await api.runtime.channels.drain()

    assert (await api.balance(customer))["available"] == 0
    [refund_id] = [r["id"] for r in shop.refunds[order["id"]] if r["line_items"]]
    assert await operations(api.runtime) == [
        ("purchase", 160, f"wc-order-{order['id']}"),
        ("refund", -30, f"wc-refund-{refund_id}"),
        ("refund", -130, f"wc-order-{order['id']}-cancelled"),
    ]
    await assert_ledger_clean(api.runtime)


async def test_a_shop_that_is_down_is_read_again_later_and_nothing_is_lost(
    api: Api, shop: FakeWooCommerce
) -> None:
    customer = await api.customer(phone)
    order = shop.order(phone, [("1000.00", 1)])
    shop.set_status(order["id"], "processing")
    await shop.deliver("order.updated", order)
    shop.failures = 1

    assert await api.runtime.channels.drain() == 1
    [row] = await inbox(api.runtime)
    assert (row["status"], row["attempts"]) == ("pending", 1)
    assert row["last_error"].endswith(f"GET /wp-json/wc/v3/orders/{order['id']} answered 503")
    assert (await api.balance(customer))["available"] == 0

    async with api.runtime.pool.acquire() as db:  # the backoff has passed
        await db.execute("update channel_inbox set next_attempt_at = now()")
    assert await api.runtime.channels.drain() == 1
    [row] = await inbox(api.runtime)
    assert (row["status"], row["attempts"]) == ("done", 2)
    assert (await api.balance(customer))["available"] == 100


async def test_an_order_whose_delivery_was_lost_is_found_by_the_sweep(
    api: Api, shop: FakeWooCommerce
) -> None:
    customer = await api.customer(phone)
    lost = shop.order(phone, [("1000.00", 1)])
    shop.set_status(lost["id"], "processing")  # the webhook never reached us
    delivered = shop.order(phone, [("500.00", 1)])
    shop.set_status(delivered["id"], "processing")
    await shop.deliver("order.updated", delivered)
    await api.runtime.channels.drain()
    assert (await api.balance(customer))["available"] == 50

    assert await api.runtime.channels.sweep() == 2
    await api.runtime.channels.drain()
    assert (await api.balance(customer))["available"] == 150  # the lost one earned, once
    assert await operations(api.runtime) == [
        ("purchase", 50, f"wc-order-{delivered['id']}"),
        ("purchase", 100, f"wc-order-{lost['id']}"),
    ]
    [listing] = [read for read in shop.reads if read.startswith("/wp-json/wc/v3/orders?")]
    assert "dates_are_gmt=true" in listing
    assert "orderby=modified" in listing

    await api.runtime.channels.sweep()  # from where the last one ended: nothing new to earn
    await api.runtime.channels.drain()
    assert (await api.balance(customer))["available"] == 150
    await assert_ledger_clean(api.runtime)


async def test_wrong_rest_credentials_keep_the_event_for_a_retry_and_say_so(
    api: Api, shop: FakeWooCommerce
) -> None:
    await api.customer(phone)
    order = shop.order(phone, [("1000.00", 1)])
    shop.set_status(order["id"], "processing")
    await shop.deliver("order.updated", order)
    shop.consumer_secret = "cs_revoked"  # the shop owner revoked the key

    await api.runtime.channels.drain()

    [row] = await inbox(api.runtime)
    assert (row["status"], row["attempts"]) == ("pending", 1)
    assert "answered 401" in row["last_error"]
    assert "cs_" not in row["last_error"]  # no credential in what we keep
    assert await operations(api.runtime) == []


async def test_a_forged_tampered_or_misaddressed_delivery_is_refused_and_stores_nothing(
    api: Api, shop: FakeWooCommerce, server: str
) -> None:
    await api.customer(phone)
    order = shop.set_status(shop.order(phone, [("1000.00", 1)])["id"], "processing")

    forged = await shop.deliver("order.updated", order, secret="someone-else")
    tampered = await shop.deliver("order.updated", order, tamper=True)
    elsewhere = await shop.deliver("order.updated", order, source="https://other.example")
    receiver = shop.receiver
    shop.receiver = f"{server}/hooks/woocommerce/{UUID(int=1)}"
    unknown = await shop.deliver("order.updated", order)
    shop.receiver = receiver
    async with httpx.AsyncClient() as client:
        unsigned = await client.post(receiver, content=b"{}", headers={"X-WC-Webhook-Topic": "x"})

    assert [forged.status, tampered.status, elsewhere.status] == [401, 401, 401]
    assert forged.answer["code"] == "unauthorized"
    assert elsewhere.answer["field"] == "X-WC-Webhook-Source"
    assert unknown.status == 404
    assert unsigned.status_code == 401
    assert await inbox(api.runtime) == []
    await api.runtime.channels.drain()
    assert await operations(api.runtime) == []
    assert shop.reads == []


async def test_a_ping_and_topics_we_do_not_act_on_are_acknowledged_and_not_stored(
    api: Api, shop: FakeWooCommerce
) -> None:
    ping = await shop.ping()
    product = await shop.deliver("product.updated", {"id": 5, "name": "Tea"})

    assert (ping.status, ping.answer) == (200, {"received": False, "ping": True})
    assert (product.status, product.answer) == (200, {"received": False})
    assert await inbox(api.runtime) == []


async def test_orders_that_cannot_apply_change_nothing_and_say_why(
    api: Api, shop: FakeWooCommerce
) -> None:
    await api.customer(phone)
    stranger = shop.order("+79120000999", [("1000.00", 1)])
    in_dollars = shop.order(phone, [("10.00", 1)], currency="USD")
    half_kopeck = shop.order(phone, [("10.005", 1)])
    for order in (stranger, in_dollars, half_kopeck):
        shop.set_status(order["id"], "processing")
        assert (await shop.deliver("order.updated", order)).status == 200
    await api.runtime.channels.drain()

    rows = await inbox(api.runtime)
    assert [row["status"] for row in rows] == ["done", "dead", "dead"]
    assert "USD" in rows[1]["last_error"]
    assert "minor units" in rows[2]["last_error"]
    assert [row["attempts"] for row in rows] == [1, 1, 1]  # a refusal is never retried
    assert await operations(api.runtime) == []


async def test_a_connection_without_its_rest_key_is_refused_at_set_up(api: Api) -> None:
    with pytest.raises(ValueError, match="consumer_key, consumer_secret"):
        await api.runtime.channels.connect(
            api.program_id_uuid, "woocommerce", "https://shop.example", {"webhook_secret": "s"}
        )
    async with api.runtime.pool.acquire() as db:
        assert await db.fetchval("select count(*) from channel_connections") == 0
