"""WooCommerce's orders become receipt lines whose amounts are exactly what the customer paid:
a line total that does not divide by its quantity loses no minor unit, a coupon is the line's
discount, refunds return the lines they name, and only the shop's own ping passes unsigned."""

from decimal import Decimal

import pytest

from processing.service.partners.translation import Unusable
from processing.service.partners.woocommerce import translation as woocommerce


def item(subtotal: str, total: str, quantity: int, **fields: object) -> woocommerce.LineItem:
    return woocommerce.LineItem(id=7, quantity=quantity, subtotal=subtotal, total=total, **fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("subtotal", "total", "quantity", "unit", "discount"),
    [("1000.00", "1000.00", 1, 100000, 0),
     ("100.00", "100.00", 3, 3334, 2),      # 33.333… a unit: rounded up, the rest off the line
     ("200.00", "150.00", 2, 10000, 5000),  # a coupon took 50.00 off
     ("0.00", "0.00", 1, 0, 0)],
)  # fmt: skip
def test_a_line_amounts_to_exactly_its_total(
    subtotal: str, total: str, quantity: int, unit: int, discount: int
) -> None:
    line = woocommerce.line_of(item(subtotal, total, quantity), "RUB")
    assert (line.unit_price_minor, line.discount_minor) == (unit, discount)
    paid = line.quantity * line.unit_price_minor - line.discount_minor
    assert paid == int(Decimal(total) * 100)


def test_a_line_is_named_by_its_sku_or_else_its_product() -> None:
    assert woocommerce.line_of(item("1.00", "1.00", 1, sku="TEA-1"), "RUB").sku == "TEA-1"
    assert woocommerce.line_of(item("1.00", "1.00", 1, sku="", product_id=90), "RUB").sku == "90"
    variation = item("1.00", "1.00", 1, product_id=90, variation_id=91)
    assert woocommerce.line_of(variation, "RUB").sku == "91"


@pytest.mark.parametrize("quantity", [0, -1, 100_001])
def test_a_quantity_out_of_range_is_refused(quantity: int) -> None:
    with pytest.raises(Unusable, match="quantity"):
        woocommerce.line_of(item("1.00", "1.00", quantity), "RUB")


def test_an_order_with_no_paid_lines_is_refused() -> None:
    order = woocommerce.Order(id=1, status="processing", currency="RUB", line_items=[])
    with pytest.raises(Unusable, match="no paid lines"):
        woocommerce.receipt_of(order)


def returned(quantity: int, key: str, value: str) -> dict[str, object]:
    return {"id": 1, "quantity": quantity, "meta_data": [{"key": key, "value": value}]}


def test_a_refund_returns_the_lines_it_names() -> None:
    refunds = woocommerce.refunds_of(
        [
            {
                "id": 9,
                "amount": "350.00",
                "line_items": [
                    returned(-2, "_refunded_item_id", "71"),
                    returned(-1, "_reduced_stock", "1"),  # names no order line
                    returned(0, "_refunded_item_id", "72"),  # nothing went back
                ],
            },
            {"id": 10, "amount": "50.00", "line_items": []},  # money alone
        ]
    )
    assert [woocommerce.returned_lines(refund) for refund in refunds] == [(("71", 2),), ()]


def test_payloads_that_are_no_order_are_refused() -> None:
    with pytest.raises(Unusable, match="not a WooCommerce order"):
        woocommerce.order_of({"id": "x", "status": "processing"})
    with pytest.raises(Unusable, match="not a WooCommerce refund list"):
        woocommerce.refunds_of({"id": 1})


@pytest.mark.parametrize(
    ("body", "ping"),
    [(b"webhook_id=17", True), (b"webhook_id=", False), (b"webhook_id=17&x=1", False),
     (b'{"id": 1}', False), (b"webhook_id=" + b"1" * 21, False)],
)  # fmt: skip
def test_only_the_shops_own_ping_passes_unsigned(body: bytes, ping: bool) -> None:
    assert woocommerce.is_ping(body) is ping
