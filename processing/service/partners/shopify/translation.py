"""Shopify's webhooks, translated: the signature over the raw body, and orders and refunds as
receipt lines in integer minor units.

Shopify signs every delivery with ``X-Shopify-Hmac-SHA256`` = base64(HMAC-SHA256(app client
secret, raw body)) and names it with ``X-Shopify-Webhook-Id``, the same on every retry, which
is what the inbox deduplicates by. Amounts arrive as decimal strings in the shop's currency
(``"199.00"``); they become minor units exactly, or the order is refused: money is never
rounded on the way in.
"""

from typing import Any

import msgspec

from processing.core.model import Line
from processing.service.partners.translation import (
    Unusable,
    checked_receipt,
    converted,
    line_quantity_max,
    minor_units,
    unit_price_minor_max,
)

topics = frozenset({"orders/paid", "orders/cancelled", "refunds/create"})


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


def order_of(payload: Any) -> Order:
    return converted(payload, Order, "a Shopify order")


def refund_of(payload: Any) -> Refund:
    return converted(payload, Refund, "a Shopify refund")


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
    return checked_receipt(order.id, lines)


def returned_lines(refund: Refund) -> tuple[tuple[str, int], ...]:
    return tuple(
        (str(item.line_item_id), item.quantity)
        for item in refund.refund_line_items
        if item.quantity > 0
    )
