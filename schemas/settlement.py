"""Requests and replies of the merchant and settlement routes (decision 0026)."""

from datetime import date, datetime
from typing import Annotated
from uuid import UUID

import msgspec
from msgspec import Meta

from schemas.base import Name, Reply, Request, StoreId, whole

LegalName = Annotated[str, Meta(min_length=1, max_length=300)]
TaxId = Annotated[
    str,
    Meta(
        pattern=whole("([0-9]{10}|[0-9]{12})"),
        description="INN: 10 digits (an organisation) or 12 (an individual entrepreneur).",
    ),
]


class MerchantCreate(Request, frozen=True, kw_only=True):
    name: Name
    legal_name: LegalName | None = None
    tax_id: TaxId | None = None


class Merchant(Reply, frozen=True, kw_only=True):
    id: UUID
    program_id: UUID
    name: str
    legal_name: str | None
    tax_id: str | None
    created_at: datetime


class MerchantPage(Reply, frozen=True, kw_only=True):
    items: list[Merchant]
    next_cursor: str | None


class StoreAssign(Request, frozen=True, kw_only=True):
    store_id: StoreId


class MerchantStore(Reply, frozen=True, kw_only=True):
    """A store's assignment to a merchant: from ``assigned_at`` until ``unassigned_at`` (null:
    it belongs to the merchant now)."""

    id: UUID
    merchant_id: UUID
    program_id: UUID
    store_id: str
    assigned_at: datetime
    unassigned_at: datetime | None


class MerchantStorePage(Reply, frozen=True, kw_only=True):
    items: list[MerchantStore]
    next_cursor: str | None


class SettlementCreate(Request, frozen=True, kw_only=True):
    """The period [from, to) of the program's local days (its messaging time zone, by default
    Europe/Moscow), at most 92 days, ended by now."""

    period_from: date = msgspec.field(name="from")
    period_to: date = msgspec.field(name="to")


class PartyTotal(Reply, frozen=True, kw_only=True):
    """A party's totals: a merchant, or the program itself (``merchant_id`` null: stores of no
    merchant and operations of no store). Receivable: points other parties earned that its
    stores redeemed; payable: points it earned that other parties' stores redeemed; money in
    minor units at each line's point value; ``net_minor`` = receivable − payable."""

    merchant_id: UUID | None
    merchant_name: str | None
    receivable_points: int
    payable_points: int
    receivable_minor: int
    payable_minor: int
    net_minor: int


class Settlement(Reply, frozen=True, kw_only=True):
    """A closed statement. ``totals`` hold every party, and sum to zero in ``net_minor``; a
    merchant's key sees its own party only (a list of statements shows none)."""

    id: UUID
    program_id: UUID
    period_from: date = msgspec.field(name="from")
    period_to: date = msgspec.field(name="to")
    time_zone: str
    starts_at: datetime
    ends_at: datetime
    currency: str
    lines: int
    key_id: UUID | None
    created_at: datetime
    totals: list[PartyTotal]


class SettlementPage(Reply, frozen=True, kw_only=True):
    items: list[Settlement]
    next_cursor: str | None


class SettlementLine(Reply, frozen=True, kw_only=True):
    """What one operation moved from the earning party to the redeeming one: a redemption
    (``commit``, ``purchase``) with positive points, a refund giving redeemed points back
    (``refund``, with ``refund_of``) with negative points. ``store_id`` is the redemption's
    store; ``earning_store_id`` the store where the points were earned."""

    position: int
    operation_id: UUID
    operation_type: str
    refund_of: UUID | None
    created_at: datetime
    store_id: str | None
    merchant_id: UUID | None
    earning_store_id: str | None
    earning_merchant_id: UUID | None
    points: int
    point_value_minor: int
    money_minor: int


class SettlementLinePage(Reply, frozen=True, kw_only=True):
    items: list[SettlementLine]
    next_cursor: str | None


class LiabilityItem(Reply, frozen=True, kw_only=True):
    merchant_id: UUID | None
    merchant_name: str | None
    points: int
    money_minor: int


class Liability(Reply, frozen=True, kw_only=True):
    """Points outstanding (what open, unexpired lots still hold, pending and held included)
    by the party whose store earned them, valued at the current rules' point value."""

    program_id: UUID
    currency: str
    rules_version: int
    point_value_minor: int
    items: list[LiabilityItem]


__all__ = [
    "Liability",
    "LiabilityItem",
    "Merchant",
    "MerchantCreate",
    "MerchantPage",
    "MerchantStore",
    "MerchantStorePage",
    "PartyTotal",
    "Settlement",
    "SettlementCreate",
    "SettlementLine",
    "SettlementLinePage",
    "SettlementPage",
    "StoreAssign",
]
