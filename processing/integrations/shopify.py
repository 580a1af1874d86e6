"""Shopify's webhooks, translated: the signature over the raw body, and orders and refunds as
receipt lines in integer minor units.

Shopify signs every delivery with ``X-Shopify-Hmac-SHA256`` = base64(HMAC-SHA256(app client
secret, raw body)) and names it with ``X-Shopify-Webhook-Id``, the same on every retry, which
is what the inbox deduplicates by. Amounts arrive as decimal strings in the shop's currency
(``"199.00"``); they become minor units exactly, or the order is refused: money is never
rounded on the way in.
"""

import base64
import hashlib
import hmac
from decimal import Decimal, InvalidOperation
from typing import Any

import msgspec

from processing.core import limits
from processing.core.model import Line

# The bounds our own API puts on a receipt line (schemas/base.py's ReceiptLine).
line_quantity_max = 100_000
unit_price_minor_max = 100_000_000_000
topics = frozenset({"orders/paid", "orders/cancelled", "refunds/create"})
# ISO 4217 currencies without minor units that a shop may sell in; the rest have two digits.
_zero_decimal_currencies = frozenset({"JPY", "KRW", "VND", "CLP", "ISK", "HUF", "TWD", "UGX"})


class Unusable(ValueError):
    """A payload we cannot act on: a retry would not change it."""


class LineItem(msgspec.Struct, kw_only=True):
    id: int
    quantity: int
    price: str
    sku: str | None = None
    variant_id: int | None = None
    product_id: int | None = None
    total_discount: str = "0"
    discount_allocations: list[dict[str, Any]] = msgspec.field(default_factory=list)


class Customer(msgspec.Struct, kw_only=True):
    id: int | None = None
    phone: str | None = None
    email: str | None = None


class Order(msgspec.Struct, kw_only=True):
    """The fields of Shopify's order payload we use; the rest are ignored, as partners add
    fields without notice."""

    id: int
    name: str | None = None
    currency: str
    phone: str | None = None
    customer: Customer | None = None
    line_items: list[LineItem] = msgspec.field(default_factory=list)


class RefundLineItem(msgspec.Struct, kw_only=True):
    line_item_id: int
    quantity: int


class Refund(msgspec.Struct, kw_only=True):
    id: int
    order_id: int
    refund_line_items: list[RefundLineItem] = msgspec.field(default_factory=list)


def signed_by(secret: str, body: bytes, header: str) -> bool:
    expected = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest())
    return hmac.compare_digest(expected, header.strip().encode())


def minor_units(amount: str, currency: str) -> int:
    """``"199.00"`` USD is 19900; ``"1500"`` JPY is 1500; ``"1.005"`` USD is refused."""
    digits = 0 if currency.upper() in _zero_decimal_currencies else 2
    try:
        scaled = Decimal(amount) * (10**digits)
    except InvalidOperation as error:
        raise Unusable(f"{amount!r} is not an amount") from error
    if scaled != scaled.to_integral_value() or scaled < 0:
        raise Unusable(f"{amount!r} is not a whole number of {currency} minor units")
    return int(scaled)


def order_of(payload: Any) -> Order:
    try:
        return msgspec.convert(payload, Order)
    except msgspec.ValidationError as error:
        raise Unusable(f"not a Shopify order: {error}") from error


def refund_of(payload: Any) -> Refund:
    try:
        return msgspec.convert(payload, Refund)
    except msgspec.ValidationError as error:
        raise Unusable(f"not a Shopify refund: {error}") from error


def phone_of(order: Order) -> str | None:
    return (order.customer.phone if order.customer else None) or order.phone


def line_of(item: LineItem, currency: str) -> Line:
    """One receipt line; what discounts took off the line is its discount, capped at its
    amount so a line never costs less than nothing."""
    if not 0 < item.quantity <= line_quantity_max:
        raise Unusable(f"line {item.id}: quantity {item.quantity} is out of range")
    unit_price = minor_units(item.price, currency)
    if unit_price > unit_price_minor_max:
        raise Unusable(f"line {item.id}: price {item.price} is out of range")
    allocated = [str(part.get("amount", "0")) for part in item.discount_allocations]
    discount = sum(minor_units(amount, currency) for amount in allocated) if allocated else 0
    discount = discount or minor_units(item.total_discount, currency)
    sku = item.sku or str(item.variant_id or item.product_id or item.id)
    return Line(
        line_id=str(item.id),
        sku=sku[:128],
        category=None,
        quantity=item.quantity,
        unit_price_minor=unit_price,
        discount_minor=min(discount, item.quantity * unit_price),
    )


def receipt_of(order: Order) -> tuple[Line, ...]:
    """The paid lines (a line with no quantity left, as after an edit, is not part of it)."""
    lines = tuple(line_of(item, order.currency) for item in order.line_items if item.quantity > 0)
    if not lines:
        raise Unusable(f"order {order.id} has no paid lines")
    if len(lines) > limits.receipt_lines_max:
        raise Unusable(f"order {order.id} has more than {limits.receipt_lines_max} lines")
    return lines


def returned_lines(refund: Refund) -> tuple[tuple[str, int], ...]:
    return tuple(
        (str(item.line_item_id), item.quantity)
        for item in refund.refund_line_items
        if item.quantity > 0
    )
