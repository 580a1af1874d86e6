"""Gift certificates paying at checkout (decision 0033), through the till's and the web shop's
protocols and ``/v1``: a certificate pays part of a receipt alongside points, in the purchase's
own transaction, and the money it pays earns no points; every refusal names its field and writes
nothing (a wrong PIN is only counted); a return by line gives the certificate's share back to
it; tills paying with one certificate at once never take it below zero; and a certificate's
whole life (sale, two redemptions, a return, its expiry) leaves a reconciling ledger."""

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from processing.core import limits
from processing.service.admin import create_key
from processing.settings import Settings
from tests.api.test_certificates import lookup, sold, wrong
from tests.api.test_loyalty_rules_and_checkout import receipt_line
from tests.api.test_pos import basket, customer_at_till, till
from tests.conftest import Api
from tests.invariants import assert_ledger_clean


@pytest.fixture
async def shop_key(api: Api) -> str:
    async with api.runtime.database.transaction() as store:
        created = await create_key(store, api.program_id_uuid, "web shop", ["shop"], None)
    assert created.key is not None
    return created.key


def paying(certificate: dict[str, Any], amount: int, **changed: Any) -> dict[str, Any]:
    return {
        "number": certificate["number"],
        "pin": certificate["pin"],
        "amount_minor": amount,
    } | changed


async def balance_of(api: Api, certificate: dict[str, Any]) -> int:
    read = await api.get(f"/v1/certificates/{certificate['id']}", key=api.admin_key)
    balance: int = read.json()["balance_minor"]
    return balance


async def certificate_operations(api: Api) -> list[str]:
    async with api.runtime.pool.acquire() as connection:
        rows = await connection.fetch("select type from certificate_operations order by seq")
    return [row["type"] for row in rows]


async def purchases(api: Api) -> int:
    async with api.runtime.pool.acquire() as connection:
        count: int = await connection.fetchval(
            "select count(*) from operations where type = 'purchase'"
        )
    return count


async def test_a_certificate_pays_part_of_a_cheque_alongside_points(api: Api) -> None:
    """10,000 rubles: 3,000 in points, 2,000 by certificate. The lines earn 5 % on what is left
    once the certificate's share is off: 100 + 150 points, not the 350 money alone would earn."""
    customer = await customer_at_till(api)
    certificate = await sold(api, 500_000)
    quote = await till(
        api,
        "/calculate",
        {
            "customer_id": customer,
            "lines": basket,
            "redeem_points": 3000,
            "certificates": [paying(certificate, 200_000)],
        },
        idempotency_key=None,
    )
    assert quote.status_code == 200, quote.text
    priced = quote.json()
    assert (priced["money_minor"], priced["certificate_minor"], priced["earned_points"]) == (
        700_000,
        200_000,
        250,
    )
    assert [line["certificate_minor"] for line in priced["lines"]] == [80_000, 120_000]
    assert priced["certificates"] == [
        {"number": certificate["number"], "amount_minor": 200_000, "balance_after": 300_000}
    ]
    assert await balance_of(api, certificate) == 500_000  # a quote redeems nothing

    held = await till(
        api, "/cheques/A-1/reserve", {"customer_id": customer, "points": 3000, "lines": basket}
    )
    assert held.status_code == 201, held.text
    body = {"lines": basket, "certificates": [paying(certificate, 200_000)]}
    committed = await till(api, "/cheques/A-1/commit", body, idempotency_key="commit-A-1")
    assert committed.status_code == 200, committed.text
    receipt = committed.json()["receipt"]
    assert (receipt["redeemed_points"], receipt["money_minor"], receipt["earned_points"]) == (
        3000,
        700_000,
        250,
    )
    assert receipt["certificate_minor"] == 200_000
    assert receipt["certificates"] == priced["certificates"]
    replayed = await till(api, "/cheques/A-1/commit", body, idempotency_key="commit-A-1")
    assert replayed.content == committed.content
    assert await balance_of(api, certificate) == 300_000
    assert await certificate_operations(api) == ["sale", "redemption"]
    await assert_ledger_clean(api.runtime)


async def test_a_refused_certificate_leaves_no_purchase(api: Api) -> None:
    """Each refusal answers 4xx naming the certificate's field; the hold stays active, no
    purchase is written and the certificate keeps its balance. Only a wrong PIN is counted."""
    customer = await customer_at_till(api)
    good = await sold(api, 100_000)
    unsold = (
        await api.post(
            f"/v1/programs/{api.program_id}/certificates",
            {"nominal_minor": 100_000, "expires_at": in_days(30)},
            key=api.admin_key,
        )
    ).json()["certificates"][0]
    expired = await sold(api, 100_000)
    blocked = await sold(api, 100_000)
    async with api.runtime.pool.acquire() as connection:
        await connection.execute(
            "update certificates set expires_at = clock_timestamp() - interval '1 second' "
            "where id = $1",
            expired["id"],
        )
    for _ in range(limits.certificate_wrong_pins_max):
        await lookup(api, blocked["number"], wrong(blocked["pin"]))
    held = await till(
        api, "/cheques/B-1/reserve", {"customer_id": customer, "points": 1000, "lines": basket}
    )
    assert held.status_code == 201, held.text

    pin, amount, number = (
        "certificates[0].pin",
        "certificates[0].amount_minor",
        "certificates[0].number",
    )
    cases = [
        ([paying(good, 1000, pin=wrong(good["pin"]))], 422, "certificate_pin_invalid", pin),
        ([paying(blocked, 1000)], 409, "certificate_blocked", pin),
        ([paying(unsold, 1000)], 409, "certificate_not_active", number),
        ([paying(expired, 1000)], 409, "certificate_expired", number),
        ([paying(good, 100_001)], 409, "certificate_insufficient_balance", amount),
        ([paying(good, 10), paying(good, 10)], 400, "validation_error", "certificates[1].number"),
        ([paying(good, 10, number="1234567890123452")], 404, "certificate_not_found", number),
    ]
    for offered, status, code, field in cases:
        answer = await till(api, "/cheques/B-1/commit", {"lines": basket, "certificates": offered})
        assert (answer.status_code, answer.json()["code"], answer.json().get("field")) == (
            status,
            code,
            field,
        ), answer.text
        if code == "certificate_pin_invalid":  # counted, as a lookup counts it
            read = await api.get(f"/v1/certificates/{good['id']}", key=api.admin_key)
            assert read.json()["wrong_pins"] == 1
    # The receipt leaves 9,000 rubles to money: a certificate may not pay more than that.
    small = [receipt_line("bolt", 500)]
    more_than_money = await till(
        api,
        "/cheques/B-1/commit",
        {"lines": small, "points": 100, "certificates": [paying(good, 45_000)]},
    )
    assert (more_than_money.json()["code"], more_than_money.json()["field"]) == (
        "certificate_exceeds_receipt",
        "certificates",
    )
    # A purchase refused for its own reason takes nothing of the certificate either.
    over_hold = await till(
        api,
        "/cheques/B-1/commit",
        {"lines": basket, "points": 5000, "certificates": [paying(good, 1000)]},
    )
    assert over_hold.json()["code"] == "commit_exceeds_hold"
    too_many = await till(
        api,
        "/cheques/B-1/commit",
        {
            "lines": basket,
            "certificates": [paying(good, 1)] * (limits.certificates_per_receipt_max + 1),
        },
    )
    assert too_many.status_code == 400

    assert await purchases(api) == 0
    assert await certificate_operations(api) == ["sale", "sale", "sale"]
    assert await balance_of(api, good) == 100_000
    hold = await api.get(f"/v1/holds/{held.json()['id']}")
    assert hold.json()["status"] == "active"
    await assert_ledger_clean(api.runtime)

    # A cancelled cheque releases its points; the certificate was never held, so it is as it was.
    cancelled = await till(api, "/cheques/B-1/cancel", None)
    assert cancelled.status_code == 200, cancelled.text
    assert await balance_of(api, good) == 100_000


def in_days(days: int) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).isoformat()


async def test_tills_paying_with_one_certificate_at_once_never_take_it_below_zero(
    api: Api,
) -> None:
    """Ten tills each pay 30,000 of a 100,000 certificate at once, for ten customers: three
    succeed, seven are refused for its balance, and it holds 10,000."""
    certificate = await sold(api, 100_000)
    customers = [await api.customer(phone=f"+7916000{index:04d}") for index in range(10)]
    keys = []
    async with api.runtime.database.transaction() as store:
        for index in range(10):
            made = await create_key(store, api.program_id_uuid, f"till {index}", ["pos"], "store-1")
            assert made.key is not None
            keys.append(made.key)
    line = [receipt_line("gift", 1000)]

    async def pay(index: int) -> Any:
        body = {
            "customer_id": customers[index],
            "lines": line,
            "certificates": [paying(certificate, 30_000)],
        }
        return await till(api, f"/cheques/C-{index}/commit", body, key=keys[index])

    answers = await asyncio.gather(*(pay(index) for index in range(10)))
    codes = sorted(answer.json().get("code", "ok") for answer in answers)
    assert codes == ["certificate_insufficient_balance"] * 7 + ["ok"] * 3, codes
    assert await balance_of(api, certificate) == 10_000
    balances = sorted(
        answer.json()["receipt"]["certificates"][0]["balance_after"]
        for answer in answers
        if answer.status_code == 200
    )
    assert balances == [10_000, 40_000, 70_000]
    await assert_ledger_clean(api.runtime)


async def test_a_certificates_life_through_the_till_and_the_web_shop(
    api: Api, shop_key: str
) -> None:
    """Sold; pays 2,000 of a cheque at the till and 1,000 of an order in the web shop; the
    till's return of a line gives its 1,200 back; at its expiry the 3,200 left burns to
    breakage. The ledger reconciles at every step, and the liability report follows."""
    customer = await customer_at_till(api)
    certificate = await sold(api, 500_000)

    held = await till(
        api, "/cheques/L-1/reserve", {"customer_id": customer, "points": 3000, "lines": basket}
    )
    assert held.status_code == 201, held.text
    first = await till(
        api,
        "/cheques/L-1/commit",
        {"lines": basket, "certificates": [paying(certificate, 200_000)]},
    )
    assert first.status_code == 200, first.text
    assert first.json()["receipt"]["certificates"][0]["balance_after"] == 300_000
    await assert_ledger_clean(api.runtime)

    found = await lookup(api, certificate["number"], certificate["pin"], shop_key, "/shop/v1")
    assert found.json()["balance_minor"] == 300_000
    order = [receipt_line("book", 2000)]
    paid = await api.post(
        "/shop/v1/orders/W-1/pay",
        {"customer_id": customer, "lines": order, "certificates": [paying(certificate, 100_000)]},
        key=shop_key,
    )
    assert paid.status_code == 200, paid.text
    receipt = paid.json()["receipt"]
    assert (receipt["certificate_minor"], receipt["earned_points"]) == (100_000, 50)
    assert receipt["certificates"][0]["balance_after"] == 200_000
    await assert_ledger_clean(api.runtime)

    returned = await till(
        api,
        "/cheques/L-1/returns",
        {"return_id": "R-1", "lines": [{"line_id": "work", "quantity": 1}]},
    )
    assert returned.status_code == 201, returned.text
    refund = returned.json()
    assert (refund["points_returned"], refund["points_clawed_back"]) == (1800, 150)
    assert refund["certificate_minor"] == 120_000
    assert refund["certificates"] == [
        {"number": certificate["number"], "amount_minor": 120_000, "balance_after": 320_000}
    ]
    assert refund["lines"][0]["certificate_minor"] == 120_000
    assert await balance_of(api, certificate) == 320_000
    await assert_ledger_clean(api.runtime)

    async with api.runtime.pool.acquire() as connection:
        await connection.execute(
            "update certificates set expires_at = clock_timestamp() - interval '1 second' "
            "where id = $1",
            certificate["id"],
        )
    swept = await api.post("/v1/expirations", None, key=api.admin_key)
    assert swept.status_code == 200, swept.text
    assert (swept.json()["expired_certificates"], swept.json()["burned_minor"]) == (1, 320_000)
    again = await api.post("/v1/expirations", None, key=api.admin_key)
    assert again.json()["expired_certificates"] == 0
    read = await api.get(f"/v1/certificates/{certificate['id']}", key=api.admin_key)
    assert (read.json()["state"], read.json()["balance_minor"]) == ("expired", 0)

    statement = await api.get(f"/v1/certificates/{certificate['id']}/operations", key=api.admin_key)
    history = reversed(statement.json()["items"])
    assert [(item["type"], item["amount_minor"], item["balance_after"]) for item in history] == [
        ("sale", 500_000, 500_000),
        ("redemption", 200_000, 300_000),
        ("redemption", 100_000, 200_000),
        ("refund", 120_000, 320_000),
        ("expiry", 320_000, 0),
    ]  # fmt: skip
    liability = await api.get(
        f"/v1/programs/{api.program_id}/certificates/liability", key=api.admin_key
    )
    assert {k: v for k, v in liability.json().items() if k.endswith("_minor")} == {
        "sold_minor": 500_000,
        "redeemed_minor": 180_000,
        "breakage_minor": 320_000,
        "outstanding_minor": 0,
    }
    async with api.runtime.pool.acquire() as connection:
        told = await connection.fetch(
            "select type from outbox where type like 'certificate.%' order by id"
        )
    assert [row["type"] for row in told] == [
        "certificate.sold",
        "certificate.redeemed",
        "certificate.redeemed",
        "certificate.refunded",
        "certificate.expired",
    ]
    await assert_ledger_clean(api.runtime)


async def test_v1_purchase_and_commit_take_certificates(api: Api) -> None:
    customer = await customer_at_till(api)
    certificate = await sold(api, 100_000)
    bought = await api.post(
        f"/v1/customers/{customer}/purchases",
        {
            "document": {"id": "v1-1"},
            "lines": [receipt_line("book", 1000)],
            "certificates": [paying(certificate, 40_000)],
        },
    )
    assert bought.status_code == 201, bought.text
    assert bought.json()["certificates"][0]["balance_after"] == 60_000
    assert bought.json()["earned_points"] == 30  # 5 % of the 600 rubles paid in money

    held = await api.reserve(customer, 100, lines=[receipt_line("pen", 1000)])
    assert held.status_code == 201, held.text
    no_receipt = await api.post(
        f"/v1/holds/{held.json()['id']}/commit",
        {"points": 100, "certificates": [paying(certificate, 10_000)]},
    )
    assert no_receipt.status_code == 200, no_receipt.text  # the hold carries its receipt
    assert no_receipt.json()["receipt"]["certificates"][0]["balance_after"] == 50_000
    await assert_ledger_clean(api.runtime)


async def test_certificate_events_reach_a_webhook_that_wants_them(
    api: Api, settings: Settings
) -> None:
    """The relay delivers a certificate's money events, which name no points operation, to a
    subscription that asked for them, and only those."""
    from processing.adapters.http_sender import HttpxSender
    from processing.service.messaging.webhooks import Relay
    from tests.fakes.webhook_receiver import webhook_receiver
    from tests.integration.test_webhooks import drain, fast, subscribe

    customer = await customer_at_till(api)
    async with webhook_receiver() as receiver:
        created = await subscribe(api, receiver.url, ["certificate.sold", "certificate.redeemed"])
        assert created.status_code == 201, created.text
        certificate = await sold(api, 100_000)
        paid = await till(
            api,
            "/cheques/H-1/commit",
            {
                "customer_id": customer,
                "lines": [receipt_line("gift", 500)],
                "certificates": [paying(certificate, 20_000)],
            },
        )
        assert paid.status_code == 200, paid.text
        sender = HttpxSender(fast.timeout_seconds, settings.outbound)
        relay = Relay(api.runtime.database, sender, fast)

        async def both() -> bool:
            return len(receiver.received) >= 2

        try:
            await drain(relay, both)
            await relay.run_once()
        finally:
            await sender.close()
    told = {json.loads(item.body)["type"]: json.loads(item.body) for item in receiver.received}
    assert sorted(told) == ["certificate.redeemed", "certificate.sold"]
    assert len(receiver.received) == 2
    redeemed = told["certificate.redeemed"]["data"]
    assert (redeemed["number"], redeemed["amount_minor"], redeemed["balance_after"]) == (
        certificate["number"],
        20_000,
        80_000,
    )


async def test_a_receipt_with_a_code_a_certificate_and_points_commits_and_returns_right(
    api: Api, shop_key: str
) -> None:
    """Issue 22's receipt, at the till and in the web shop: 10,000 rubles, 3,000 paid in points,
    2,000 by certificate, and a code worth 100 points. The money left (5,000) earns 5 %: 250,
    and the code's 100 spread by the lines' money: 40 and 60. Returning the 6,000-ruble line
    gives back its 1,800 points and its 1,200 of the certificate, and takes back its 210."""
    from tests.api.test_promo_codes import shared

    customer = await customer_at_till(api)
    campaign_id = await shared(api, "AUTUMN25")
    certificate = await sold(api, 1_000_000)
    body = {
        "lines": basket,
        "promo_codes": ["autumn-25"],
        "certificates": [paying(certificate, 200_000)],
    }
    quote = await till(
        api,
        "/calculate",
        {"customer_id": customer, "redeem_points": 3000, **body},
        idempotency_key=None,
    )
    assert quote.status_code == 200, quote.text
    assert [line["earned_points"] for line in quote.json()["lines"]] == [140, 210]

    orders = [("till", "/pos/v1/cheques/P-1", None), ("shop", "/shop/v1/orders/P-2", shop_key)]
    for name, path, key in orders:
        held = await api.post(
            "/pos/v1/cheques/P-1/reserve" if name == "till" else "/shop/v1/carts/cart-P/reserve",
            {"customer_id": customer, "points": 3000, "lines": basket},
            key=key,
        )
        assert held.status_code == 201, held.text
        paying_body = body if name == "till" else body | {"cart_id": "cart-P"}
        paid = await api.post(
            f"{path}/commit" if name == "till" else f"{path}/pay", paying_body, key=key
        )
        assert paid.status_code == 200, paid.text
        receipt = paid.json()["receipt"]
        assert (receipt["redeemed_points"], receipt["certificate_minor"]) == (3000, 200_000)
        assert [line["earned_points"] for line in receipt["lines"]] == [140, 210]
        assert [line["promo_points"] for line in receipt["lines"]] == [40, 60]
        assert [line["certificate_minor"] for line in receipt["lines"]] == [80_000, 120_000]
        returned = await api.post(
            f"{path}/returns",
            {"return_id": f"R-{name}", "lines": [{"line_id": "work", "quantity": 1}]},
            key=key,
        )
        assert returned.status_code == 201, returned.text
        refund = returned.json()
        assert (refund["points_returned"], refund["points_clawed_back"]) == (1800, 210)
        assert refund["certificate_minor"] == 120_000
        await assert_ledger_clean(api.runtime)
    assert (await usage_of(api, campaign_id)) == 2
    assert await balance_of(api, certificate) == 1_000_000 - 2 * 200_000 + 2 * 120_000


async def usage_of(api: Api, campaign_id: str) -> int:
    from tests.api.test_promo_codes import usage

    used: int = (await usage(api, campaign_id))["used"]
    return used


async def test_a_return_after_the_certificate_expired_sends_its_share_to_breakage(
    api: Api,
) -> None:
    """A certificate closed by the sweep holds nothing again: the returned lines' share of it
    goes to breakage, and the ledger still reconciles."""
    customer = await customer_at_till(api)
    certificate = await sold(api, 300_000)
    paid = await till(
        api,
        "/cheques/X-1/commit",
        {"customer_id": customer, "lines": basket, "certificates": [paying(certificate, 250_000)]},
    )
    assert paid.status_code == 200, paid.text
    async with api.runtime.pool.acquire() as connection:
        await connection.execute(
            "update certificates set expires_at = clock_timestamp() - interval '1 second' "
            "where id = $1",
            certificate["id"],
        )
    swept = await api.post("/v1/expirations", None, key=api.admin_key)
    assert swept.json()["burned_minor"] == 50_000
    returned = await till(
        api,
        "/cheques/X-1/returns",
        {"return_id": "XR-1", "lines": [{"line_id": "oil", "quantity": 1}]},
    )
    assert returned.status_code == 201, returned.text
    assert returned.json()["certificates"] == [
        {"number": certificate["number"], "amount_minor": 100_000, "balance_after": 0}
    ]
    assert await balance_of(api, certificate) == 0
    liability = await api.get(
        f"/v1/programs/{api.program_id}/certificates/liability", key=api.admin_key
    )
    assert (liability.json()["breakage_minor"], liability.json()["redeemed_minor"]) == (
        150_000,
        150_000,
    )
    assert liability.json()["outstanding_minor"] == 0
    await assert_ledger_clean(api.runtime)


async def test_calculate_refuses_a_wrong_pin_and_counts_it(api: Api) -> None:
    customer = await customer_at_till(api)
    certificate = await sold(api, 100_000)
    for path in ("/v1/checkout/calculate", "/pos/v1/calculate"):
        quote = await api.post(
            path,
            {
                "customer_id": customer,
                "lines": basket,
                "certificates": [paying(certificate, 1000, pin=wrong(certificate["pin"]))],
            },
            idempotency_key=None,
        )
        assert (quote.status_code, quote.json()["field"]) == (422, "certificates[0].pin")
    read = await api.get(f"/v1/certificates/{certificate['id']}", key=api.admin_key)
    assert read.json()["wrong_pins"] == 2


@pytest.mark.parametrize("protocol", ["till", "shop", "v1"])
async def test_every_protocol_refuses_a_short_certificate_writing_nothing(
    api: Api, shop_key: str, protocol: str
) -> None:
    customer = await customer_at_till(api)
    certificate = await sold(api, 10_000)
    offered = [paying(certificate, 10_001)]
    lines = [receipt_line("gift", 500)]
    if protocol == "till":
        body = {"customer_id": customer, "lines": lines, "certificates": offered}
        answer = await till(api, "/cheques/S-1/commit", body)
    elif protocol == "shop":
        body = {"customer_id": customer, "lines": lines, "certificates": offered}
        answer = await api.post("/shop/v1/orders/S-1/pay", body, key=shop_key)
    else:
        body = {"document": {"id": "S-1"}, "lines": lines, "certificates": offered}
        answer = await api.post(f"/v1/customers/{customer}/purchases", body)
    assert (answer.status_code, answer.json()["code"], answer.json()["field"]) == (
        409,
        "certificate_insufficient_balance",
        "certificates[0].amount_minor",
    )
    assert await purchases(api) == 0
    assert await certificate_operations(api) == ["sale"]
    assert await balance_of(api, certificate) == 10_000
    await assert_ledger_clean(api.runtime)
