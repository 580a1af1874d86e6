"""Shopify's payloads become receipt lines exactly: decimal strings to minor units without
rounding, discounts taken off their line and capped there, and the HMAC checked over the raw
body, so one changed byte or another secret fails."""

import base64
import hashlib
import hmac

import pytest

from processing.service.partners.shopify import translation as shopify
from processing.service.partners.translation import Unusable, minor_units, signed_base64


@pytest.mark.parametrize(
    ("amount", "currency", "minor"),
    [("199.00", "RUB", 19900), ("1000000.00", "USD", 100_000_000), ("0.5", "EUR", 50),
     ("1500", "JPY", 1500), ("7", "rub", 700)],
)  # fmt: skip
def test_amounts_become_minor_units_exactly(amount: str, currency: str, minor: int) -> None:
    assert minor_units(amount, currency) == minor


@pytest.mark.parametrize(
    ("amount", "currency"), [("1.005", "USD"), ("12.5", "JPY"), ("-1.00", "RUB"), ("abc", "RUB")]
)
def test_amounts_that_are_no_whole_minor_units_are_refused(amount: str, currency: str) -> None:
    with pytest.raises(Unusable):
        minor_units(amount, currency)


def test_a_line_carries_its_discount_allocations_capped_at_its_amount() -> None:
    item = shopify.LineItem(
        id=5, quantity=2, price="100.00", sku=None, variant_id=77,
        discount_allocations=[{"amount": "30.00"}, {"amount": "500.00"}],
    )  # fmt: skip
    line = shopify.line_of(item, "RUB")
    assert (line.line_id, line.sku, line.quantity, line.unit_price_minor) == ("5", "77", 2, 10000)
    assert line.discount_minor == 20000  # 530.00 off a 200.00 line leaves it at zero
    plain = shopify.line_of(
        shopify.LineItem(id=6, quantity=1, price="9.99", total_discount="1.00"), "RUB"
    )
    assert (plain.sku, plain.discount_minor) == ("6", 100)


def test_an_order_with_no_paid_lines_or_a_silly_quantity_is_unusable() -> None:
    empty = shopify.order_of({"id": 1, "currency": "RUB", "line_items": []})
    with pytest.raises(Unusable, match="no paid lines"):
        shopify.receipt_of(empty)
    huge = shopify.order_of(
        {"id": 2, "currency": "RUB", "line_items": [{"id": 3, "quantity": 10**6, "price": "1.00"}]}
    )
    with pytest.raises(Unusable, match="quantity"):
        shopify.receipt_of(huge)
    with pytest.raises(Unusable, match="not a Shopify order"):
        shopify.order_of({"id": "x"})


def test_the_signature_is_checked_over_the_raw_body() -> None:
    body = b'{"id":820982911946154508}'
    header = base64.b64encode(hmac.new(b"secret", body, hashlib.sha256).digest()).decode()
    assert signed_base64("secret", body, header)
    assert not signed_base64("secret", body + b" ", header)
    assert not signed_base64("other", body, header)
    assert not signed_base64("secret", body, "")


def test_the_customer_phone_comes_from_the_customer_first() -> None:
    both = shopify.order_of(
        {"id": 1, "currency": "RUB", "phone": "+7111", "customer": {"phone": "+7222"}}
    )
    only_order = shopify.order_of({"id": 1, "currency": "RUB", "phone": "+7111", "customer": {}})
    assert (shopify.phone_of(both), shopify.phone_of(only_order)) == ("+7222", "+7111")
