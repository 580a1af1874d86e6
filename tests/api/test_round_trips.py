"""Every mutating call costs at most a known number of round trips to Postgres, first and
replayed: the statements the service sends on its connections, BEGIN and COMMIT included, are
counted per API call and held to one table, so a use case that grows a statement fails here.

A statement is one round trip once the connection has prepared it (asyncpg keeps prepared
statements per connection), so each call is counted on its second run, after a warm-up run of
the whole table. A bound that is met with room to spare should come down with the code.

A partner's receiver is counted the same way: its request as the partner sends it (signed with
the partner's secret, no key of ours), and, as the replay, the very same request again, which
is what a partner's retry is.
"""

import asyncio
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any
from urllib.parse import urlencode
from uuid import UUID

import msgspec
import pytest
from asyncpg.connection import LoggedQuery

from processing.adapters.http_sender import HttpxSender
from processing.adapters.postgres import database
from processing.adapters.postgres.database import PostgresDatabase, create_pool
from processing.adapters.postgres.queries import QUERIES
from processing.adapters.postgres.store import Connection
from processing.service.admin import create_key
from processing.service.messaging.webhooks import Relay, RelayPolicy
from processing.service.records import Connection as PartnerConnection
from processing.settings import Settings
from tests.api.test_bonuses import bonus_rules
from tests.api.test_loyalty_rules_and_checkout import auto_service, put_rules, receipt_line
from tests.conftest import Api
from tests.fakes import shopify
from tests.fakes.bitrix24 import FakeBitrix24, event_form
from tests.fakes.retailcrm import FakeRetailCrm
from tests.fakes.shopify import FakeShopify
from tests.fakes.woocommerce import FakeWooCommerce

# Round trips to Postgres per call: (the first call, its replay under the same Idempotency-Key).
# The replay of most calls is BEGIN, the key's claim, its stored answer and the end of the
# transaction; a call on a hold or a cheque first reads which account to lock.
bounds: dict[str, tuple[int, int]] = {
    "enroll": (6, 1),
    "add_card": (3, 1),
    "block_card": (3, 1),
    "unblock_card": (3, 1),
    "block_customer": (3, 1),
    "unblock_customer": (3, 1),
    "edit_customer": (4, 1),
    "record_consent": (3, 1),
    "erase_customer": (3, 1),
    "merge_customers": (3, 1),
    "accrue": (2, 1),
    "adjust": (2, 1),
    "reserve": (2, 1),
    "commit": (2, 1),
    "cancel": (2, 1),
    "refund": (2, 1),
    "purchase": (2, 1),
    # A promo code's use is written by the purchase's own apply (decision 0032).
    "purchase_with_promo_code": (2, 1),
    "bonus_event": (2, 1),
    "set_tier": (3, 1),
    "replace_rules": (3, 1),
    "replace_message_template": (3, 1),
    "create_program": (3, 1),
    "create_api_key": (3, 1),
    "rotate_api_key": (3, 1),
    "revoke_api_key": (3, 1),
    # The sweep's holds and lots, its backlog, and the gift certificates due (decision 0033).
    "expire": (4, 4),
    "subscribe_webhook": (3, 1),
    "disable_webhook": (3, 1),
    "redeliver_webhook": (3, 1),
    "retry_inbox_event": (3, 1),
    "pos_sms_send": (3, 1),
    "pos_sms_confirm": (3, 1),
    "pos_reserve": (2, 1),
    "pos_commit": (3, 2),
    "pos_cancel": (3, 2),
    "pos_return": (3, 2),
    "shop_reserve": (2, 1),
    "shop_cart_cancel": (3, 2),
    "shop_order_pay": (3, 2),
    "shop_order_cancel": (3, 2),
    "shop_order_return": (3, 2),
    # A receiver reads the connection, then stores the event (BEGIN, the inbox row, COMMIT);
    # its replay is the partner's retry, the same request, which costs the same.
    "bitrix24_event": (4, 4),
    "retailcrm_trigger": (4, 4),
    "shopify_webhook": (4, 4),
    "woocommerce_webhook": (4, 4),
}

basket = [receipt_line("oil", 4000), receipt_line("work", 6000)]
rules = auto_service | bonus_rules | {"activation_delay_days": 0}
_serial = itertools.count(1)
# A secret (a key's, a webhook's) is in its first answer only; a replay answers the same without it.
shows_a_secret_once = frozenset({"create_api_key", "rotate_api_key", "subscribe_webhook"})
# A receiver answers a partner's retry by saying it is one (Bitrix24: folded into the waiting
# event); RetailCRM's triggers carry no id, so each is stored and answered alike.
says_it_is_a_repeat = frozenset({"bitrix24_event", "shopify_webhook", "woocommerce_webhook"})
# The receivers never call the partner back (the channel worker does, and it does not run
# here), so the fakes lend their secrets, payload shapes and signatures without serving.
partner_url = "http://127.0.0.1:9"
phone = "+79160000000"


class Call(msgspec.Struct, frozen=True):
    method: str
    path: str
    body: Any = None
    key: str | None = None  # the till's key unless named
    # A partner's request to its receiver, as the partner sends it: its own bytes and headers,
    # no key of ours and no Idempotency-Key.
    raw: bytes | None = None
    headers: dict[str, str] | None = None


class Statements:
    """The statements sent on every connection the service takes from the pool, but the API
    key's lookup: that belongs to every request, read or write, and a per-process cache answers
    it for a few seconds, so whether a call pays it depends on the clock, not on the use case."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    def __call__(self, record: LoggedQuery) -> None:
        if record.query != QUERIES["authenticate"]:
            self.sent.append(record.query)

    @contextmanager
    def counting(self, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
        taken = database._connection

        @asynccontextmanager
        async def counted(pool: Any) -> AsyncIterator[Connection]:
            async with taken(pool) as connection:
                connection.add_query_logger(self)
                try:
                    yield connection
                finally:
                    connection.remove_query_logger(self)

        with monkeypatch.context() as patched:
            patched.setattr(database, "_connection", counted)
            yield


class World:
    """A program with rules, its till, its web shop, its operator and a connection to each
    partner, and a webhook relay; each call gets fresh customers and documents so that no two
    runs share state."""

    def __init__(self, api: Api, shop_key: str, relay: Relay) -> None:
        self.api = api
        self.shop_key = shop_key
        self.relay = relay
        self.connections: dict[str, PartnerConnection] = {}
        self.bitrix24 = FakeBitrix24(base=partner_url)
        self.retailcrm = FakeRetailCrm(url=partner_url)
        self.shopify = FakeShopify(url="", shop="bonus-test.myshopify.com", client_secret="shpss")
        self.woocommerce = FakeWooCommerce(site=partner_url)

    async def connect(self) -> None:
        connect = self.api.runtime.channels.connect
        program = self.api.program_id_uuid
        self.connections = {
            "bitrix24": await connect(
                program, "bitrix24", self.bitrix24.domain,
                {"webhook_url": self.bitrix24.webhook_url,
                 "application_token": self.bitrix24.application_token},
            ),
            "retailcrm": await connect(
                program, "retailcrm", self.retailcrm.url,
                {"api_key": self.retailcrm.api_key,
                 "trigger_secret": self.retailcrm.trigger_secret},
            ),
            "shopify": await connect(
                program, "shopify", self.shopify.shop,
                {"client_secret": self.shopify.client_secret},
            ),
            "woocommerce": await connect(
                program, "woocommerce", self.woocommerce.site,
                {"webhook_secret": self.woocommerce.webhook_secret,
                 "consumer_key": self.woocommerce.consumer_key,
                 "consumer_secret": self.woocommerce.consumer_secret},
            ),
        }  # fmt: skip

    def receiver_path(self, partner: str) -> str:
        return f"/hooks/{partner}/{self.connections[partner].id}"

    def unique(self, prefix: str) -> str:
        return f"{prefix}-{next(_serial)}"

    async def send(self, call: Call, idempotency_key: str) -> Any:
        if call.raw is not None:
            return await self.api.client.request(
                call.method, call.path, content=call.raw, headers=call.headers
            )
        return await self.api.client.request(
            call.method,
            call.path,
            json=call.body,
            headers=self.api.headers(call.key, idempotency_key),
        )

    async def ok(self, call: Call) -> Any:
        response = await self.send(call, self.unique("setup"))
        assert response.is_success, response.text
        return response.json()

    async def customer(self, points: int = 10_000) -> str:
        phone = f"+7916{next(_serial):07d}"
        return await self.api.customer(phone=phone, points=points)

    async def card(self, customer: str) -> str:
        number = self.unique("card")
        await self.ok(Call("POST", f"/v1/customers/{customer}/cards", {"number": number}))
        return number

    async def hold(self, customer: str) -> str:
        body = {"points": 100, "document": {"id": self.unique("receipt")}}
        hold: str = (await self.ok(Call("POST", f"/v1/customers/{customer}/holds", body)))["id"]
        return hold

    async def cheque(self, customer: str, *, committed: bool = False) -> str:
        cheque = self.unique("CHK")
        body = {"customer_id": customer, "points": 1000, "lines": basket}
        await self.ok(Call("POST", f"/pos/v1/cheques/{cheque}/reserve", body))
        if committed:
            await self.ok(Call("POST", f"/pos/v1/cheques/{cheque}/commit", {"lines": basket}))
        return cheque

    async def cart(self, customer: str) -> str:
        cart = self.unique("cart")
        body = {"customer_id": customer, "points": 1000, "lines": basket}
        await self.ok(Call("POST", f"/shop/v1/carts/{cart}/reserve", body, self.shop_key))
        return cart

    async def order(self, customer: str) -> str:
        cart, order = await self.cart(customer), self.unique("order")
        body = {"cart_id": cart, "lines": basket}
        await self.ok(Call("POST", f"/shop/v1/orders/{order}/pay", body, self.shop_key))
        return order

    async def key(self) -> UUID:
        async with self.api.runtime.database.transaction() as store:
            created = await create_key(store, self.api.program_id_uuid, "till", ["pos"], "s-9")
        return created.id

    async def dead_delivery(self) -> int:
        """A webhook delivery dead after its last attempt (the relay's only one): a new
        subscription's, to an address that refuses, which gets every accrual the relay has
        not fanned out yet, this one's included."""
        path = f"/v1/programs/{self.api.program_id}/webhooks"
        body = {"url": "http://127.0.0.1:9/hook", "event_types": ["points.accrued"]}
        webhook = await self.ok(Call("POST", path, body, self.api.admin_key))
        await self.customer(100)
        deliveries = f"/v1/webhooks/{webhook['id']}/deliveries"
        for _ in range(100):
            page = await self.api.get(deliveries, key=self.api.admin_key, status="dead")
            if dead := page.json()["items"]:
                return int(dead[0]["id"])
            await self.relay.run_once()
        raise AssertionError("the relay left no delivery dead")

    async def dead_inbox_event(self) -> tuple[UUID, int]:
        """An event in the Shopify connection's inbox, dead as after its last attempt (the
        channel worker does not run here): its connection and its id."""
        connection = self.connections["shopify"]
        key = self.unique("dead-event")
        await self.api.runtime.channels.receive(connection, key, "orders/paid", {"id": key})
        async with self.api.runtime.pool.acquire() as db:
            event_id: int = await db.fetchval(
                "update channel_inbox set status = 'dead', processed_at = clock_timestamp()"
                " where connection_id = $1 and event_key = $2 returning id",
                connection.id,
                key,
            )
        return connection.id, event_id


Prepare = Callable[[World], Awaitable[Call]]
use_cases: dict[str, Prepare] = {}


def use_case(prepare: Prepare) -> Prepare:
    use_cases[prepare.__name__] = prepare
    return prepare


@use_case
async def enroll(world: World) -> Call:
    return Call("POST", "/v1/customers", {"phone": f"+7917{next(_serial):07d}"})


@use_case
async def add_card(world: World) -> Call:
    customer = await world.customer(0)
    return Call("POST", f"/v1/customers/{customer}/cards", {"number": world.unique("card")})


@use_case
async def block_card(world: World) -> Call:
    card = await world.card(await world.customer(0))
    return Call("POST", f"/v1/cards/{card}/block", {"reason": "lost"})


@use_case
async def unblock_card(world: World) -> Call:
    card = await world.card(await world.customer(0))
    await world.ok(Call("POST", f"/v1/cards/{card}/block", {"reason": "lost"}))
    return Call("POST", f"/v1/cards/{card}/unblock", {"reason": "found"})


@use_case
async def block_customer(world: World) -> Call:
    customer, admin = await world.customer(0), world.api.admin_key
    return Call("POST", f"/v1/customers/{customer}/block", {"reason": "fraud"}, admin)


@use_case
async def unblock_customer(world: World) -> Call:
    customer, admin = await world.customer(0), world.api.admin_key
    await world.ok(Call("POST", f"/v1/customers/{customer}/block", {"reason": "fraud"}, admin))
    return Call("POST", f"/v1/customers/{customer}/unblock", {"reason": "cleared"}, admin)


@use_case
async def edit_customer(world: World) -> Call:
    customer, admin = await world.customer(0), world.api.admin_key
    body = {"phone": f"+7918{next(_serial):07d}", "name": "Renamed", "reason": "asked at the till"}
    return Call("PATCH", f"/v1/customers/{customer}", body, admin)


@use_case
async def record_consent(world: World) -> Call:
    customer = await world.customer(0)
    body = {"channel": "sms", "granted": True, "source": "till"}
    return Call("POST", f"/v1/customers/{customer}/consents", body)


@use_case
async def erase_customer(world: World) -> Call:
    customer, admin = await world.customer(0), world.api.admin_key
    return Call("POST", f"/v1/customers/{customer}/erase", {"reason": "asked to"}, admin)


@use_case
async def merge_customers(world: World) -> Call:
    survivor, duplicate = await world.customer(), await world.customer()
    body = {"from_customer_id": duplicate, "reason": "one person"}
    return Call("POST", f"/v1/customers/{survivor}/merge", body, world.api.admin_key)


@use_case
async def accrue(world: World) -> Call:
    customer = await world.customer(0)
    body = {"points": 100, "document": {"id": world.unique("receipt")}}
    return Call("POST", f"/v1/customers/{customer}/accruals", body)


@use_case
async def adjust(world: World) -> Call:
    customer, admin = await world.customer(0), world.api.admin_key
    body = {"points": 10, "reason": "goodwill"}
    return Call("POST", f"/v1/customers/{customer}/adjustments", body, admin)


@use_case
async def reserve(world: World) -> Call:
    customer = await world.customer()
    body = {"points": 100, "document": {"id": world.unique("receipt")}}
    return Call("POST", f"/v1/customers/{customer}/holds", body)


@use_case
async def commit(world: World) -> Call:
    hold = await world.hold(await world.customer())
    return Call("POST", f"/v1/holds/{hold}/commit", {})


@use_case
async def cancel(world: World) -> Call:
    hold = await world.hold(await world.customer())
    return Call("POST", f"/v1/holds/{hold}/cancel")


@use_case
async def refund(world: World) -> Call:
    customer = await world.customer(0)
    accrual = await world.api.accrue(customer, 300)
    body = {"document": {"id": world.unique("refund")}}
    return Call("POST", f"/v1/operations/{accrual['id']}/refunds", body)


@use_case
async def purchase(world: World) -> Call:
    customer = await world.customer(0)
    body = {"document": {"id": world.unique("receipt")}, "lines": basket}
    return Call("POST", f"/v1/customers/{customer}/purchases", body)


@use_case
async def purchase_with_promo_code(world: World) -> Call:
    customer = await world.customer(0)
    api, code = world.api, world.unique("promo").replace("-", "")
    made = await api.post(
        f"/v1/programs/{api.program_id}/promo-campaigns",
        {"name": "round trips", "effect": "bonus_points", "value": 10, "uses_max": 100},
        key=api.admin_key,
    )
    assert made.status_code == 201, made.text
    codes = await api.post(
        f"/v1/programs/{api.program_id}/promo-campaigns/{made.json()['id']}/codes",
        {"kind": "shared", "code": code},
        key=api.admin_key,
    )
    assert codes.status_code == 201, codes.text
    body = {"document": {"id": world.unique("receipt")}, "lines": basket, "promo_codes": [code]}
    return Call("POST", f"/v1/customers/{customer}/purchases", body)


@use_case
async def bonus_event(world: World) -> Call:
    customer = await world.customer(0)
    body = {"type": "review", "document": {"id": world.unique("review")}}
    return Call("POST", f"/v1/customers/{customer}/events", body)


@use_case
async def set_tier(world: World) -> Call:
    customer, admin = await world.customer(0), world.api.admin_key
    body = {"tier": "gold", "reason": "loyal since 2010"}
    return Call("PUT", f"/v1/customers/{customer}/tier", body, admin)


@use_case
async def replace_rules(world: World) -> Call:
    return Call("PUT", f"/v1/programs/{world.api.program_id}/rules", rules, world.api.admin_key)


@use_case
async def replace_message_template(world: World) -> Call:
    path = f"/v1/programs/{world.api.program_id}/messages/sms_code"
    return Call("PUT", path, {"text": "Code {code}"}, world.api.admin_key)


@use_case
async def create_program(world: World) -> Call:
    body = {"name": world.unique("program"), "currency": "RUB"}
    return Call("POST", "/v1/programs", body, world.api.admin_key)


@use_case
async def create_api_key(world: World) -> Call:
    body = {"program_id": world.api.program_id, "name": "till", "scopes": ["pos"]}
    return Call("POST", "/v1/api-keys", body | {"store_id": "s-9"}, world.api.admin_key)


@use_case
async def rotate_api_key(world: World) -> Call:
    return Call("POST", f"/v1/api-keys/{await world.key()}/rotate", {}, world.api.admin_key)


@use_case
async def revoke_api_key(world: World) -> Call:
    return Call("DELETE", f"/v1/api-keys/{await world.key()}", None, world.api.admin_key)


@use_case
async def expire(world: World) -> Call:
    return Call("POST", "/v1/expirations", None, world.api.admin_key)


@use_case
async def subscribe_webhook(world: World) -> Call:
    path = f"/v1/programs/{world.api.program_id}/webhooks"
    return Call("POST", path, {"url": "http://127.0.0.1:9/hook"}, world.api.admin_key)


@use_case
async def disable_webhook(world: World) -> Call:
    path = f"/v1/programs/{world.api.program_id}/webhooks"
    body = {"url": "http://127.0.0.1:9/hook"}
    webhook = await world.ok(Call("POST", path, body, world.api.admin_key))
    return Call("POST", f"/v1/webhooks/{webhook['id']}/disable", None, world.api.admin_key)


@use_case
async def redeliver_webhook(world: World) -> Call:
    delivery = await world.dead_delivery()
    path = f"/v1/webhook-deliveries/{delivery}/redeliver"
    return Call("POST", path, None, world.api.admin_key)


@use_case
async def retry_inbox_event(world: World) -> Call:
    connection, event = await world.dead_inbox_event()
    path = f"/v1/connections/{connection}/events/{event}/retry"
    return Call("POST", path, None, world.api.admin_key)


@use_case
async def pos_sms_send(world: World) -> Call:
    return Call("POST", "/pos/v1/sms-codes", {"customer_id": await world.customer(0)})


@use_case
async def pos_sms_confirm(world: World) -> Call:
    customer = await world.customer(0)
    check = await world.ok(Call("POST", "/pos/v1/sms-codes", {"customer_id": customer}))
    # A wrong code: the check spends a try and the answer is stored like any other.
    return Call("POST", f"/pos/v1/sms-codes/{check['check_id']}/confirm", {"code": "000000"})


@use_case
async def pos_reserve(world: World) -> Call:
    body = {"customer_id": await world.customer(), "points": 1000, "lines": basket}
    return Call("POST", f"/pos/v1/cheques/{world.unique('CHK')}/reserve", body)


@use_case
async def pos_commit(world: World) -> Call:
    cheque = await world.cheque(await world.customer())
    return Call("POST", f"/pos/v1/cheques/{cheque}/commit", {"lines": basket})


@use_case
async def pos_cancel(world: World) -> Call:
    cheque = await world.cheque(await world.customer())
    return Call("POST", f"/pos/v1/cheques/{cheque}/cancel")


@use_case
async def pos_return(world: World) -> Call:
    cheque = await world.cheque(await world.customer(), committed=True)
    body = {"return_id": world.unique("RET"), "lines": [{"line_id": "work", "quantity": 1}]}
    return Call("POST", f"/pos/v1/cheques/{cheque}/returns", body)


@use_case
async def shop_reserve(world: World) -> Call:
    body = {"customer_id": await world.customer(), "points": 1000, "lines": basket}
    return Call("POST", f"/shop/v1/carts/{world.unique('cart')}/reserve", body, world.shop_key)


@use_case
async def shop_cart_cancel(world: World) -> Call:
    cart = await world.cart(await world.customer())
    return Call("POST", f"/shop/v1/carts/{cart}/cancel", None, world.shop_key)


@use_case
async def shop_order_pay(world: World) -> Call:
    cart = await world.cart(await world.customer())
    body = {"cart_id": cart, "lines": basket}
    return Call("POST", f"/shop/v1/orders/{world.unique('order')}/pay", body, world.shop_key)


@use_case
async def shop_order_cancel(world: World) -> Call:
    order = await world.order(await world.customer())
    return Call("POST", f"/shop/v1/orders/{order}/cancel", None, world.shop_key)


@use_case
async def shop_order_return(world: World) -> Call:
    order = await world.order(await world.customer())
    body = {"return_id": world.unique("rma"), "lines": [{"line_id": "work", "quantity": 1}]}
    return Call("POST", f"/shop/v1/orders/{order}/returns", body, world.shop_key)


@use_case
async def bitrix24_event(world: World) -> Call:
    portal = world.bitrix24
    body = event_form(
        "ONCRMDEALUPDATE", str(next(_serial)), portal.domain, portal.application_token
    )
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    return Call("POST", world.receiver_path("bitrix24"), raw=body, headers=headers)


@use_case
async def retailcrm_trigger(world: World) -> Call:
    body = urlencode(world.retailcrm.trigger_form(next(_serial))).encode()
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    return Call("POST", world.receiver_path("retailcrm"), raw=body, headers=headers)


@use_case
async def shopify_webhook(world: World) -> Call:
    paid = shopify.order(phone, [shopify.line_item("1000.00")])
    body, headers = world.shopify.signed("orders/paid", paid)
    return Call("POST", world.receiver_path("shopify"), raw=body, headers=headers)


@use_case
async def woocommerce_webhook(world: World) -> Call:
    site = world.woocommerce
    order = site.set_status(site.order(phone, [("1000.00", 1)])["id"], "processing")
    delivery = site.signed("order.updated", order)
    return Call(
        "POST", world.receiver_path("woocommerce"), raw=delivery.body, headers=delivery.headers
    )


async def measure(world: World, statements: Statements, call: Call, key: str) -> tuple[int, Any]:
    statements.sent.clear()
    response = await world.send(call, key)
    await asyncio.sleep(0)  # asyncpg hands each logged statement to the loop's next turn
    return len(statements.sent), response


@pytest.fixture
async def world(api: Api, settings: Settings) -> AsyncIterator[World]:
    assert (await put_rules(api, rules)).status_code == 200
    async with api.runtime.database.transaction() as store:
        shop = await create_key(store, api.program_id_uuid, "web shop", ["shop"], None)
    assert shop.key is not None
    # The relay runs on a pool of its own, as in the worker: its deliveries, sent at once,
    # would otherwise open connections to the API's pool that the warm-up never used. Every
    # delivery (to the subscriptions the table makes) dies at its first attempt.
    assert settings.database_url is not None
    pool = await create_pool(settings.database_url, min_size=1, max_size=4)
    policy = RelayPolicy(max_attempts=1, lease_seconds=2.0, timeout_seconds=1.0)
    sender = HttpxSender(policy.timeout_seconds, settings.outbound)
    relay = Relay(PostgresDatabase(pool, api.runtime.keyring), sender, policy)
    world = World(api, shop.key, relay)
    await world.connect()
    yield world
    await sender.close()
    await pool.close()


async def test_every_mutating_call_stays_within_its_round_trips(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert set(use_cases) == set(bounds)
    statements = Statements()
    counted: dict[str, tuple[int, int]] = {}
    for run in ("warm-up", "counted"):
        for name, prepare in use_cases.items():
            call = await prepare(world)
            key = world.unique(f"{run}-{name}")
            with statements.counting(monkeypatch):
                first, answer = await measure(world, statements, call, key)
                again, replayed = await measure(world, statements, call, key)
            assert answer.is_success or answer.status_code == 409, (name, answer.text)
            assert replayed.status_code == answer.status_code, (name, replayed.text)
            if name not in shows_a_secret_once | says_it_is_a_repeat:
                assert replayed.content == answer.content, name
            counted[name] = (first, again)
    table = "\n".join(f"{name:28} {first:3} {again:3}" for name, (first, again) in counted.items())
    over = {
        name: seen
        for name, seen in counted.items()
        if any(count > bound for count, bound in zip(seen, bounds[name], strict=True))
    }
    assert not over, f"round trips over the bound (first, replay):\n{table}"
