"""Requests and replies of the segment routes (``/v1/.../segments``)."""

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from msgspec import Meta

from schemas.base import Name, Reply, Request

Filter = Annotated[
    dict[str, Any],
    Meta(
        description=(
            'A tree: {"all": [...]} or {"any": [...]} (nested at most 4 deep, at most 32 '
            'predicates) of predicates, each an object with a "fact": available, pending '
            "(min, max), expiring_points (within_days, min >= 1, max), tier (name), "
            "days_since_last_purchase (min, max), purchase_count and purchase_money "
            "(within_days, min, max), last_purchase_store (stores), birthday_month (months), "
            "attribute (key, value), consent (channel, granted), enrolled (from, to: RFC 3339) "
            "and blocked (value). A refusal names the JSON path it is about, such as "
            "filter.all[2].within_days."
        ),
        extra_json_schema={
            "example": {"all": [{"fact": "expiring_points", "within_days": 30, "min": 500}]}
        },
    ),
]


class SegmentCreate(Request, frozen=True, kw_only=True):
    name: Name
    filter: Filter


class SegmentUpdate(Request, frozen=True, kw_only=True):
    """A new version: the filter, and the name when it changes (left out: it stays)."""

    name: Name | None = None
    filter: Filter


class Segment(Reply, frozen=True, kw_only=True):
    """A segment as its newest version reads: ``version`` counts from 1."""

    id: UUID
    program_id: UUID
    version: int
    name: str
    filter: dict[str, Any]
    created_at: datetime
    updated_at: datetime


class SegmentPage(Reply, frozen=True, kw_only=True):
    items: list[Segment]
    next_cursor: str | None


class SegmentVersion(Reply, frozen=True, kw_only=True):
    version: int
    name: str
    filter: dict[str, Any]
    key_id: UUID | None
    created_at: datetime


class SegmentVersionPage(Reply, frozen=True, kw_only=True):
    items: list[SegmentVersion]
    next_cursor: str | None


class SegmentCount(Reply, frozen=True, kw_only=True):
    """How many customers the segment's ``version`` holds: ``estimate`` at once; ``exact`` once
    counted (a small program is counted at once; a large one in the background, null until
    then), as of ``counted_at``."""

    segment_id: UUID
    version: int
    estimate: int
    exact: int | None
    counted_at: datetime | None


class SegmentMember(Reply, frozen=True, kw_only=True):
    """A customer of the segment, with points as the balance counts them, what expires within
    the segment's window (``expiring_days``), and the tier in force."""

    id: UUID
    phone: str
    name: str | None
    available: int
    pending: int
    expiring: int
    expiring_days: int
    tier: str | None
    created_at: datetime


class SegmentMemberPage(Reply, frozen=True, kw_only=True):
    items: list[SegmentMember]
    next_cursor: str | None


__all__ = [
    "Segment",
    "SegmentCount",
    "SegmentCreate",
    "SegmentMember",
    "SegmentMemberPage",
    "SegmentPage",
    "SegmentUpdate",
    "SegmentVersion",
    "SegmentVersionPage",
]
