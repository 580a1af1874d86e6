"""Replies of the members and purchases reports (``/v1/programs/{id}/reports/members`` and
``/purchases``, decision 0027)."""

from datetime import date, datetime
from uuid import UUID

import msgspec

from schemas.base import Reply
from schemas.reports import Grouping, Period


class PurchaseFigures(Reply, frozen=True, kw_only=True):
    purchases: int
    amount_minor: int
    money_minor: int
    average_check_minor: int | None
    points_share_bp: int | None
    returns: int
    returned_money_minor: int
    purchasing_customers: int | None
    repeat_customers: int | None
    repeat_rate_bp: int | None
    # What the program's discount took off the purchases' prices (decision 0036); amount_minor
    # is before it, money_minor after it and points, points_share_bp of the price after it.
    program_discount_minor: int = 0


class PurchasesRow(PurchaseFigures, frozen=True, kw_only=True):
    period: date
    store_id: str | None = None
    channel: str | None = None


class PurchasesReport(Reply, frozen=True, kw_only=True):
    program_id: UUID
    first: date = msgspec.field(name="from")
    last: date = msgspec.field(name="to")
    period: Period
    grouping: Grouping = msgspec.field(name="by")
    complete_before: datetime
    rows: list[PurchasesRow]
    totals: PurchaseFigures


class MemberFigures(Reply, frozen=True, kw_only=True):
    new_members: int
    members: int
    active_members: int


class MembersRow(MemberFigures, frozen=True, kw_only=True):
    period: date


class TierMembers(Reply, frozen=True, kw_only=True):
    tier: str | None
    members: int


class TierMove(Reply, frozen=True, kw_only=True):
    tier_before: str | None
    tier_after: str | None
    customers: int


class MembersReport(Reply, frozen=True, kw_only=True):
    program_id: UUID
    first: date = msgspec.field(name="from")
    last: date = msgspec.field(name="to")
    period: Period
    complete_before: datetime
    rows: list[MembersRow]
    totals: MemberFigures
    tiers: list[TierMembers]
    tier_moves: list[TierMove]
