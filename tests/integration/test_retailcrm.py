"""RetailCRM over real HTTP both ways: a fake account fires triggers at our receiver on a local
port and answers the API v5 reads and edits our channel worker makes. A completed order earns
once however often its trigger fires, a cancelled one takes it back, points entered on an
order are debited once and written back as its discount, the trigger our own edit fires does
nothing, a forged trigger stores nothing, an order in another currency or in fractions of a
kopeck is dead with its reason, an account over its rate or down is read and written again
later, and the rate of 10 requests a second per key holds across concurrent workers."""

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest

from processing.adapters.http_sender import HttpxSender
from processing.adapters.redis.locks import create_client
from processing.adapters.redis.rate import RedisRateLimiter
from processing.runtime import Runtime
from processing.service.messaging.webhooks import Relay, RelayPolicy
from processing.service.partners.channels import Channels
from processing.service.partners.retailcrm.install import install
from processing.service.partners.retailcrm.partner import RetailCrmPartner
from processing.service.records import Connection
from tests.conftest import Api
from tests.fakes.retailcrm import FakeRetailCrm
from tests.invariants import assert_ledger_clean

phone = "+79120000001"
# 10 % of the money, one point a ruble: a 1,000.00 RUB order earns 100 points.
rules = {"point_value_minor": 100, "earning": {"base_bp": 1000}}


@pytest.fixture
async def account() -> AsyncIterator[FakeRetailCrm]:
    fake = FakeRetailCrm(api_key=f"rcrm-{uuid4().hex}")  # its own rate window in Redis
    runner = await fake.start()
    yield fake
    await fake.settle()
    await runner.cleanup()


@pytest.fixture
async def connection(api: Api, account: FakeRetailCrm) -> Connection:
    response = await api.client.put(
        f"/v1/programs/{api.program_id}/rules", json=rules, headers=api.headers(api.admin_key)
    )
    assert response.status_code == 200, response.text
    return await api.runtime.channels.connect(
        api.program_id_uuid,
        "retailcrm",
        account.url,
        {"api_key": account.api_key, "trigger_secret": account.trigger_secret},
        {"completed_statuses": ["complete"], "cancelled_statuses": ["cancel-other", "no-call"],
         "discount_field": "bonus_discount"},  # as bonus retailcrm-install leaves it
    )  # fmt: skip


@pytest.fixture
def crm(server: str, account: FakeRetailCrm, connection: Connection) -> FakeRetailCrm:
    account.receiver = f"{server}/hooks/retailcrm/{connection.id}"
    return account


async def inbox(runtime: Runtime) -> list[dict[str, Any]]:
    async with runtime.pool.acquire() as db:
        rows = await db.fetch(
            "select status, attempts, last_error from channel_inbox order by received_at, id"
        )
    return [dict(row) for row in rows]


async def operations(runtime: Runtime) -> list[tuple[str, int]]:
    async with runtime.pool.acquire() as db:
        rows = await db.fetch("select type, points from operations order by created_at, id")
    return [(row["type"], row["points"]) for row in rows]


async def settle(api: Api, crm: FakeRetailCrm) -> None:
    """Drains the inbox until neither the worker nor the account's triggers add anything."""
    for _ in range(10):
        await crm.settle()
        if not await api.runtime.channels.drain():
            return
    raise AssertionError("the inbox never settled")


async def test_a_completed_order_earns_once_though_its_trigger_fires_three_times(
    api: Api, crm: FakeRetailCrm
) -> None:
    customer_id = await api.customer(phone)
    customer = crm.customer(phone)
    order = crm.order(customer, [(1000.0, 1), (333.33, 3)])
    crm.orders[order["id"]]["status"] = "complete"
    assert await crm.trigger(order["id"], times=3) == [200, 200, 200]
    await settle(api, crm)

    assert await operations(api.runtime) == [("purchase", 199)]
    assert (await api.balance(customer_id))["available"] == 199
    assert [row["status"] for row in await inbox(api.runtime)] == ["done"] * 3
    # The balance went to the customer card once; no order edit was needed.
    assert crm.edits == [
        (
            "customer",
            customer["id"],
            {"customFields": {"bonus_balance": 199, "bonus_tier": "", "bonus_card": ""}},
        )
    ]
    await assert_ledger_clean(api.runtime)


async def test_a_cancelled_order_takes_back_what_it_earned(api: Api, crm: FakeRetailCrm) -> None:
    customer_id = await api.customer(phone)
    order = crm.order(crm.customer(phone), [(1000.0, 1)])
    await crm.set_status(order["id"], "complete")
    await settle(api, crm)
    await crm.set_status(order["id"], "no-call")  # one of the account's cancel codes
    await crm.trigger(order["id"], times=2)
    await settle(api, crm)

    assert await operations(api.runtime) == [("purchase", 100), ("refund", -100)]
    assert (await api.balance(customer_id))["available"] == 0
    assert crm.customers[order["customer"]["id"]]["customFields"]["bonus_balance"] == 0
    await assert_ledger_clean(api.runtime)


async def test_points_on_an_order_are_debited_once_and_written_back_as_its_discount(
    api: Api, crm: FakeRetailCrm
) -> None:
    customer_id = await api.customer(phone, points=300)
    customer = crm.customer(phone)
    order = crm.order(customer, [(600.0, 1), (400.0, 1)], points=120)
    await crm.trigger(order["id"], times=2)
    await settle(api, crm)

    assert (await api.balance(customer_id))["available"] == 180
    assert crm.orders[order["id"]]["discountManualAmount"] == 120
    assert [edit for edit in crm.edits if edit[0] == "order"] == [
        ("order", order["id"], {"discountManualAmount": 120,
                                "customFields": {"bonus_discount": 120}})
    ]  # fmt: skip

    await crm.set_status(order["id"], "complete")
    await settle(api, crm)
    # 880.00 RUB were paid in money (528 + 352: 52 + 35 points, each line rounded down);
    # the 120 points were spent once.
    assert [op for op in await operations(api.runtime) if op[0] != "reserve"] == [
        ("accrual", 300),
        ("commit", -120),
        ("purchase", 87),
    ]
    assert (await api.balance(customer_id))["available"] == 267
    assert crm.customers[customer["id"]]["customFields"]["bonus_balance"] == 267

    await crm.set_status(order["id"], "cancel-other")
    await settle(api, crm)
    assert (await api.balance(customer_id))["available"] == 300
    await assert_ledger_clean(api.runtime)


async def test_points_spent_come_back_on_cancel_though_the_field_was_cleared_first(
    api: Api, crm: FakeRetailCrm
) -> None:
    customer_id = await api.customer(phone, points=300)
    order = crm.order(crm.customer(phone), [(1000.0, 1)], points=100)
    await crm.trigger(order["id"])
    await settle(api, crm)
    assert (await api.balance(customer_id))["available"] == 200

    crm.orders[order["id"]]["customFields"]["bonus_points"] = ""  # no trigger for the field
    await crm.set_status(order["id"], "cancel-other")
    await settle(api, crm)

    # What the ledger says the order spent comes back, whatever the field says now.
    assert (await api.balance(customer_id))["available"] == 300
    assert crm.orders[order["id"]]["discountManualAmount"] == 0
    await crm.trigger(order["id"], times=2)  # and only once
    await settle(api, crm)
    assert (await api.balance(customer_id))["available"] == 300
    assert [op for op in await operations(api.runtime) if op[0] != "reserve"] == [
        ("accrual", 300),
        ("commit", -100),
        ("refund", 100),
    ]
    await assert_ledger_clean(api.runtime)


async def test_points_changed_on_an_order_spend_the_new_amount_once(
    api: Api, crm: FakeRetailCrm
) -> None:
    customer_id = await api.customer(phone, points=300)
    order = crm.order(crm.customer(phone), [(1000.0, 1)], points=100)
    await crm.trigger(order["id"])
    await settle(api, crm)
    crm.orders[order["id"]]["customFields"]["bonus_points"] = 150
    await crm.trigger(order["id"], times=2)
    await settle(api, crm)

    assert (await api.balance(customer_id))["available"] == 150
    assert crm.orders[order["id"]]["discountManualAmount"] == 150
    assert [op for op in await operations(api.runtime) if op[0] != "reserve"] == [
        ("accrual", 300),
        ("commit", -100),
        ("refund", 100),
        ("commit", -150),
    ]
    await crm.set_status(order["id"], "cancel-other")
    await settle(api, crm)
    assert (await api.balance(customer_id))["available"] == 300
    await assert_ledger_clean(api.runtime)


async def test_points_add_to_the_managers_own_discount_and_a_change_moves_only_ours(
    api: Api, crm: FakeRetailCrm
) -> None:
    customer_id = await api.customer(phone, points=1000)
    order = crm.order(crm.customer(phone), [(6000.0, 1)], points=200)
    crm.orders[order["id"]]["discountManualAmount"] = 500  # the manager's own discount
    await crm.trigger(order["id"])
    await settle(api, crm)

    assert crm.shown(order["id"])["totalSumm"] == 5300  # not 5,800: both discounts stand
    assert crm.orders[order["id"]]["customFields"]["bonus_discount"] == 200
    crm.orders[order["id"]]["customFields"]["bonus_points"] = 300
    await crm.trigger(order["id"])
    await settle(api, crm)
    assert crm.orders[order["id"]]["discountManualAmount"] == 800
    crm.orders[order["id"]]["discountManualAmount"] = 900  # the manager adds 100 of theirs
    crm.orders[order["id"]]["customFields"]["bonus_points"] = ""
    await crm.set_status(order["id"], "complete")
    await settle(api, crm)

    # The points were given back and our share went with them; the manager's 600 stays, and
    # the 5,400.00 paid in money earned 540 points.
    assert crm.orders[order["id"]]["discountManualAmount"] == 600
    assert crm.orders[order["id"]]["customFields"]["bonus_discount"] == 0
    assert (await api.balance(customer_id))["available"] == 1000 + 540
    await assert_ledger_clean(api.runtime)


async def test_points_are_not_spent_before_the_account_can_remember_our_discount(
    api: Api, crm: FakeRetailCrm, connection: Connection
) -> None:
    async with api.runtime.pool.acquire() as db:
        await db.execute(
            "update channel_connections set settings = settings - 'discount_field' where id = $1",
            connection.id,
        )
    customer_id = await api.customer(phone, points=300)
    order = crm.order(crm.customer(phone), [(1000.0, 1)], points=100)
    await crm.trigger(order["id"])
    await settle(api, crm)

    [row] = await inbox(api.runtime)
    assert (row["status"], row["attempts"]) == ("dead", 1)
    assert "run bonus retailcrm-install" in row["last_error"]
    assert (await api.balance(customer_id))["available"] == 300
    assert crm.edits == []


async def test_the_trigger_our_own_edit_fires_does_nothing(api: Api, crm: FakeRetailCrm) -> None:
    await api.customer(phone, points=100)
    order = crm.order(crm.customer(phone), [(500.0, 1)], points=50)
    await crm.trigger(order["id"])
    await settle(api, crm)

    # Two triggers: the manager's, and the one our discount edit made the account fire.
    assert len(crm.triggers) == 2
    assert [row["status"] for row in await inbox(api.runtime)] == ["done", "done"]
    # The second found the order as we left it: nothing applied, nothing written again.
    assert [kind for kind, _, _ in crm.edits] == ["order", "customer"]
    assert [op for op in await operations(api.runtime) if op[0] != "reserve"] == [
        ("accrual", 100),
        ("commit", -50),
    ]
    assert len(crm.requests[crm.api_key]) == 4  # two reads, one edit each of order and customer


async def test_an_order_whose_trigger_never_came_is_found_in_the_history(
    api: Api, crm: FakeRetailCrm, connection: Connection
) -> None:
    customer_id = await api.customer(phone)
    order = crm.order(crm.customer(phone), [(1000.0, 1)])
    await crm.set_status(order["id"], "complete", trigger=False)  # the call was lost
    await settle(api, crm)
    assert await operations(api.runtime) == []

    assert await api.runtime.channels.sweep() == 1  # one order, however many changes
    await settle(api, crm)
    assert await operations(api.runtime) == [("purchase", 100)]
    assert (await api.balance(customer_id))["available"] == 100

    async with api.runtime.pool.acquire() as db:
        cursor = await db.fetchval(
            "select settings->>'history_since_id' from channel_connections where id = $1",
            connection.id,
        )
    assert cursor == str(crm.history[-1]["id"])  # the next sweep starts after it
    crm.order(crm.customer("+79120000555"), [(10.0, 1)])  # someone else's new order
    assert await api.runtime.channels.sweep() == 1  # only what changed since: the new order
    await settle(api, crm)
    assert await operations(api.runtime) == [("purchase", 100)]
    await assert_ledger_clean(api.runtime)


async def test_a_wrong_secret_or_an_unknown_connection_stores_nothing(
    api: Api, crm: FakeRetailCrm, server: str
) -> None:
    await api.customer(phone)
    order = crm.order(crm.customer(phone), [(1000.0, 1)])
    crm.orders[order["id"]]["status"] = "complete"

    assert await crm.trigger(order["id"], secret="guessed") == [401]
    crm.receiver = f"{server}/hooks/retailcrm/{UUID(int=1)}"
    assert await crm.trigger(order["id"]) == [404]

    assert await inbox(api.runtime) == []
    assert await api.runtime.channels.drain() == 0
    assert crm.requests == {}
    assert await operations(api.runtime) == []


async def test_orders_in_dollars_or_fractions_of_a_kopeck_are_dead_with_their_reason(
    api: Api, crm: FakeRetailCrm
) -> None:
    await api.customer(phone)
    customer = crm.customer(phone)
    for order in (
        crm.order(customer, [(10.0, 1)], currency="USD"),
        crm.order(customer, [(10.005, 1)]),
    ):
        crm.orders[order["id"]]["status"] = "complete"
        await crm.trigger(order["id"])
    await settle(api, crm)

    rows = await inbox(api.runtime)
    assert [(row["status"], row["attempts"]) for row in rows] == [("dead", 1), ("dead", 1)]
    assert "USD" in rows[0]["last_error"]
    assert "minor units" in rows[1]["last_error"]
    assert await operations(api.runtime) == []
    assert [edit for edit in crm.edits if edit[0] == "order"] == []
    await assert_ledger_clean(api.runtime)


@pytest.mark.parametrize("answer", ["503", "429"])
async def test_an_account_that_refuses_for_a_while_is_written_back_later(
    api: Api, crm: FakeRetailCrm, answer: str
) -> None:
    customer_id = await api.customer(phone, points=100)
    order = crm.order(crm.customer(phone), [(500.0, 1)], points=40)
    await crm.trigger(order["id"])
    if answer == "503":  # the read succeeds, the discount's edit does not
        crm.edit_failures = 1
    else:  # someone else spent the key's second (our limiter does not know of them)
        crm.requests[crm.api_key] = [time.monotonic()] * 20
    assert await api.runtime.channels.drain() == 1
    [row] = await inbox(api.runtime)
    assert (row["status"], row["attempts"]) == ("pending", 1)
    assert f"answered {answer}" in row["last_error"]
    assert crm.edits == []
    await assert_ledger_clean(api.runtime)
    # Points debited before the failed edit stay debited once; the retry only writes.
    debited = 60 if answer == "503" else 100
    assert (await api.balance(customer_id))["available"] == debited

    await asyncio.sleep(1.1)
    crm.failures = 0
    async with api.runtime.pool.acquire() as db:  # the backoff has passed
        await db.execute("update channel_inbox set next_attempt_at = now()")
    await settle(api, crm)
    assert crm.orders[order["id"]]["discountManualAmount"] == 40
    assert (await api.balance(customer_id))["available"] == 60
    await assert_ledger_clean(api.runtime)


async def test_the_rate_of_ten_requests_a_second_holds_across_concurrent_workers(
    api: Api, crm: FakeRetailCrm, redis_server: str
) -> None:
    customer_id = await api.customer(phone)
    customer = crm.customer(phone)
    for _ in range(24):
        order = crm.order(customer, [(100.0, 1)])
        crm.orders[order["id"]]["status"] = "complete"
        await crm.trigger(order["id"])
    crm.trigger_on_edit = False
    runtime = api.runtime
    clients = [create_client(redis_server) for _ in range(3)]
    workers = [
        Channels(
            runtime.database,
            runtime.runner,
            {
                "retailcrm": RetailCrmPartner(
                    runtime.database,
                    runtime.ledger,
                    runtime.loyalty,
                    runtime.partner_api,
                    RedisRateLimiter(client),
                    wait_max_seconds=30,
                )
            },
            runtime.channels.terms,
        )
        for client in clients
    ]
    try:
        # Each worker leases a few events at a time, as separate processes would.
        async def drain(worker: Channels) -> None:
            while await worker.run_once():
                pass

        await asyncio.gather(*(drain(worker) for worker in workers))
    finally:
        for client in clients:
            await client.aclose()

    assert crm.limited == 0
    assert crm.max_per_second() <= 10
    assert len(crm.requests[crm.api_key]) >= 25  # 24 reads and the customer's write-backs
    assert [row["status"] for row in await inbox(runtime)] == ["done"] * 24
    assert (await api.balance(customer_id))["available"] == 240
    assert crm.customers[customer["id"]]["customFields"]["bonus_balance"] == 240
    await assert_ledger_clean(runtime)


async def test_a_trigger_may_send_its_parameters_in_the_query_string(
    api: Api, crm: FakeRetailCrm
) -> None:
    customer_id = await api.customer(phone)
    order = crm.order(crm.customer(phone), [(1000.0, 1)])
    crm.orders[order["id"]]["status"] = "complete"
    query = {"order_id": str(order["id"]), "secret": crm.trigger_secret}
    async with httpx.AsyncClient() as client:
        sent = await client.post(crm.receiver, params=query)
        malformed = await client.post(crm.receiver, data={**query, "order_id": "7; drop"})
    await settle(api, crm)

    assert (sent.status_code, sent.json()) == (200, {"received": True})
    assert malformed.status_code in (400, 422)
    assert malformed.json()["field"] == "order_id"
    assert len(await inbox(api.runtime)) == 1
    assert (await api.balance(customer_id))["available"] == 100


async def test_points_the_customer_does_not_have_are_refused_and_the_price_stays(
    api: Api, crm: FakeRetailCrm
) -> None:
    customer_id = await api.customer(phone, points=30)
    order = crm.order(crm.customer(phone), [(500.0, 1)], points=50)
    await crm.trigger(order["id"], times=2)
    await settle(api, crm)

    assert [row["status"] for row in await inbox(api.runtime)] == ["done", "done"]
    assert crm.orders[order["id"]]["discountManualAmount"] == 0
    assert [kind for kind, _, _ in crm.edits] == ["customer"]  # the balance, unchanged points
    assert (await api.balance(customer_id))["available"] == 30
    await crm.set_status(order["id"], "complete")  # paid in full: it earns on all of it
    await settle(api, crm)
    assert (await api.balance(customer_id))["available"] == 80
    await assert_ledger_clean(api.runtime)


async def test_with_redis_down_the_limiter_lets_calls_through() -> None:
    client = create_client("redis://127.0.0.1:1/0")  # nothing listens there
    try:
        limiter = RedisRateLimiter(client)
        assert await asyncio.wait_for(limiter.acquire("any-key", 10, 1), timeout=5) == 0
    finally:
        await client.aclose()


async def test_the_installer_creates_the_custom_fields_once(
    api: Api, crm: FakeRetailCrm, connection: Connection
) -> None:
    crm.custom_fields["order"]["bonus_points"] = {  # a manager made this one by hand
        "name": "Баллы", "code": "bonus_points", "type": "integer"
    }  # fmt: skip
    first = await install(api.runtime.partners["retailcrm"], connection)
    again = await install(api.runtime.partners["retailcrm"], connection)

    created = ["order.bonus_discount", "customer.bonus_balance", "customer.bonus_tier",
               "customer.bonus_card"]  # fmt: skip
    assert (first["created"], first["found"]) == (created, ["order.bonus_points"])
    assert (again["created"], sorted(again["found"])) == (
        [],
        sorted([*created, "order.bonus_points"]),
    )
    assert crm.custom_fields["order"]["bonus_discount"]["type"] == "numeric"
    assert crm.custom_fields["order"]["bonus_discount"]["viewMode"] == "not_editable"
    assert {field["type"] for field in crm.custom_fields["customer"].values()} == {
        "integer", "string"
    }  # fmt: skip
    found = await api.runtime.channels.connection(connection.id)
    assert found is not None
    assert found.settings["discount_field"] == "bonus_discount"


async def test_the_customer_shows_the_balance_after_a_till_purchase(
    api: Api, crm: FakeRetailCrm
) -> None:
    customer_id = await api.customer(phone)
    customer = crm.customer(phone)
    order = crm.order(customer, [(1000.0, 1)])
    await crm.set_status(order["id"], "complete")
    await settle(api, crm)
    assert crm.customers[customer["id"]]["customFields"]["bonus_balance"] == 100

    line = {"line_id": "1", "sku": "wash", "quantity": 1, "unit_price_minor": 50_000}
    bought = await api.post(
        f"/v1/customers/{customer_id}/purchases", {"document": {"id": "R-1"}, "lines": [line]}
    )
    assert bought.status_code == 201, bought.text
    sender = HttpxSender(1.0, api.runtime.settings.outbound)
    try:  # the outbox relay hands the balance change to the channel inbox
        relay = Relay(api.runtime.database, sender, RelayPolicy())
        while await relay.run_once():
            pass
    finally:
        await sender.close()
    await settle(api, crm)

    assert crm.customers[customer["id"]]["customFields"]["bonus_balance"] == 150
    assert crm.edits[-1] == (
        "customer",
        customer["id"],
        {"customFields": {"bonus_balance": 150, "bonus_tier": "", "bonus_card": ""}},
    )
