"""What the web-shop translations share: refusing a payload for good, money from decimal strings
to minor units exactly, and the base64 HMAC-SHA256 over the raw body that Shopify and
WooCommerce both sign their webhooks with."""

import base64
import hashlib
import hmac
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

import msgspec

from processing.core import limits
from processing.core.model import Line

# The bounds our own API puts on a receipt line (schemas/base.py's ReceiptLine).
line_quantity_max = 100_000
unit_price_minor_max = 100_000_000_000
# ISO 4217 currencies without minor units that a shop may sell in; the rest have two digits.
_zero_decimal_currencies = frozenset({"JPY", "KRW", "VND", "CLP", "ISK", "HUF", "TWD", "UGX"})


T = TypeVar("T")


class Unusable(ValueError):
    """A payload we cannot act on: a retry would not change it."""


def converted(payload: Any, shape: type[T], what: str) -> T:
    """``payload`` as ``shape``, or ``Unusable`` naming ``what`` it should have been."""
    try:
        return msgspec.convert(payload, shape)
    except msgspec.ValidationError as error:
        raise Unusable(f"not {what}: {error}") from error


def checked_receipt(order_id: object, lines: tuple[Line, ...]) -> tuple[Line, ...]:
    """An order's receipt within what a purchase takes: at least one line, at most the limit."""
    if not lines:
        raise Unusable(f"order {order_id} has no paid lines")
    if len(lines) > limits.receipt_lines_max:
        raise Unusable(f"order {order_id} has more than {limits.receipt_lines_max} lines")
    return lines


def signed_base64(secret: str, body: bytes, header: str) -> bool:
    """``header`` is base64(HMAC-SHA256(secret, body)), compared in constant time."""
    expected = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest())
    return hmac.compare_digest(expected, header.strip().encode())


def minor_units(amount: str, currency: str) -> int:
    """``"199.00"`` USD is 19900; ``"1500"`` JPY is 1500; ``"1.005"`` USD is refused."""
    digits = 0 if currency.upper() in _zero_decimal_currencies else 2
    try:
        scaled = Decimal(amount) * (10**digits)
    except InvalidOperation as error:
        raise Unusable(f"{amount!r} is not an amount") from error
    if not scaled.is_finite() or scaled != scaled.to_integral_value() or scaled < 0:
        raise Unusable(f"{amount!r} is not a whole number of {currency} minor units")
    if scaled > unit_price_minor_max * line_quantity_max:
        raise Unusable(f"{amount!r} is out of range")
    return int(scaled)
