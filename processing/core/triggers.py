"""Trigger messages: which outbox events a trigger answers, and what becomes of one message.

A trigger (points accrued, points redeemed, a tier changed) of a program turns one outbox event
into at most one message per channel. Whether that message is sent now, later or never is
decided here, purely: a marketing message needs the customer's consent in force on its channel
and a place under the daily frequency cap, and waits out the program's quiet hours; a
transactional one (a debit, a code) is told at once whatever the customer chose, because the
law that asks for consent (38-FZ) is about advertising, not about the customer's own account.
"""

from datetime import date, datetime, timedelta, tzinfo
from enum import StrEnum

import msgspec

from processing.core.invariants import invariant


class Trigger(StrEnum):
    points_accrued = "points_accrued"
    points_redeemed = "points_redeemed"
    tier_changed = "tier_changed"
    points_expiring = "points_expiring"  # a daily scan: a lot expires within days_before
    birthday = "birthday"  # a daily scan: the birthday is within days_before (with its bonus)
    welcome = "welcome"  # a scan of customers enrolled since the trigger was stored
    # The other outbox events, each a trigger of its own: a message on any event a program
    # wants to tell (a refund, an expiry done, an operator's correction, a hold, a merge).
    purchase_recorded = "purchase_recorded"
    points_refunded = "points_refunded"
    points_expired = "points_expired"
    points_adjusted = "points_adjusted"
    hold_reserved = "hold_reserved"
    hold_cancelled = "hold_cancelled"
    hold_expired = "hold_expired"
    balance_changed = "balance_changed"
    customer_merged = "customer_merged"
    donation_made = "donation_made"  # decision 0034
    # Paid membership (decision 0035).
    membership_started = "membership_started"
    membership_renewed = "membership_renewed"
    membership_lapsing = "membership_lapsing"
    membership_lapsed = "membership_lapsed"
    membership_cancelled = "membership_cancelled"
    promoter_rewarded = "promoter_rewarded"  # told to the promoter (decision 0034)


class Channel(StrEnum):
    sms = "sms"
    email = "email"


class TriggerKind(StrEnum):
    """Marketing needs consent and respects quiet hours and the cap; transactional does not."""

    transactional = "transactional"
    marketing = "marketing"


class MessageState(StrEnum):
    queued = "queued"
    sent = "sent"
    failed = "failed"
    suppressed = "suppressed"


class Suppression(StrEnum):
    no_consent = "no_consent"
    frequency_cap = "frequency_cap"
    no_address = "no_address"  # no phone (erased) or no e-mail on file


# The outbox event each trigger answers (core.events.EventType values).
TRIGGER_EVENTS: dict[Trigger, str] = {
    Trigger.points_accrued: "points.accrued",
    Trigger.points_redeemed: "points.redeemed",
    Trigger.tier_changed: "tier.changed",
    Trigger.points_expiring: "points.expiring",  # made by the scans, not the outbox
    Trigger.birthday: "customer.birthday",
    Trigger.welcome: "customer.enrolled",
    Trigger.purchase_recorded: "purchase.recorded",
    Trigger.points_refunded: "points.refunded",
    Trigger.points_expired: "points.expired",
    Trigger.points_adjusted: "points.adjusted",
    Trigger.hold_reserved: "hold.reserved",
    Trigger.hold_cancelled: "hold.cancelled",
    Trigger.hold_expired: "hold.expired",
    Trigger.balance_changed: "balance.changed",
    Trigger.customer_merged: "customer.merged",
    Trigger.donation_made: "donation.made",
    Trigger.membership_started: "membership.started",
    Trigger.membership_renewed: "membership.renewed",
    Trigger.membership_lapsing: "membership.lapsing",
    Trigger.membership_lapsed: "membership.lapsed",
    Trigger.membership_cancelled: "membership.cancelled",
    Trigger.promoter_rewarded: "promoter.rewarded",
}
# Triggers a daily scan fires, and how many days ahead they look unless told; the birthday
# bonus is granted from birthday_days_around days before the birthday, so a birthday message
# that announces it looks no further ahead than that.
SCANNED: dict[Trigger, int] = {Trigger.points_expiring: 7, Trigger.birthday: 3}
DAYS_BEFORE_MAX: dict[Trigger, int] = {Trigger.points_expiring: 365, Trigger.birthday: 3}
# What a trigger is unless its program says otherwise: a debit is the customer's own business.
DEFAULT_KINDS: dict[Trigger, TriggerKind] = {
    Trigger.points_accrued: TriggerKind.marketing,
    Trigger.points_redeemed: TriggerKind.transactional,
    Trigger.tier_changed: TriggerKind.marketing,
    Trigger.points_expiring: TriggerKind.marketing,
    Trigger.birthday: TriggerKind.marketing,
    Trigger.welcome: TriggerKind.marketing,
    # The customer's own account moving (a receipt, a refund, an expiry, a correction, a hold,
    # a merge) is theirs to be told; a program may make any of them marketing instead.
    **{
        trigger: TriggerKind.transactional
        for trigger in (
            Trigger.purchase_recorded,
            Trigger.points_refunded,
            Trigger.points_expired,
            Trigger.points_adjusted,
            Trigger.hold_reserved,
            Trigger.hold_cancelled,
            Trigger.hold_expired,
            Trigger.balance_changed,
            Trigger.customer_merged,
            Trigger.donation_made,
            Trigger.membership_started,
            Trigger.membership_renewed,
            Trigger.membership_lapsing,
            Trigger.membership_lapsed,
            Trigger.membership_cancelled,
            Trigger.promoter_rewarded,
        )
    },
}
# The variables every trigger's template may use.
VARIABLES = frozenset(
    {"name", "balance", "points", "expiry_date", "tier", "store", "program", "unsubscribe_url"}
)
minutes_per_day = 24 * 60


class QuietHours(msgspec.Struct, frozen=True, kw_only=True):
    """Local minutes after midnight; a window may span midnight (21:00-09:00). start == end:
    no quiet hours."""

    start_minute: int
    end_minute: int

    def __post_init__(self) -> None:
        invariant(0 <= self.start_minute < minutes_per_day, "quiet hours start within a day")
        invariant(0 <= self.end_minute < minutes_per_day, "quiet hours end within a day")


def quiet_until(now: datetime, zone: tzinfo, quiet: QuietHours) -> datetime | None:
    """When the quiet hours that ``now`` falls in end, in the program's zone; None outside them."""
    invariant(now.tzinfo is not None, "now carries its zone")
    if quiet.start_minute == quiet.end_minute:
        return None
    local = now.astimezone(zone)
    minute = local.hour * 60 + local.minute
    start, end = quiet.start_minute, quiet.end_minute
    inside = start <= minute < end if start < end else minute >= start or minute < end
    if not inside:
        return None
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    # Past the start of a window that spans midnight, it ends tomorrow. Aware arithmetic in one
    # zone is wall-clock arithmetic, so 09:00 stays 09:00 across a change of offset.
    days = 1 if minute >= start and start > end else 0
    return midnight + timedelta(days=days, minutes=end)


def next_attempt_at(
    kind: TriggerKind, due_at: datetime, zone: tzinfo, quiet: QuietHours
) -> datetime:
    """When a queued message may next be tried, had it been due at ``due_at``: a marketing one
    due inside the program's quiet hours waits until they end (a retry's backoff may land
    there, or the settings may have changed since it was queued); a transactional one is due
    when it is due."""
    if kind is TriggerKind.transactional:
        return due_at
    return quiet_until(due_at, zone, quiet) or due_at


def local_midnight(now: datetime, zone: tzinfo) -> datetime:
    """The start of ``now``'s day in the program's zone: the frequency cap counts from it."""
    local = now.astimezone(zone)
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


class Audience(msgspec.Struct, frozen=True, kw_only=True):
    """What one message's fate rests on: the customer's address on its channel, the consent in
    force there (None: never given), and the marketing messages already counted today."""

    recipient: str | None
    consented: bool | None
    counted_today: int
    daily_cap: int


class Fate(msgspec.Struct, frozen=True, kw_only=True):
    state: MessageState
    reason: Suppression | None = None
    due_at: datetime


def decide_fate(
    kind: TriggerKind,
    audience: Audience,
    now: datetime,
    zone: tzinfo,
    quiet: QuietHours,
) -> Fate:
    """Suppressed (no address, then no consent, then the cap, in that order), else queued: now,
    or for a marketing message due in quiet hours, when they end."""
    if audience.recipient is None:
        return Fate(state=MessageState.suppressed, reason=Suppression.no_address, due_at=now)
    if kind is TriggerKind.transactional:
        return Fate(state=MessageState.queued, due_at=now)
    if audience.consented is not True:
        return Fate(state=MessageState.suppressed, reason=Suppression.no_consent, due_at=now)
    if audience.counted_today >= audience.daily_cap:
        return Fate(state=MessageState.suppressed, reason=Suppression.frequency_cap, due_at=now)
    return Fate(state=MessageState.queued, due_at=next_attempt_at(kind, now, zone, quiet))


def birthdays_within(today: date, days_before: int) -> list[tuple[str, int]]:
    """The birthdays (``MM-DD`` as born, and the year they fall in) from ``today`` to
    ``days_before`` days ahead; 29 February is kept on 28 February in other years, as the
    birthday bonus keeps it."""
    invariant(days_before >= 0, "a scan looks ahead, not back")
    found: list[tuple[str, int]] = []
    for offset in range(days_before + 1):
        day = today + timedelta(days=offset)
        found.append((day.strftime("%m-%d"), day.year))
        leap = day.year % 4 == 0 and (day.year % 100 != 0 or day.year % 400 == 0)
        if (day.month, day.day) == (2, 28) and not leap:
            found.append(("02-29", day.year))
    return found
