"""Trigger messages on the wire (decision 0023): a program's messaging settings and triggers,
a template's preview, a customer's messages, and the unsubscribe link's answer."""

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from msgspec import Meta

from schemas.base import Locale, Reply, Request

TriggerName = Literal[
    "points_accrued",
    "points_redeemed",
    "tier_changed",
    "points_expiring",
    "birthday",
    "welcome",
    "purchase_recorded",
    "points_refunded",
    "points_expired",
    "points_adjusted",
    "hold_reserved",
    "hold_cancelled",
    "hold_expired",
    "balance_changed",
    "customer_merged",
    "donation_made",
    "membership_started",
    "membership_renewed",
    "membership_lapsing",
    "membership_lapsed",
    "membership_cancelled",
    "promoter_rewarded",
]
MessageChannelName = Literal["sms", "email"]
TriggerKindName = Literal["transactional", "marketing"]
MinuteOfDay = Annotated[int, Meta(ge=0, le=1439, description="Minutes after local midnight.")]


class MessageSettingsPut(Request, frozen=True, kw_only=True):
    """How a program's marketing messages respect its customers: quiet hours in the program's
    time zone (a message due inside them waits until they end; start = end: none) and how many
    one customer may get on one channel per local day (beyond: suppressed, frequency_cap)."""

    time_zone: Annotated[str, Meta(min_length=1, max_length=64)] = "Europe/Moscow"
    quiet_start_minute: MinuteOfDay = 21 * 60
    quiet_end_minute: MinuteOfDay = 9 * 60
    daily_cap: Annotated[int, Meta(ge=0, le=100)] = 3


class MessageSettings(Reply, frozen=True, kw_only=True):
    time_zone: str
    quiet_start_minute: int
    quiet_end_minute: int
    daily_cap: int
    updated_at: datetime | None


class TriggerTemplate(Request, frozen=True, kw_only=True):
    """A trigger's wording on one channel in one locale, a Jinja2 template (sandboxed) that may
    use ``name``, ``balance``, ``points``, ``expiry_date``, ``tier``, ``store``, ``program`` and,
    in a marketing e-mail, ``unsubscribe_url`` (added at the end when the template leaves it
    out). An e-mail has a ``subject``; an SMS must fit three parts rendered with sample values."""

    channel: MessageChannelName
    locale: Locale = "ru"
    subject: Annotated[str, Meta(min_length=1, max_length=200)] | None = None
    body: Annotated[str, Meta(min_length=1, max_length=5000)]


class TriggerPut(Request, frozen=True, kw_only=True):
    """A trigger on or off, marketing (consent, quiet hours and the cap apply) or transactional
    (the default for points_redeemed: a debit is the customer's own business), and its
    templates: one per channel and locale. points_expiring is fired by a scan the worker runs
    (hourly; once per lot and ``days_before``) for each lot expiring within ``days_before``."""

    enabled: bool
    kind: TriggerKindName | None = None
    # points_expiring: a lot expiring within this many days is told once (default 7); birthday:
    # this many days before the birthday (1-3, default 3), with the rules' birthday bonus.
    days_before: Annotated[int, Meta(ge=1, le=365)] | None = None
    templates: Annotated[list[TriggerTemplate], Meta(max_length=8)]


class TriggerTemplateView(Reply, frozen=True, kw_only=True):
    channel: str
    locale: str
    subject: str | None
    body: str


class TriggerView(Reply, frozen=True, kw_only=True):
    trigger: str
    enabled: bool
    kind: str
    days_before: int | None
    templates: list[TriggerTemplateView]
    version: int
    updated_at: datetime | None


class PreviewRequest(Request, frozen=True, kw_only=True):
    """Renders the trigger's template for ``channel`` in ``locale`` with a customer's values, or
    sample ones without ``customer_id``. Without ``locale``: the template the customer would be
    sent (in their locale, else ``ru``, else the channel's first; no customer: ``ru``'s)."""

    channel: MessageChannelName
    locale: Locale | None = None
    customer_id: UUID | None = None


class RenderedMessage(Reply, frozen=True, kw_only=True):
    channel: str
    locale: str
    subject: str | None
    body: str


class Message(Reply, frozen=True, kw_only=True):
    """One message: queued (due at ``next_attempt_at``), sent, failed after its last attempt, or
    suppressed, with ``reason`` (no_consent, frequency_cap, no_address, or the provider's failure
    class)."""

    id: int
    channel: str
    kind: str
    trigger: str
    event_key: str
    template_version: int
    locale: str
    subject: str | None
    body: str
    state: Literal["queued", "sent", "failed", "suppressed"]
    reason: str | None
    attempts: int
    next_attempt_at: datetime
    provider_id: str | None
    created_at: datetime
    sent_at: datetime | None


class MessagePage(Reply, frozen=True, kw_only=True):
    items: list[Message]
    next_cursor: str | None


class Unsubscribed(Reply, frozen=True, kw_only=True):
    channel: str
    granted: bool
