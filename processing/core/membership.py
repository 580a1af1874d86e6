"""Paid membership (decision 0035): a level bought for a period, its privileges while it is paid
(and through its grace period), its renewal, lapse and cancellation. Pure and deterministic.

A membership's periods form one chain from its ``anchor_at``: period ``n`` (1-based) ends
``n`` periods of months after the anchor (a yearly period is twelve months), each end clamped
to the last day of a shorter month and computed from the anchor, never from the period
before, so a chain started on 31 January ends on 28 February, 31 March, 30 April. A renewal
while the membership is active or in grace adds one period to the same chain (the new period
starts where the last one ended, never at the renewal's moment); after the grace period the
membership has lapsed and a new purchase starts a new chain.

States at a moment ``now``: ``active`` before the period's end, ``grace`` from the period's end
until ``grace_days`` after it, ``lapsed`` after that; ``cancelled`` once cancelled. Privileges
hold while active or in grace.

Cancellation under ``pro_rata`` refunds the unused whole days of the period ``now`` falls in:
``floor(price paid for the period × unused days / days in the period)``, where the unused days
are the whole days left until the period's end (a day begun counts as used), and every period
renewed ahead and not begun in full. Both roundings go down, in the program's favour; nothing
is refunded in grace. Under ``no_refund`` nothing is.
"""

import calendar
import enum
from datetime import datetime, timedelta
from uuid import UUID

import msgspec

from processing.core.invariants import invariant
from processing.core.rules import Earning, Rules, basis_points_whole

seconds_per_day = 24 * 3600


class Period(enum.StrEnum):
    month = "month"
    year = "year"


class EarnMode(enum.StrEnum):
    replaces = "replace"  # the level's rate instead of the tier's (or the base rate)
    adds = "add"  # the level's rate on top of whatever each line earns at


class Cancellation(enum.StrEnum):
    no_refund = "no_refund"
    pro_rata = "pro_rata"


class State(enum.StrEnum):
    active = "active"
    grace = "grace"
    lapsed = "lapsed"
    cancelled = "cancelled"


class Privileges(msgspec.Struct, frozen=True, kw_only=True):
    """What a level gives while it is in force."""

    earn_bp: int = 0
    earn_mode: EarnMode = EarnMode.adds
    discount_bp: int = 0  # off each qualifying line, applied by the till or the shop
    free_delivery: bool = False


class Level(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    name: str
    price_minor: int
    currency: str
    period: Period
    grace_days: int
    privileges: Privileges
    cancellation: Cancellation


class Membership(msgspec.Struct, frozen=True, kw_only=True):
    """A customer's membership as stored: its chain of periods, paid up to ``periods``."""

    id: UUID
    customer_id: UUID
    level: Level
    anchor_at: datetime
    periods: int  # periods paid in the chain
    cancelled_at: datetime | None = None
    lapsed: bool = False  # the sweep closed it


class InForce(msgspec.Struct, frozen=True, kw_only=True):
    """A membership's privileges at checkout, with what the answer tells the till."""

    membership_id: UUID
    level_id: UUID
    level: str
    state: State
    privileges: Privileges


def months_of(period: Period) -> int:
    return 1 if period is Period.month else 12


def add_months(at: datetime, months: int) -> datetime:
    """``at`` moved ``months`` calendar months, its day clamped to the target month's last."""
    index = at.year * 12 + (at.month - 1) + months
    year, month = divmod(index, 12)
    day = min(at.day, calendar.monthrange(year, month + 1)[1])
    return at.replace(year=year, month=month + 1, day=day)


def period_end(anchor_at: datetime, period: Period, periods: int) -> datetime:
    """When period ``periods`` of the chain from ``anchor_at`` ends."""
    invariant(periods >= 1, "a chain has a period")
    return add_months(anchor_at, months_of(period) * periods)


def period_start(anchor_at: datetime, period: Period, periods: int) -> datetime:
    return anchor_at if periods <= 1 else period_end(anchor_at, period, periods - 1)


def ends_at(membership: Membership) -> datetime:
    return period_end(membership.anchor_at, membership.level.period, membership.periods)


def grace_ends_at(membership: Membership) -> datetime:
    return ends_at(membership) + timedelta(days=membership.level.grace_days)


def state_at(membership: Membership, now: datetime) -> State:
    if membership.cancelled_at is not None:
        return State.cancelled
    if membership.lapsed or now >= grace_ends_at(membership):
        return State.lapsed
    return State.active if now < ends_at(membership) else State.grace


def in_force(membership: Membership | None, now: datetime) -> InForce | None:
    """The privileges a purchase at ``now`` gets: while active or in grace, never after."""
    if membership is None:
        return None
    state = state_at(membership, now)
    if state not in (State.active, State.grace):
        return None
    return InForce(
        membership_id=membership.id,
        level_id=membership.level.id,
        level=membership.level.name,
        state=state,
        privileges=membership.level.privileges,
    )


def renewed(membership: Membership) -> Membership:
    """The membership with one more period in its chain: the caller checked it is in force."""
    return msgspec.structs.replace(membership, periods=membership.periods + 1)


def whole_days(seconds: float) -> int:
    return max(0, int(seconds // seconds_per_day))


def current_period(membership: Membership, now: datetime) -> int:
    """Which period of the chain ``now`` falls in: the first that has not ended, or the last
    (``now`` past it, in grace)."""
    level, index = membership.level, 1
    while (
        index < membership.periods and period_end(membership.anchor_at, level.period, index) <= now
    ):
        index += 1
    return index


def refund_minor(membership: Membership, paid_minor: int, now: datetime) -> int:
    """What cancelling at ``now`` gives back under the level's rule, ``paid_minor`` being what
    one period was paid (module docstring): the unused whole days of the period ``now`` falls
    in, rounded down, and every period paid ahead (renewed early, not begun) whole."""
    level = membership.level
    if level.cancellation is Cancellation.no_refund or state_at(membership, now) != State.active:
        return 0
    index = current_period(membership, now)
    starts = period_start(membership.anchor_at, level.period, index)
    ends = period_end(membership.anchor_at, level.period, index)
    days = whole_days((ends - starts).total_seconds())
    unused = whole_days((ends - now).total_seconds())
    invariant(0 <= unused <= days and days > 0, "a period's unused days are within it")
    ahead = membership.periods - index
    refund = paid_minor * ahead + paid_minor * unused // days
    invariant(0 <= refund <= paid_minor * (ahead + 1), "a refund never exceeds what was paid")
    return refund


def _raised(rate: int, extra: int) -> int:
    return min(basis_points_whole, rate + extra)


def with_privileges(rules: Rules, membership: InForce | None) -> Rules:
    """The rules a member's receipt is priced with. ``replace``: the level's rate instead of the
    tier's and the base rate (a SKU's or category's own rate still wins, as it wins over a
    tier); ``add``: the level's rate on top of every rate (base, tiers, categories, SKUs), at
    most 100 %. Excluded goods earn nothing either way."""
    if membership is None:
        return rules
    bp, mode, earning = (
        membership.privileges.earn_bp,
        membership.privileges.earn_mode,
        rules.earning,
    )
    if mode is EarnMode.adds and bp == 0:
        return rules
    if mode is EarnMode.replaces:
        tiers = tuple(msgspec.structs.replace(tier, earn_bp=bp) for tier in rules.tiers)
        return msgspec.structs.replace(
            rules, earning=msgspec.structs.replace(earning, base_bp=bp), tiers=tiers
        )
    raised = Earning(
        base_bp=_raised(earning.base_bp, bp),
        category_bp={key: _raised(rate, bp) for key, rate in earning.category_bp.items()},
        sku_bp={key: _raised(rate, bp) for key, rate in earning.sku_bp.items()},
        excluded_categories=earning.excluded_categories,
        excluded_skus=earning.excluded_skus,
    )
    tiers = tuple(
        msgspec.structs.replace(tier, earn_bp=_raised(tier.earn_bp, bp)) for tier in rules.tiers
    )
    return msgspec.structs.replace(rules, earning=raised, tiers=tiers)


def line_discount_minor(gross_minor: int, discount_bp: int) -> int:
    """The member's discount on a line, rounded down: ``floor(gross × bp / 10 000)``."""
    return gross_minor * discount_bp // basis_points_whole
