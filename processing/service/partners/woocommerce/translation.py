"""WooCommerce's webhooks and REST API, translated: the signature over the raw body, orders and
their refunds as receipt lines in integer minor units.

WooCommerce signs each delivery with ``X-WC-Webhook-Signature`` = base64(HMAC-SHA256(webhook
secret, raw body)) and names it with ``X-WC-Webhook-Delivery-ID``; the body is the order as its
REST API (``/wp-json/wc/v3/orders/{id}``) shows it. A refund arrives as ``order.updated``, so the
order's refunds are read from ``/wp-json/wc/v3/orders/{id}/refunds``: each refund's lines name
the order line they return (``_refunded_item_id``) with a negative quantity. WooCommerce does
not retry a failed delivery, so an event is never lost on our side once it answered 2xx.
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
)

topics = frozenset({"order.created", "order.updated"})
# Payment received ("processing") or the order done ("completed"): a purchase that earns.
paid_statuses = frozenset({"processing", "completed"})
cancelled_status = "cancelled"


class Billing(msgspec.Struct, kw_only=True):
    phone: str | None = None
    email: str | None = None


class LineItem(msgspec.Struct, kw_only=True):
    id: int
    quantity: int
    subtotal: str  # before coupons, for the whole quantity
    total: str  # what the customer pays for the line
    sku: str | None = None
    product_id: int | None = None
    variation_id: int | None = None


class RefundSummary(msgspec.Struct, kw_only=True):
    id: int


class Order(msgspec.Struct, kw_only=True):
    """The fields of WooCommerce's order we use; the rest are ignored."""

    id: int
    number: str | None = None
    status: str
    currency: str
    billing: Billing = msgspec.field(default_factory=Billing)
    line_items: list[LineItem] = msgspec.field(default_factory=list)
    refunds: list[RefundSummary] = msgspec.field(default_factory=list)


class Meta(msgspec.Struct, kw_only=True):
    key: str
    value: Any = None


class RefundLine(msgspec.Struct, kw_only=True):
    id: int
    quantity: int  # negative: what went back
    meta_data: list[Meta] = msgspec.field(default_factory=list)


class Refund(msgspec.Struct, kw_only=True):
    id: int
    amount: str = "0"
    line_items: list[RefundLine] = msgspec.field(default_factory=list)


def order_of(payload: Any) -> Order:
    return converted(payload, Order, "a WooCommerce order")


def order_id_of(payload: Any) -> int:
    """The order a delivery (the order's body) or a sweep's entry (``{"id": ...}``) names."""
    order_id = payload.get("id") if isinstance(payload, dict) else None
    if not isinstance(order_id, int) or isinstance(order_id, bool) or order_id <= 0:
        raise Unusable("the event names no WooCommerce order")
    return order_id


def refunds_of(payload: Any) -> list[Refund]:
    return converted(payload, list[Refund], "a WooCommerce refund list")


def line_of(item: LineItem, currency: str) -> Line:
    """One receipt line whose amount is exactly what the customer paid for it (``total``).
    WooCommerce gives a line's totals, not a unit price: the unit price is the subtotal per
    unit rounded up, and the rest is the line's discount, so no minor unit is lost when the
    subtotal does not divide by the quantity."""
    if not 0 < item.quantity <= line_quantity_max:
        raise Unusable(f"line {item.id}: quantity {item.quantity} is out of range")
    subtotal = minor_units(item.subtotal, currency)
    total = minor_units(item.total, currency)
    unit_price = -(-max(subtotal, total) // item.quantity)
    sku = item.sku or str(item.variation_id or item.product_id or item.id)
    return Line(
        line_id=str(item.id),
        sku=sku[:128],
        category=None,
        quantity=item.quantity,
        unit_price_minor=unit_price,
        discount_minor=item.quantity * unit_price - total,
    )


def receipt_of(order: Order) -> tuple[Line, ...]:
    lines = tuple(line_of(item, order.currency) for item in order.line_items if item.quantity > 0)
    return checked_receipt(order.id, lines)


def returned_lines(refund: Refund) -> tuple[tuple[str, int], ...]:
    """The order lines a refund gave back, with how many; a refund of an amount alone (no
    lines: shipping, a goodwill credit) returns none."""
    returned = []
    for line in refund.line_items:
        original = next((m.value for m in line.meta_data if m.key == "_refunded_item_id"), None)
        if original is None or line.quantity >= 0:
            continue
        returned.append((str(original), -line.quantity))
    return tuple(returned)


def is_ping(body: bytes) -> bool:
    """The ping WooCommerce sends when a webhook is saved: ``webhook_id=<digits>``, form-encoded
    and unsigned."""
    name, _, value = body.partition(b"=")
    return name == b"webhook_id" and value.isdigit() and len(value) <= 20
