"""Requests and replies of the campaign routes (``/v1/.../campaigns``, decision 0024)."""

from datetime import datetime
from uuid import UUID

from schemas.base import ExpiryDays, Name, Points, Reason, Reply, Request, Timestamp


class CampaignCreate(Request, frozen=True, kw_only=True):
    """A bulk bonus accrual over a segment's members as they are at ``starts_at`` (now when
    left out): ``points`` to each, expiring at ``expires_at`` or ``expiry_days`` after each
    accrual (neither: as the program's rules say), with ``reason`` on every operation."""

    name: Name
    segment_id: UUID
    points: Points
    reason: Reason
    expires_at: Timestamp | None = None
    expiry_days: ExpiryDays | None = None
    starts_at: Timestamp | None = None


class Campaign(Reply, frozen=True, kw_only=True):
    """A campaign and its progress: ``members`` is null until its start snapshots the
    segment; ``pending`` members are not yet done, ``accrued`` got their points, ``skipped``
    counts the members the ledger refused by its code (``account_blocked``, ...) and ``failed``
    the ones whose accrual raised."""

    id: UUID
    program_id: UUID
    segment_id: UUID
    key_id: UUID
    name: str
    points: int
    expires_at: datetime | None
    expiry_days: int | None
    reason: str
    starts_at: datetime
    state: str
    members: int | None
    pending: int
    accrued: int
    failed: int
    skipped: dict[str, int]
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class CampaignPage(Reply, frozen=True, kw_only=True):
    items: list[Campaign]
    next_cursor: str | None
