"""RetailCRM's API v5, translated: its envelopes, an order's items as receipt lines in integer
minor units, the points a manager entered on the order, and the customer fields we write back.

RetailCRM answers ``{"success": true, ...}`` or ``{"success": false, "errorMsg": ...}``; money
is a JSON number in major units, turned into minor units through ``Decimal(str(x))`` so a float
never rounds (``0.1`` stays 10 kopecks; ``10.005`` is refused). An item's ``initialPrice`` is
per unit and its ``discountManualAmount`` is per unit; the order's own ``discountManualAmount``
(where our points discount is written) is spread over the lines here, in proportion to their
amounts, because ``discountTotal`` depends on the account's rounding settings.
"""

from datetime import datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec

from processing.core.model import Line
from processing.service.partners.translation import (
    Unusable,
    checked_receipt,
    converted,
    line_quantity_max,
    minor_units,
)

default_completed_statuses = ("complete",)
default_cancelled_statuses = ("cancel-other",)
default_points_field = "bonus_points"
# The customer custom fields the balance, tier and card are written to.
balance_field = "bonus_balance"
tier_field = "bonus_tier"
card_field = "bonus_card"
# The order custom field that remembers our share of the order's discountManualAmount.
discount_field = "bonus_discount"


def installed_fields(points_field: str) -> dict[str, dict[str, dict[str, Any]]]:
    """What ``bonus retailcrm-install`` creates, by entity and code, as the body of
    ``POST /api/v5/custom-fields/{entity}/create`` (its ``customField``): the points a manager
    enters, and the fields only we write (shown to managers, never editable by them)."""
    ours = {"required": False, "inFilter": True, "inList": True, "inGroupActions": False,
            "viewMode": "not_editable", "viewModeMobile": "not_editable"}  # fmt: skip
    return {
        "order": {
            points_field: {"name": "Points to write off", "code": points_field,
                           "type": "integer", "required": False, "inFilter": True,
                           "inList": True, "inGroupActions": False, "viewMode": "editable",
                           "viewModeMobile": "editable"},
            discount_field: {"name": "Discount paid with points", "code": discount_field,
                             "type": "numeric", **ours},
        },
        "customer": {
            balance_field: {"name": "Bonus balance", "code": balance_field,
                            "type": "integer", **ours},
            tier_field: {"name": "Loyalty tier", "code": tier_field, "type": "string", **ours},
            card_field: {"name": "Loyalty card", "code": card_field, "type": "string", **ours},
        },
    }  # fmt: skip


def custom_field_codes(answer: Any) -> set[str]:
    """The codes ``GET /api/v5/custom-fields`` lists."""
    fields = payload_of(answer, "customFields")
    if not isinstance(fields, list):
        raise Unusable("RetailCRM's custom fields are not a list")
    return {str(field.get("code")) for field in fields if isinstance(field, dict)}


class Phone(msgspec.Struct, kw_only=True):
    number: str | None = None


class Customer(msgspec.Struct, kw_only=True):
    id: int
    phones: list[Phone] = msgspec.field(default_factory=list)
    customFields: dict[str, Any] | list[Any] = msgspec.field(default_factory=dict)


class Offer(msgspec.Struct, kw_only=True):
    id: int | None = None
    article: str | None = None
    externalId: str | None = None


class Item(msgspec.Struct, kw_only=True):
    id: int
    initialPrice: float  # per unit, major units
    quantity: float
    discountManualAmount: float = 0  # per unit
    offer: Offer = msgspec.field(default_factory=Offer)


class Order(msgspec.Struct, kw_only=True):
    """The fields of RetailCRM's order we use; the rest are ignored."""

    id: int
    number: str | None = None
    site: str | None = None
    status: str
    currency: str | None = None
    phone: str | None = None
    discountManualAmount: float = 0  # the order's own discount, major units
    customer: Customer | None = None
    items: list[Item] = msgspec.field(default_factory=list)
    customFields: dict[str, Any] | list[Any] = msgspec.field(default_factory=dict)


def payload_of(answer: Any, name: str) -> Any:
    """The ``name`` entity of a successful envelope; a ``success: false`` is unusable."""
    if not isinstance(answer, dict) or answer.get("success") is not True:
        message = answer.get("errorMsg") if isinstance(answer, dict) else None
        raise Unusable(f"RetailCRM answered without success: {message or 'no errorMsg'}")
    if name not in answer:
        raise Unusable(f"RetailCRM's answer has no {name}")
    return answer[name]


def order_of(answer: Any) -> Order:
    return converted(payload_of(answer, "order"), Order, "a RetailCRM order")


def money(amount: float, currency: str) -> int:
    """A RetailCRM number in minor units, exactly: ``Decimal(str(x))`` keeps what was written."""
    return minor_units(str(Decimal(str(amount))), currency)


def phone_of(order: Order) -> str | None:
    if order.phone:
        return order.phone
    phones = order.customer.phones if order.customer else []
    return next((phone.number for phone in phones if phone.number), None)


def custom_fields(fields: dict[str, Any] | list[Any]) -> dict[str, Any]:
    """RetailCRM shows an entity with no custom fields as ``[]``."""
    return fields if isinstance(fields, dict) else {}


def discount_shares(order: Order, field: str, currency: str) -> tuple[int, int]:
    """The order's ``discountManualAmount`` and our share of it (the order custom field
    ``field``, empty before we first write it), in minor units."""
    value = custom_fields(order.customFields).get(field)
    if value in (None, "", False):
        return money(order.discountManualAmount, currency), 0
    try:
        ours = Decimal(str(value))
    except ArithmeticError as error:
        raise Unusable(f"order {order.id}: {field} {value!r} is not a number") from error
    if not ours.is_finite() or ours < 0:
        raise Unusable(f"order {order.id}: {field} {value!r} is not an amount")
    return money(order.discountManualAmount, currency), minor_units(str(ours), currency)


def points_of(order: Order, field: str) -> int:
    """The points a manager entered to pay the order with; 0 when none."""
    value = custom_fields(order.customFields).get(field)
    if value in (None, "", 0, False):
        return 0
    try:
        points = Decimal(str(value))
    except ArithmeticError as error:
        raise Unusable(f"order {order.id}: {field} {value!r} is not a number") from error
    if not points.is_finite() or points != points.to_integral_value() or points < 0:
        raise Unusable(f"order {order.id}: {field} {value!r} is not a whole number of points")
    return int(points)


def line_of(item: Item, currency: str) -> Line:
    quantity = Decimal(str(item.quantity))
    if quantity != quantity.to_integral_value() or not 0 < quantity <= line_quantity_max:
        raise Unusable(f"item {item.id}: quantity {item.quantity} is not a whole count in range")
    unit_price = money(item.initialPrice, currency)
    discount = money(item.discountManualAmount, currency) * int(quantity)
    sku = item.offer.article or item.offer.externalId or str(item.offer.id or item.id)
    return Line(
        line_id=str(item.id),
        sku=sku[:128],
        category=None,
        quantity=int(quantity),
        unit_price_minor=unit_price,
        discount_minor=min(discount, unit_price * int(quantity)),
    )


def spread(lines: tuple[Line, ...], discount_minor: int) -> tuple[Line, ...]:
    """The order's own discount over its lines in proportion to what each line costs after its
    own discount, rounded down, the remainder from the first lines on: it sums exactly."""
    amounts = [line.quantity * line.unit_price_minor - line.discount_minor for line in lines]
    total = sum(amounts)
    if discount_minor > total:
        raise Unusable(f"the order's discount {discount_minor} exceeds its amount {total}")
    if discount_minor == 0:
        return lines
    shares = [discount_minor * amount // total for amount in amounts]
    left = discount_minor - sum(shares)
    for index, amount in enumerate(amounts):
        extra = min(left, amount - shares[index])
        shares[index] += extra
        left -= extra
    return tuple(
        msgspec.structs.replace(line, discount_minor=line.discount_minor + share)
        for line, share in zip(lines, shares, strict=True)
    )


def receipt_of(order: Order, currency: str) -> tuple[Line, ...]:
    lines = checked_receipt(order.id, tuple(line_of(item, currency) for item in order.items))
    return spread(lines, money(order.discountManualAmount, currency))


def major_units(amount_minor: int, currency: str) -> float | int:
    """Minor units as RetailCRM's number (an exact decimal: 12345 kopecks are 123.45)."""
    digits = 0 if minor_units("1", currency) == 1 else 2
    value = Decimal(amount_minor).scaleb(-digits)
    return int(value) if value == value.to_integral_value() else float(value)


def customer_fields(balance: int, tier: str | None, card: str | None) -> dict[str, Any]:
    return {balance_field: balance, tier_field: tier or "", card_field: card or ""}


def changed_fields(current: dict[str, Any] | list[Any], wanted: dict[str, Any]) -> dict[str, Any]:
    """The custom fields whose value differs from what we write: an edit that would change
    nothing is never sent, so our own edit's trigger finds nothing to do."""
    shown = custom_fields(current)
    return {name: value for name, value in wanted.items() if shown.get(name) != value}


def time_zone_of(answer: Any) -> ZoneInfo:
    """The account's time zone from ``GET /api/v5/settings`` (``settings.timezone.value``, an
    IANA name such as ``Europe/Moscow``): RetailCRM reads and writes date-times in it."""
    settings = payload_of(answer, "settings")
    zone = settings.get("timezone") if isinstance(settings, dict) else None
    name = zone.get("value") if isinstance(zone, dict) else None
    if not isinstance(name, str) or not name:
        raise Unusable("RetailCRM's settings name no time zone")
    return zone_named(name)


def zone_named(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise Unusable(f"the time zone {name!r} is unknown") from error


def date_time(moment: datetime, zone: ZoneInfo) -> str:
    """A moment as RetailCRM writes date-times: ``Y-m-d H:i:s`` in the account's zone."""
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")
