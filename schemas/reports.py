"""Replies of the report routes (``/v1/programs/{id}/reports/...``, decision 0025)."""

from datetime import date, datetime
from enum import StrEnum
from uuid import UUID

import msgspec

from schemas.base import Reply


class Period(StrEnum):
    day = "day"
    week = "week"
    month = "month"


class Grouping(StrEnum):
    none = "none"
    store = "store"
    channel = "channel"


class PointFigures(Reply, frozen=True, kw_only=True):
    issued: int = 0
    redeemed: int = 0
    clawed_back: int = 0
    returned: int = 0
    expired: int = 0
    adjusted: int = 0
    opening: int = 0
    transferred: int = 0
    donated: int = 0
    other: int = 0
    net: int = 0
    operations: int = 0


class PointsRow(PointFigures, frozen=True, kw_only=True):
    period: date
    store_id: str | None = None
    channel: str | None = None


class PointsTotals(PointFigures, frozen=True, kw_only=True):
    breakage_bp: int | None
    redemption_bp: int | None


class PointsReport(Reply, frozen=True, kw_only=True):
    program_id: UUID
    first: date = msgspec.field(name="from")
    last: date = msgspec.field(name="to")
    period: Period
    grouping: Grouping = msgspec.field(name="by")
    complete_before: datetime
    rows: list[PointsRow]
    totals: PointsTotals


class LiabilityFigures(Reply, frozen=True, kw_only=True):
    outstanding_points: int
    pending_points: int
    available_points: int
    outstanding_value_minor: int


class StoreLiability(LiabilityFigures, frozen=True, kw_only=True):
    store_id: str | None


class Liability(LiabilityFigures, frozen=True, kw_only=True):
    program_id: UUID
    on: date
    currency: str
    point_value_minor: int
    complete_before: datetime
    stores: list[StoreLiability]
