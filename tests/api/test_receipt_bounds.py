"""Money on a receipt is bounded: a unit price, a quantity, a line's total and the receipt's
total, each a named limit. Receipts of 500 lines × 100,000 × 1e11 minor units were accepted, and
once a customer's purchases summed past a bigint, ``tier``, ``calculate``, ``purchases`` and the
till's ``identify`` answered 500 for that customer for good. Such receipts are now refused naming
the field, a customer whose stored purchases already sum past a bigint is served again (the spend
is summed as numeric), and ``reconcile`` reports those purchases."""

from typing import Any

import pytest

from processing.core import limits
from processing.service.ledger.reconcile import reconcile
from tests.api.test_loyalty_rules_and_checkout import auto_service, put_rules
from tests.conftest import Api

PHONE = "+79161234567"
overflowing_minor = 5_000_000_000_000_000_000  # what one 500 × 100,000 × 1e11 receipt was worth


def line(index: int, quantity: int, unit_price_minor: int) -> dict[str, Any]:
    return {
        "line_id": f"l{index}",
        "sku": f"sku-{index}",
        "category": "service",
        "quantity": quantity,
        "unit_price_minor": unit_price_minor,
    }


the_old_receipt = [line(index, 100_000, 100_000_000_000) for index in range(500)]


@pytest.fixture
async def customer(api: Api) -> str:
    assert (await put_rules(api, auto_service | {"activation_delay_days": 0})).status_code == 200
    return await api.customer(PHONE)


async def priced_calls(api: Api, customer: str) -> list[int]:
    """The calls that once failed for good: the tier, a checkout quote, a purchase, identify."""
    small = [line(0, 1, 10_000)]
    tier = await api.get(f"/v1/customers/{customer}/tier")
    quote = await api.post("/v1/checkout/calculate", {"customer_id": customer, "lines": small})
    purchase = await api.post(
        f"/v1/customers/{customer}/purchases",
        {"document": {"id": f"small-{api.keys}"}, "lines": small},
    )
    identify = await api.post("/pos/v1/identify", {"identifier": {"type": "phone", "value": PHONE}})
    return [tier.status_code, quote.status_code, purchase.status_code, identify.status_code]


async def purchase_count(api: Api) -> int:
    async with api.runtime.pool.acquire() as db:
        count: int = await db.fetchval("select count(*) from purchases")
    return count


@pytest.mark.parametrize(
    ("lines", "field"),
    [
        pytest.param(the_old_receipt, "lines[0]", id="the-old-receipt"),
        pytest.param([line(0, 11, 100_000_000_000)], "lines[0]", id="line-total"),
        pytest.param(
            [line(index, 10, 100_000_000_000) for index in range(2)], "lines", id="receipt-total"
        ),
        pytest.param([line(0, 100_001, 1)], "lines[0].quantity", id="quantity"),
        pytest.param([line(0, 1, 100_000_000_001)], "lines[0].unit_price_minor", id="price"),
    ],
)
async def test_a_receipt_beyond_the_money_bounds_is_refused_naming_the_field(
    api: Api, customer: str, lines: list[dict[str, Any]], field: str
) -> None:
    before = await purchase_count(api)
    calls = [
        ("/v1/checkout/calculate", {"customer_id": customer, "lines": lines}),
        (f"/v1/customers/{customer}/purchases", {"document": {"id": "big"}, "lines": lines}),
        ("/pos/v1/cheques/BIG-1/commit", {"customer_id": customer, "lines": lines}),
    ]
    for path, body in calls:
        response = await api.post(path, body)
        assert response.status_code == 400, (path, response.text)
        assert (response.json()["code"], response.json()["field"]) == ("validation_error", field)
    assert await purchase_count(api) == before
    assert await priced_calls(api, customer) == [200, 200, 201, 200]


async def test_a_receipt_at_the_bounds_is_applied(api: Api, customer: str) -> None:
    """The control: one line of 10 × 1e11 totals exactly the receipt's bound."""
    at_bound = [line(0, 10, limits.money_minor_max)]
    response = await api.post(
        f"/v1/customers/{customer}/purchases", {"document": {"id": "at-bound"}, "lines": at_bound}
    )
    assert response.status_code == 201, response.text
    assert response.json()["amount_minor"] == limits.receipt_total_minor_max


async def test_a_customer_whose_purchases_overflowed_a_bigint_is_served_and_reconcile_says_so(
    api: Api, customer: str
) -> None:
    # Two purchases as the old code stored them, each worth 5e18: their sum passes a bigint.
    for number in range(2):
        response = await api.post(
            f"/v1/customers/{customer}/purchases",
            {"document": {"id": f"old-{number}"}, "lines": [line(0, 1, 10_000)]},
        )
        assert response.status_code == 201, response.text
    async with api.runtime.pool.acquire() as db:
        await db.execute(
            "update purchases set amount_minor = $1, money_minor = $1", overflowing_minor
        )

    assert await priced_calls(api, customer) == [200, 200, 201, 200]
    tier = await api.get(f"/v1/customers/{customer}/tier")
    assert tier.json()["tier"] == "gold"
    assert tier.json()["spend_minor"] > 2**63

    report = await reconcile(api.runtime.database)
    assert len([line for line in report.differences if line.startswith("purchase ")]) == 2
    assert [line for line in report.differences if "tier spend" in line] != []
