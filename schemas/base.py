"""Base configurations and constrained types shared by every wire struct.

The bounds repeat the core's named limits because this package imports nothing from the
project; ``tests/unit/test_schemas.py`` checks that the two agree.
"""

from datetime import datetime
from typing import Annotated, Any

import msgspec
from msgspec import Meta


class Request(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Our own API rejects unknown fields, so a typo never silently changes nothing."""


class Reply(msgspec.Struct, frozen=True, kw_only=True):
    pass


Points = Annotated[int, Meta(ge=1, le=1_000_000_000, description="Points, a positive integer.")]
SignedPoints = Annotated[
    int,
    Meta(
        ge=-1_000_000_000,
        le=1_000_000_000,
        description="Signed points, never zero.",
        extra_json_schema={"not": {"const": 0}},
    ),
]
TtlSeconds = Annotated[int, Meta(ge=10, le=604_800, description="Hold lifetime in seconds.")]
ExpiryDays = Annotated[int, Meta(ge=1, le=3650)]
KeyPointsPerCall = Annotated[
    int,
    Meta(
        ge=1,
        le=1_000_000_000,
        description="Points a pos or shop key may create in one call (accrual, refund).",
    ),
]
KeyPointsPerDay = Annotated[
    int,
    Meta(
        ge=1,
        le=1_000_000_000_000,
        description="Points a pos or shop key may create in one UTC day.",
    ),
]
Name = Annotated[str, Meta(min_length=1, max_length=200)]
Reason = Annotated[str, Meta(min_length=1, max_length=500)]
Comment = Annotated[str, Meta(max_length=1000)]


def whole(body: str) -> str:
    """A pattern the whole value must match. Python's ``$`` (the server's ``re``) also matches
    before a final newline, where ECMAScript's (the published schema's readers) does not: the
    lookahead makes both refuse a value that ends in one (``"2000-0001\\n"``)."""
    return rf"^{body}$(?!\n)"


# No white space at either end. The classes are spelled out so that Python's ``re`` (the server)
# and ECMAScript regexes (the published schema's readers) agree on what white space is.
non_space = r"[^\t-\r \x1c-\x1f\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]"
DocumentId = Annotated[
    str,
    Meta(
        min_length=1,
        max_length=128,
        pattern=whole(rf"{non_space}([^\n\r\u2028\u2029]*{non_space})?"),
    ),
]
CardNumber = Annotated[str, Meta(min_length=1, max_length=64, pattern=whole("[0-9A-Za-z-]+"))]
StoreId = Annotated[str, Meta(min_length=1, max_length=128, pattern=whole("[0-9A-Za-z._-]+"))]
Phone = Annotated[str, Meta(min_length=3, max_length=32)]
# An address to write to, not proof of one: its shape only (someone@somewhere), as the
# customers table checks it too.
Email = Annotated[str, Meta(min_length=3, max_length=254, pattern=whole(r"[^@\s]+@[^@\s]+"))]
Currency = Annotated[str, Meta(pattern=whole("[A-Z]{3}"), description="ISO 4217 code.")]
# A language a message is written in: a template's, a customer's (ISO 639-1, lowercase).
Locale = Annotated[
    str,
    Meta(
        min_length=2,
        max_length=2,
        pattern=whole("[a-z]{2}"),
        description="ru (the default), en, ...",
    ),
]
Country = Annotated[str, Meta(pattern=whole("[A-Z]{2}"), description="ISO 3166-1 alpha-2 code.")]
Attributes = Annotated[dict[str, Any], Meta(max_length=50)]
# A moment a client names (an expiry, an activation, a fiscal print time): with its zone, since
# a bare local time means a different instant in every region; years 1970 to 2199 (the API
# refuses others, ``limits.timestamp_year_min`` and ``_max``).
Timestamp = Annotated[
    datetime, Meta(tz=True, description="RFC 3339 with a zone, years 1970 to 2199.")
]


class Document(Request, frozen=True, kw_only=True):
    """The business document behind an operation: a receipt, an order, a complaint."""

    id: DocumentId
    name: Name | None = None
    comment: Comment | None = None


class DocumentView(Reply, frozen=True, kw_only=True):
    id: str
    name: str | None = None
    comment: str | None = None


MoneyMinor = Annotated[
    int, Meta(ge=0, le=100_000_000_000, description="Money in minor units (kopecks, cents).")
]
Code = Annotated[str, Meta(min_length=1, max_length=128, description="A SKU or category code.")]
LineId = Annotated[str, Meta(min_length=1, max_length=64)]


class ReceiptLine(Request, frozen=True, kw_only=True):
    line_id: LineId
    sku: Code
    category: Code | None = None
    quantity: Annotated[int, Meta(ge=1, le=100_000)]
    unit_price_minor: MoneyMinor
    discount_minor: MoneyMinor = 0


Receipt = Annotated[list[ReceiptLine], Meta(min_length=1, max_length=500)]
