"""RetailCRM's orders translated: envelopes, float money to exact minor units, whole
quantities, the order's discount spread so it sums exactly, the points field, and custom
fields compared so an unchanged value is never written."""

from typing import Any

import pytest

from processing.service.partners.retailcrm import translation as retailcrm
from processing.service.partners.translation import Unusable


def order(items: list[dict[str, Any]], **fields: Any) -> retailcrm.Order:
    return retailcrm.order_of(
        {"success": True, "order": {"id": 1, "status": "complete", "items": items, **fields}}
    )


def item(price: float, quantity: float = 1, discount: float = 0, **fields: Any) -> dict[str, Any]:
    return {
        "id": 10,
        "initialPrice": price,
        "quantity": quantity,
        "discountManualAmount": discount,
        **fields,
    }


@pytest.mark.parametrize(
    ("amount", "currency", "minor"),
    [
        (0.1, "RUB", 10),
        (1000, "RUB", 100000),
        (333.33, "RUB", 33333),
        (0.3, "USD", 30),
        (1500, "JPY", 1500),
    ],
)
def test_money_is_exact_through_decimal_of_the_float_as_written(
    amount: float, currency: str, minor: int
) -> None:
    assert retailcrm.money(amount, currency) == minor


@pytest.mark.parametrize("amount", [10.005, -1.0, float("nan")])
def test_money_that_is_not_whole_minor_units_is_refused(amount: float) -> None:
    with pytest.raises(Unusable):
        retailcrm.money(amount, "RUB")


def test_a_line_is_its_unit_price_with_its_per_unit_discount() -> None:
    [line] = retailcrm.receipt_of(order([item(333.33, 3, 10.0, offer={"article": "A-1"})]), "RUB")
    assert (line.sku, line.quantity, line.unit_price_minor, line.discount_minor) == (
        "A-1",
        3,
        33333,
        3000,
    )


def test_a_fractional_quantity_is_refused() -> None:
    with pytest.raises(Unusable, match="whole count"):
        retailcrm.receipt_of(order([item(100.0, 1.5)]), "RUB")


@pytest.mark.parametrize(
    ("prices", "discount", "shares"),
    [
        ([600.0, 400.0], 120, [7200, 4800]),
        ([0.01, 0.01, 0.01], 0.02, [1, 1, 0]),
        ([100.0, 200.0], 0.01, [1, 0]),
        ([100.0], 100, [10000]),
    ],
)
def test_the_order_discount_is_spread_and_sums_exactly(
    prices: list[float], discount: float, shares: list[int]
) -> None:
    lines = retailcrm.receipt_of(
        order([item(p) for p in prices], discountManualAmount=discount), "RUB"
    )
    assert [line.discount_minor for line in lines] == shares
    assert sum(shares) == retailcrm.money(discount, "RUB")


def test_a_discount_above_the_order_is_refused() -> None:
    with pytest.raises(Unusable, match="exceeds"):
        retailcrm.receipt_of(order([item(10.0)], discountManualAmount=11), "RUB")


@pytest.mark.parametrize(
    ("fields", "points"),
    [
        ([], 0),
        ({}, 0),
        ({"bonus_points": None}, 0),
        ({"bonus_points": 120}, 120),
        ({"bonus_points": "50"}, 50),
    ],
)
def test_the_points_field(fields: Any, points: int) -> None:
    assert retailcrm.points_of(order([], customFields=fields), "bonus_points") == points


@pytest.mark.parametrize("value", [1.5, -3, "many"])
def test_points_that_are_not_whole_are_refused(value: Any) -> None:
    with pytest.raises(Unusable):
        retailcrm.points_of(order([], customFields={"bonus_points": value}), "bonus_points")


def test_an_unsuccessful_envelope_names_its_error() -> None:
    with pytest.raises(Unusable, match="Not found"):
        retailcrm.order_of({"success": False, "errorMsg": "Not found"})


def test_the_phone_is_the_order_s_or_else_the_customer_s() -> None:
    customer = {"id": 5, "phones": [{"number": "+7912"}]}
    assert retailcrm.phone_of(order([], customer=customer)) == "+7912"
    assert retailcrm.phone_of(order([], customer=customer, phone="+7000")) == "+7000"
    assert retailcrm.phone_of(order([])) is None


def test_only_changed_custom_fields_are_written() -> None:
    wanted = retailcrm.customer_fields(120, "gold", None)
    assert retailcrm.changed_fields([], wanted) == wanted
    shown = {"bonus_balance": 120, "bonus_tier": "gold", "bonus_card": "", "other": 1}
    assert retailcrm.changed_fields(shown, wanted) == {}
    assert retailcrm.changed_fields({**shown, "bonus_balance": 100}, wanted) == {
        "bonus_balance": 120
    }


@pytest.mark.parametrize(("minor", "major"), [(12000, 120), (12345, 123.45), (1, 0.01)])
def test_minor_units_back_to_retailcrm_numbers(minor: int, major: float) -> None:
    assert retailcrm.major_units(minor, "RUB") == major
