"""Bitrix24 over real HTTP both ways: a fake portal sends form-encoded deal events to our server
on a local port and answers the REST calls our channel worker makes through its inbound
webhook. A won deal earns once however often its event comes; points a manager puts in the
deal's write-off field are spent once and the deal's amount lowered, and our own deal update's
echo changes nothing; balance, tier and card are written to the contact; a portal over its rate
limit delays the write-back without losing it; a forged or misaddressed event stores nothing;
the installer creates the fields once; a contact shows the balance after every change of it,
a till's purchase and an expiry included, through the outbox relay."""

import asyncio
from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID

import httpx
import pytest

from processing.adapters.http_sender import HttpxSender
from processing.runtime import Runtime
from processing.service.messaging.webhooks import Relay, RelayPolicy
from processing.service.records import Connection
from tests.conftest import Api
from tests.fakes.bitrix24 import FakeBitrix24, event_form
from tests.invariants import assert_ledger_clean

phone = "+79120000001"
# 10 % of the money, one point a ruble: a 10,000.00 RUB deal earns 1,000 points.
rules = {"point_value_minor": 100, "earning": {"base_bp": 1000}}
writeoff, applied = "UF_CRM_LOYALTY_WRITEOFF", "UF_CRM_LOYALTY_APPLIED"


@pytest.fixture
async def portal() -> AsyncIterator[FakeBitrix24]:
    fake = FakeBitrix24()
    runner = await fake.start()
    yield fake
    await fake.settled()
    await runner.cleanup()


@pytest.fixture
async def connection(api: Api, portal: FakeBitrix24) -> Connection:
    response = await api.client.put(
        f"/v1/programs/{api.program_id}/rules", json=rules, headers=api.headers(api.admin_key)
    )
    assert response.status_code == 200, response.text
    return await api.runtime.channels.connect(
        api.program_id_uuid,
        "bitrix24",
        portal.domain,
        {"webhook_url": portal.webhook_url, "application_token": portal.application_token},
        # Our own pacing generous here: the portal's bucket is what these tests exercise.
        {"rate_per_second": 100, "burst": 100},
    )


@pytest.fixture
def crm(server: str, portal: FakeBitrix24, connection: Connection) -> FakeBitrix24:
    portal.handler = f"{server}/hooks/bitrix24/{connection.id}"
    return portal


async def drain(runtime: Runtime, portal: FakeBitrix24) -> None:
    """Runs the worker until the portal's echoes of our own calls are handled too."""
    for _ in range(5):
        await runtime.channels.drain()
        await portal.settled()
    await runtime.channels.drain()


async def inbox(runtime: Runtime) -> list[dict[str, Any]]:
    async with runtime.pool.acquire() as db:
        rows = await db.fetch(
            "select topic, event_key, status, attempts, last_error from channel_inbox order by id"
        )
    return [dict(row) for row in rows]


async def operations(runtime: Runtime) -> list[tuple[str, int, str | None]]:
    async with runtime.pool.acquire() as db:
        rows = await db.fetch(
            "select type, points, document_id from operations where type <> 'accrual'"
            " order by created_at, id"
        )
    return [(row["type"], row["points"], row["document_id"]) for row in rows]


def calls(portal: FakeBitrix24, method: str) -> list[dict[str, Any]]:
    return [params for name, params in portal.calls if name == method]


async def test_a_won_deal_earns_once_however_often_its_event_comes(
    api: Api, crm: FakeBitrix24
) -> None:
    customer = await api.customer(phone)
    contact = crm.contact(phone)
    deal = crm.deal(contact, "10000.00")
    await crm.change(deal, STAGE_ID="WON")
    won = crm.events_sent[-1]
    assert await crm.send(won) == 200  # the queue server's duplicate
    assert await crm.send(won) == 200
    await crm.emit("ONCRMDEALUPDATE", deal)  # another event about the same deal
    await drain(api.runtime, crm)

    # The repeats came while the first event waited: folded into it, read once.
    assert [row["topic"] for row in await inbox(api.runtime)] == ["ONCRMDEALUPDATE", "call"]
    assert await operations(api.runtime) == [("purchase", 1000, f"b24-deal-{deal}")]
    assert (await api.balance(customer))["available"] == 1000
    card = crm.contacts[contact]
    assert (card["UF_CRM_LOYALTY_BALANCE"], card["UF_CRM_LOYALTY_TIER"]) == ("1000", "")

    assert await crm.send(won) == 200  # once more, after it was applied: read again, no-op
    await drain(api.runtime, crm)
    assert await operations(api.runtime) == [("purchase", 1000, f"b24-deal-{deal}")]
    assert len(calls(crm, "crm.contact.update")) == 1  # one write-back for one operation
    assert [row["status"] for row in await inbox(api.runtime)] == ["done"] * 3
    await assert_ledger_clean(api.runtime)


async def test_points_to_write_off_are_spent_once_and_lower_the_deal(
    api: Api, crm: FakeBitrix24
) -> None:
    customer = await api.customer(phone, points=500)
    await api.post(f"/v1/customers/{customer}/cards", {"number": "2000-0042"})
    contact = crm.contact(phone)
    deal = crm.deal(contact, "10000.00")
    await crm.change(deal, STAGE_ID="PREPARATION", **{writeoff: "300"})
    await crm.send(crm.events_sent[-1])  # delivered twice
    await drain(api.runtime, crm)

    assert (await api.balance(customer))["available"] == 200
    written = crm.deals[deal]
    assert (written["OPPORTUNITY"], written[writeoff], written[applied]) == ("9700.00", "0", "300")
    assert written["IS_MANUAL_OPPORTUNITY"] == "Y"
    assert len(calls(crm, "crm.deal.update")) == 1
    # Our update made the portal send another event; it was read and changed nothing.
    assert len(crm.events_sent) >= 3
    assert await operations(api.runtime) == [
        ("reserve", 300, f"b24-deal-{deal}-writeoff-300"),
        ("commit", -300, None),
    ]

    # The manager asks for 100 more, then wins the deal: the rest is money and earns.
    await crm.change(deal, **{writeoff: "100"})
    await drain(api.runtime, crm)
    await crm.change(deal, STAGE_ID="WON")
    await drain(api.runtime, crm)

    assert crm.deals[deal]["OPPORTUNITY"] == "9600.00"
    assert crm.deals[deal][applied] == "400"
    assert (await api.balance(customer))["available"] == 100 + 960
    card = crm.contacts[contact]
    assert (card["UF_CRM_LOYALTY_BALANCE"], card["UF_CRM_LOYALTY_CARD"]) == ("1060", "2000-0042")
    assert [op[0] for op in await operations(api.runtime)] == [
        "reserve", "commit", "reserve", "commit", "purchase"
    ]  # fmt: skip
    await assert_ledger_clean(api.runtime)


async def test_a_lost_deal_gives_back_the_points_its_write_offs_spent(
    api: Api, crm: FakeBitrix24
) -> None:
    customer = await api.customer(phone, points=500)
    contact = crm.contact(phone)
    deal = crm.deal(contact, "10000.00")
    await crm.change(deal, STAGE_ID="PREPARATION", **{writeoff: "300"})
    await drain(api.runtime, crm)
    await crm.change(deal, **{writeoff: "100"})
    await drain(api.runtime, crm)
    assert (await api.balance(customer))["available"] == 100
    assert crm.deals[deal]["OPPORTUNITY"] == "9600.00"

    await crm.change(deal, STAGE_ID="LOSE")
    await crm.send(crm.events_sent[-1])  # delivered twice
    await drain(api.runtime, crm)

    assert (await api.balance(customer))["available"] == 500
    written = crm.deals[deal]
    assert (written["OPPORTUNITY"], written[applied]) == ("10000.00", "400")
    assert crm.contacts[contact]["UF_CRM_LOYALTY_BALANCE"] == "500"
    refunds = [op for op in await operations(api.runtime) if op[0] == "refund"]
    assert [(kind, points) for kind, points, _ in refunds] == [("refund", 300), ("refund", 100)]
    assert [document.rsplit("-back-", 1)[0] for _, _, document in refunds if document] == [
        f"b24-deal-{deal}-writeoff-300",
        f"b24-deal-{deal}-writeoff-400",
    ]

    # Re-opened, the deal spends a new write-off (never a replay of one given back).
    await crm.change(deal, STAGE_ID="PREPARATION", **{writeoff: "50"})
    await drain(api.runtime, crm)
    assert (await api.balance(customer))["available"] == 450
    assert (crm.deals[deal]["OPPORTUNITY"], crm.deals[deal][applied]) == ("9950.00", "450")
    await assert_ledger_clean(api.runtime)


async def test_a_write_off_interrupted_after_spending_is_finished_on_the_retry(
    api: Api, crm: FakeBitrix24, monkeypatch: pytest.MonkeyPatch
) -> None:
    customer = await api.customer(phone, points=1000)
    deal = crm.deal(crm.contact(phone), "10000.00")
    channels = api.runtime.channels
    real = channels.receive
    crashed = False

    async def crash_once(connection: Connection, key: str, *args: Any, **kw: Any) -> bool:
        nonlocal crashed
        if key.startswith("call:deal:") and not crashed:
            crashed = True  # the worker dies after spending, before queueing the deal update
            raise ConnectionError("worker killed")
        return await real(connection, key, *args, **kw)

    monkeypatch.setattr(channels, "receive", crash_once)
    await crm.change(deal, **{writeoff: "300"})
    await channels.drain()
    assert (await api.balance(customer))["available"] == 700  # spent, the deal not updated yet
    assert crm.deals[deal]["OPPORTUNITY"] == "10000.00"

    async with api.runtime.pool.acquire() as db:  # the backoff has passed
        await db.execute("update channel_inbox set next_attempt_at = now()")
    await drain(api.runtime, crm)

    assert (await api.balance(customer))["available"] == 700  # spent once
    assert (crm.deals[deal]["OPPORTUNITY"], crm.deals[deal][applied]) == ("9700.00", "300")
    await assert_ledger_clean(api.runtime)


@pytest.mark.parametrize(
    ("points", "amount"),
    [pytest.param("80", "1000.00", id="beyond-the-balance"),
     pytest.param("30", "20.00", id="worth-more-than-the-deal")],
)  # fmt: skip
async def test_a_write_off_that_cannot_be_made_spends_nothing(
    api: Api, crm: FakeBitrix24, points: str, amount: str
) -> None:
    customer = await api.customer(phone, points=50)
    deal = crm.deal(crm.contact(phone), amount)
    await crm.change(deal, **{writeoff: points})
    await drain(api.runtime, crm)

    assert (await api.balance(customer))["available"] == 50
    assert crm.deals[deal]["OPPORTUNITY"] == amount
    assert calls(crm, "crm.deal.update") == []
    assert await operations(api.runtime) == []
    await assert_ledger_clean(api.runtime)


async def test_a_portal_over_its_rate_limit_delays_the_write_back_without_losing_it(
    api: Api, crm: FakeBitrix24
) -> None:
    await api.customer(phone)
    contact = crm.contact(phone)
    deal = crm.deal(contact, "10000.00")
    crm.bucket.limit, crm.bucket.drain = 1, 0.001  # one request, then QUERY_LIMIT_EXCEEDED
    await crm.change(deal, STAGE_ID="WON")
    await api.runtime.channels.drain()

    assert crm.refused >= 1
    rows = await inbox(api.runtime)
    [call] = [row for row in rows if row["topic"] == "call"]
    assert call["status"] == "pending"
    assert call["attempts"] == 0  # a busy portal spends no attempt
    assert "QUERY_LIMIT_EXCEEDED" in call["last_error"]
    assert "UF_CRM_LOYALTY_BALANCE" not in crm.contacts[contact]

    crm.bucket.level, crm.bucket.drain = 0, 2.0  # the bucket drained
    async with api.runtime.pool.acquire() as db:
        await db.execute("update channel_inbox set next_attempt_at = now()")
    await drain(api.runtime, crm)

    assert crm.contacts[contact]["UF_CRM_LOYALTY_BALANCE"] == "1000"
    assert {row["status"] for row in await inbox(api.runtime)} == {"done"}


async def test_our_own_pacing_defers_calls_past_the_portals_rate(
    api: Api, crm: FakeBitrix24, connection: Connection
) -> None:
    await api.customer(phone)
    async with api.runtime.pool.acquire() as db:  # half of 2 a second: one, no burst
        await db.execute(
            "update channel_connections set settings = $2::jsonb where id = $1",
            connection.id,
            '{"rate_per_second": 2, "burst": 2, "rate_share_percent": 50}',
        )
    contact = crm.contact(phone)
    await crm.change(crm.deal(contact, "1000.00"), STAGE_ID="WON")
    await api.runtime.channels.drain()

    [call] = [row for row in await inbox(api.runtime) if row["topic"] == "call"]
    assert (call["status"], call["attempts"]) == ("pending", 0)
    assert "rate limit" in call["last_error"]
    assert crm.refused == 0  # the portal never had to refuse us
    await asyncio.sleep(1.1)
    await api.runtime.channels.drain()
    assert crm.contacts[contact]["UF_CRM_LOYALTY_BALANCE"] == "100"


async def test_a_portal_that_is_down_is_called_again_later(api: Api, crm: FakeBitrix24) -> None:
    customer = await api.customer(phone)
    deal = crm.deal(crm.contact(phone), "500.00")
    crm.failures = 1
    await crm.change(deal, STAGE_ID="C1:WON")  # a won stage of another pipeline
    await api.runtime.channels.drain()
    [row] = await inbox(api.runtime)
    assert (row["status"], row["attempts"]) == ("pending", 1)
    assert "batch answered 503" in row["last_error"]
    assert crm.code not in row["last_error"]  # the webhook's secret code is never kept

    async with api.runtime.pool.acquire() as db:
        await db.execute("update channel_inbox set next_attempt_at = now()")
    await drain(api.runtime, crm)
    assert (await api.balance(customer))["available"] == 50


async def test_a_deal_whose_event_was_lost_is_found_by_the_sweep(
    api: Api, crm: FakeBitrix24, connection: Connection
) -> None:
    customer = await api.customer(phone)
    deal = crm.deal(crm.contact(phone), "2000.00")
    crm.hold_events = True  # the portal's queue server drops the event: it never retries
    await crm.change(deal, STAGE_ID="WON")
    crm.deal(crm.contact("+79120000777"), "100.00")  # a deal of nobody of ours
    await drain(api.runtime, crm)
    assert await operations(api.runtime) == []

    assert await api.runtime.channels.sweep() == 2  # both deals changed since the first look
    await drain(api.runtime, crm)
    assert await operations(api.runtime) == [("purchase", 200, f"b24-deal-{deal}")]
    assert (await api.balance(customer))["available"] == 200

    # The next sweep starts where this one ended (less a little overlap): the same deals
    # are read again at most; re-reading them changes nothing.
    async with api.runtime.pool.acquire() as db:
        cursor = await db.fetchval(
            "select settings->>'swept_until' from channel_connections where id = $1",
            connection.id,
        )
    assert cursor is not None
    await api.runtime.channels.sweep()
    await drain(api.runtime, crm)
    assert await operations(api.runtime) == [("purchase", 200, f"b24-deal-{deal}")]
    listed = calls(crm, "crm.deal.list")
    assert listed[-1]["filter"][">DATE_MODIFY"] < cursor


async def test_forged_or_misaddressed_events_are_refused_and_store_nothing(
    api: Api, crm: FakeBitrix24, server: str
) -> None:
    await api.customer(phone)
    deal = crm.deal(crm.contact(phone), "1000.00")
    crm.update_deal(deal, {"STAGE_ID": "WON"})
    nowhere = f"{server}/hooks/bitrix24/{UUID(int=1)}"
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    async with httpx.AsyncClient() as client:

        async def post(body: bytes, url: str = crm.handler) -> httpx.Response:
            return await client.post(url, content=body, headers=form)

        forged = await post(event_form("ONCRMDEALUPDATE", deal, crm.domain, "guessed"))
        other = await post(
            event_form("ONCRMDEALUPDATE", deal, "evil.bitrix24.ru", crm.application_token)
        )
        unknown = await post(
            event_form("ONCRMDEALUPDATE", deal, crm.domain, crm.application_token), nowhere
        )
        no_deal = await post(event_form("ONCRMDEALUPDATE", "x1", crm.domain, crm.application_token))
        not_form = await post(b"\xff\xfe")
        contact_event = await post(
            event_form("ONCRMCONTACTUPDATE", "5", crm.domain, crm.application_token)
        )

    assert [forged.status_code, other.status_code, unknown.status_code] == [401, 401, 404]
    assert forged.json()["code"] == "unauthorized"
    assert [no_deal.status_code, not_form.status_code] == [400, 400]
    assert (contact_event.status_code, contact_event.json()) == (200, {"received": False})
    assert await inbox(api.runtime) == []
    assert crm.calls == []


async def test_deals_that_cannot_apply_change_nothing_and_say_why(
    api: Api, crm: FakeBitrix24
) -> None:
    await api.customer(phone)
    in_dollars = crm.deal(crm.contact(phone), "100.00", currency="USD")
    half_point = crm.deal(crm.contact(phone), "100.00")
    stranger = crm.deal(crm.contact("+79120000999"), "100.00")
    nobody = crm.deal(None, "100.00")
    await crm.change(in_dollars, STAGE_ID="WON")
    await crm.change(half_point, **{writeoff: "10.5"})
    await crm.change(stranger, STAGE_ID="WON")
    await crm.change(nobody, STAGE_ID="WON")
    await drain(api.runtime, crm)

    rows = await inbox(api.runtime)
    assert [row["status"] for row in rows] == ["dead", "dead", "done", "done"]
    assert "USD" in rows[0]["last_error"]
    assert "whole number of points" in rows[1]["last_error"]
    assert [row["attempts"] for row in rows] == [1, 1, 1, 1]
    assert await operations(api.runtime) == []


async def test_the_installer_creates_the_fields_once(
    api: Api, crm: FakeBitrix24, connection: Connection
) -> None:
    first = await api.runtime.partners["bitrix24"].install(connection)
    again = await api.runtime.partners["bitrix24"].install(connection)

    names = ["UF_CRM_LOYALTY_WRITEOFF", "UF_CRM_LOYALTY_APPLIED", "UF_CRM_LOYALTY_BALANCE",
             "UF_CRM_LOYALTY_TIER", "UF_CRM_LOYALTY_CARD"]  # fmt: skip
    assert (first["created"], first["found"]) == (names, [])
    assert (again["created"], again["found"]) == ([], names)
    assert [f["FIELD_NAME"] for f in crm.userfields["deal"]] == names[:2]
    assert {f["USER_TYPE_ID"] for f in crm.userfields["contact"]} == {"double", "string"}


async def relay_and_drain(api: Api, portal: FakeBitrix24) -> None:
    """The outbox relay fans the balance changes out (the contact write-backs among them), then
    the channel worker makes the calls."""
    sender = HttpxSender(1.0, api.runtime.settings.outbound)
    relay = Relay(api.runtime.database, sender, RelayPolicy())
    try:
        while await relay.run_once():
            pass
    finally:
        await sender.close()
    await drain(api.runtime, portal)


async def test_a_contact_shows_the_balance_after_a_till_purchase_and_an_expiry(
    api: Api, crm: FakeBitrix24
) -> None:
    customer = await api.customer(phone)
    contact = crm.contact(phone)
    await crm.change(crm.deal(contact, "10000.00"), STAGE_ID="WON")
    await drain(api.runtime, crm)
    await relay_and_drain(api, crm)
    card = crm.contacts[contact]
    assert card["UF_CRM_LOYALTY_BALANCE"] == "1000"
    updates = len(calls(crm, "crm.contact.update"))

    line = {"line_id": "1", "sku": "wash", "quantity": 1, "unit_price_minor": 200_000}
    bought = await api.post(
        f"/v1/customers/{customer}/purchases", {"document": {"id": "R-1"}, "lines": [line]}
    )
    assert bought.status_code == 201, bought.text
    await relay_and_drain(api, crm)
    assert card["UF_CRM_LOYALTY_BALANCE"] == "1200"  # the till's purchase, on the contact

    await api.runtime.pool.execute(
        "update lots set activates_at = clock_timestamp() - interval '2 days',"
        " expires_at = clock_timestamp() - interval '1 second' where account_id = $1",
        UUID(customer),
    )
    expired = await api.post("/v1/expirations", key=api.admin_key)
    assert expired.json()["expired_points"] == 1200, expired.text
    await relay_and_drain(api, crm)
    assert card["UF_CRM_LOYALTY_BALANCE"] == "0"  # and the expiry
    # One write-back per change (the purchase's several events fold into one).
    assert len(calls(crm, "crm.contact.update")) == updates + 2
    await relay_and_drain(api, crm)
    assert len(calls(crm, "crm.contact.update")) == updates + 2


async def test_a_won_deal_from_a_promoters_form_rewards_the_promoter_once(
    api: Api, crm: FakeBitrix24
) -> None:
    """Decision 0034: the CRM form's hidden promo parameter fills the deal's promoter field;
    the won deal is the customer's first purchase, so the promoter is rewarded, once."""
    promoter = await api.customer("+79120000900")
    made = await api.post(
        f"/v1/programs/{api.program_id}/promoters",
        {"customer_id": promoter, "name": "Partner", "code": "PARTNER7", "reward_share_bp": 500},
        key=api.admin_key,
    )
    assert made.status_code == 201, made.text
    customer = await api.customer(phone)
    contact = crm.contact(phone)
    deal = crm.deal(contact, "10000.00")
    await crm.change(deal, UF_CRM_LOYALTY_PROMOTER="partner7")
    await crm.change(deal, STAGE_ID="WON")
    await drain(api.runtime, crm)
    assert (await api.balance(customer))["available"] == 1000
    assert (await api.balance(promoter))["available"] == 500  # 5 % of 10,000.00 RUB

    second = crm.deal(contact, "5000.00")
    await crm.change(second, UF_CRM_LOYALTY_PROMOTER="PARTNER7", STAGE_ID="WON")
    await drain(api.runtime, crm)
    assert (await api.balance(customer))["available"] == 1500
    assert (await api.balance(promoter))["available"] == 500  # not the first purchase
    await assert_ledger_clean(api.runtime)
