"""Requests and replies of the campaign routes (``/v1/.../campaigns``, decision 0024)."""

from datetime import datetime
from typing import Annotated
from uuid import UUID

import msgspec
from msgspec import Meta

from schemas.base import ExpiryDays, Name, Points, Reason, Reply, Request, Timestamp
from schemas.messages import TriggerTemplate, TriggerTemplateView


class CampaignCreate(Request, frozen=True, kw_only=True):
    """A campaign over a segment's members as they are at ``starts_at`` (now when left out):
    ``points`` to each (expiring at ``expires_at`` or ``expiry_days`` after each accrual;
    neither: as the program's rules say), with ``reason`` on every operation, and/or a message
    in ``templates`` (the triggers' templates: one per channel and locale) to each member
    accrued to, or to each member when there are no points. A campaign's message is marketing:
    consent on its channel, the program's quiet hours and its daily cap apply."""

    name: Name
    segment_id: UUID
    reason: Reason
    points: Points | None = None
    templates: Annotated[list[TriggerTemplate], Meta(max_length=8)] = msgspec.field(
        default_factory=list
    )
    expires_at: Timestamp | None = None
    expiry_days: ExpiryDays | None = None
    starts_at: Timestamp | None = None


class CampaignMessages(Reply, frozen=True, kw_only=True):
    """What became of a campaign's messages: ``queued`` (due, or waiting out quiet hours),
    ``sent``, ``failed`` after the last attempt, ``suppressed`` by its reason (``no_consent``,
    ``frequency_cap``, ``no_address``, ``campaign_cancelled``)."""

    queued: int
    sent: int
    failed: int
    suppressed: dict[str, int]


class Campaign(Reply, frozen=True, kw_only=True):
    """A campaign and its progress: ``members`` is null until its start snapshots the
    segment; ``pending`` members are not yet done, ``accrued`` got their points, ``messaged``
    (a campaign without points) had their message made, ``skipped`` counts the members the
    ledger refused by its code (``account_blocked``, ...) and ``failed`` the ones whose accrual
    raised; ``messages`` counts the messages made."""

    id: UUID
    program_id: UUID
    segment_id: UUID
    key_id: UUID
    name: str
    points: int | None
    templates: list[TriggerTemplateView]
    expires_at: datetime | None
    expiry_days: int | None
    reason: str
    starts_at: datetime
    state: str
    members: int | None
    pending: int
    accrued: int
    messaged: int
    failed: int
    skipped: dict[str, int]
    messages: CampaignMessages
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class CampaignPage(Reply, frozen=True, kw_only=True):
    items: list[Campaign]
    next_cursor: str | None
