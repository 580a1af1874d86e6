"""A program's loyalty rules: what a point is worth, how points are earned and redeemed, tiers,
activation delay, expiry and the return policy. Rules are versioned per program; an operation
records the version it was computed with.

Percentages are integer basis points (``500`` is 5 %), money is integer minor units, points are
integers: there is no float anywhere. ``check_rules`` refuses rules that contradict themselves.
"""

from datetime import UTC, datetime, timedelta
from enum import StrEnum

import msgspec

from processing.core import limits
from processing.core.invariants import invariant
from processing.core.model import Rejected, reject
from processing.core.rejections import Rejection

basis_points_whole = 10_000  # 100 %


class ExpiryMode(StrEnum):
    never = "never"
    days = "days"  # N days after the points activate
    end_of_month = "end_of_month"  # the end of the month N months after the points activate


class ReturnPolicy(StrEnum):
    floor = "floor"  # claw back what is there, stop at zero
    debt = "debt"  # record the shortfall as debt, repaid from future earnings first
    withhold = "withhold"  # tell the cashier how much money to keep back from the refund


class Earning(msgspec.Struct, frozen=True, kw_only=True):
    """Points earned on the money paid: the most specific rate wins (SKU, then category, then
    the customer's tier, then ``base_bp``); excluded SKUs and categories earn nothing."""

    base_bp: int = 0
    category_bp: dict[str, int] = {}
    sku_bp: dict[str, int] = {}
    excluded_categories: frozenset[str] = frozenset()
    excluded_skus: frozenset[str] = frozenset()


class Redemption(msgspec.Struct, frozen=True, kw_only=True):
    """How much of a receipt points may pay: at most ``max_share_bp`` of the lines that may be
    paid with points, and never so much that less than ``min_money_minor`` is left in money."""

    max_share_bp: int = basis_points_whole
    excluded_categories: frozenset[str] = frozenset()
    excluded_skus: frozenset[str] = frozenset()
    min_money_minor: int = 0
    # Points a till that was offline may have let pay for one cheque it posts late, without a
    # reservation; 0: points pay only through a reservation.
    offline_cap_points: int = 0


class Tier(msgspec.Struct, frozen=True, kw_only=True):
    """A tier is reached when money spent over the rolling window reaches ``threshold_minor``."""

    name: str
    threshold_minor: int
    earn_bp: int


class Expiry(msgspec.Struct, frozen=True, kw_only=True):
    mode: ExpiryMode = ExpiryMode.never
    days: int | None = None
    months: int | None = None


class Every(StrEnum):
    """How often a bonus may be granted to one customer."""

    once = "once"
    day = "day"
    week = "week"
    month = "month"
    year = "year"


class Bonus(msgspec.Struct, frozen=True, kw_only=True):
    points: int
    every: Every = Every.once


class Referral(msgspec.Struct, frozen=True, kw_only=True):
    """Granted to both sides once the referred customer makes a first purchase."""

    referrer: int = 0
    referred: int = 0


class Bonuses(msgspec.Struct, frozen=True, kw_only=True):
    """Points for what is not a purchase: ``welcome`` on enrollment, ``birthday`` once a year in
    the birthday week, ``referral`` for both sides after the referred customer's first
    purchase, and named events (``review``, ``newsletter``, custom ones), each as often as its
    ``every`` allows."""

    welcome: int = 0
    birthday: int = 0
    referral: Referral = Referral()
    events: dict[str, Bonus] = {}


class Rules(msgspec.Struct, frozen=True, kw_only=True):
    point_value_minor: int = 100
    earning: Earning = Earning()
    redemption: Redemption = Redemption()
    tiers: tuple[Tier, ...] = ()
    tier_window_days: int = 365
    activation_delay_days: int = 0
    expiry: Expiry = Expiry()
    return_policy: ReturnPolicy = ReturnPolicy.floor
    bonuses: Bonuses = Bonuses()


def check_rules(rules: Rules) -> Rejected | None:
    """What the wire bounds cannot say: rates within 0..100 %, tiers in ascending order with
    unique names, and an expiry mode with exactly the number it needs."""
    rates = [
        rules.earning.base_bp,
        rules.redemption.max_share_bp,
        *rules.earning.category_bp.values(),
        *rules.earning.sku_bp.values(),
        *(tier.earn_bp for tier in rules.tiers),
    ]
    if any(not 0 <= rate <= basis_points_whole for rate in rates):
        return reject(Rejection.validation_error, "Rates are basis points from 0 to 10000.")
    names = [tier.name for tier in rules.tiers]
    if len(set(names)) != len(names):
        return reject(Rejection.validation_error, "Tier names must be unique.")
    thresholds = [tier.threshold_minor for tier in rules.tiers]
    if thresholds != sorted(set(thresholds)):
        return reject(
            Rejection.validation_error, "Tiers must be listed by strictly rising threshold_minor."
        )
    expiry = rules.expiry
    needs = {
        ExpiryMode.never: (False, False),
        ExpiryMode.days: (True, False),
        ExpiryMode.end_of_month: (False, True),
    }[expiry.mode]
    if (expiry.days is not None, expiry.months is not None) != needs:
        return reject(
            Rejection.validation_error,
            "expiry: 'never' takes no number, 'days' takes days, 'end_of_month' takes months.",
        )
    if expiry.days is not None and not 1 <= expiry.days <= limits.expiry_days_max:
        return reject(Rejection.validation_error, f"expiry.days is 1..{limits.expiry_days_max}.")
    return None


def tier_for(rules: Rules, spend_minor: int, floor_name: str | None = None) -> Tier | None:
    """The highest tier whose threshold the spend reaches; a manually set tier is a floor."""
    reached = [tier for tier in rules.tiers if tier.threshold_minor <= spend_minor]
    floor = [tier for tier in rules.tiers if tier.name == floor_name]
    candidates = reached + floor
    return max(candidates, key=lambda tier: tier.threshold_minor) if candidates else None


def expiry_at(expiry: Expiry, activates_at: datetime) -> datetime | None:
    """When points that activate at ``activates_at`` expire. ``end_of_month``: the first instant
    (UTC) after the month ``months`` months after activation, so points activated on 15 March
    with 12 months live to the end of 31 March of the next year."""
    if expiry.mode is ExpiryMode.never:
        return None
    if expiry.mode is ExpiryMode.days:
        invariant(expiry.days is not None, "checked rules give days")
        return activates_at + timedelta(days=expiry.days or 0)
    invariant(expiry.months is not None, "checked rules give months")
    at = activates_at.astimezone(UTC)
    month_index = at.year * 12 + (at.month - 1) + (expiry.months or 0) + 1
    return datetime(month_index // 12, month_index % 12 + 1, 1, tzinfo=UTC)


def earning_window(
    rules: Rules, now: datetime, expires_at: datetime | None = None
) -> tuple[datetime, datetime | None]:
    """When points earned ``now`` activate (after the activation delay, the return window)
    and expire (by the rules, unless the request names its own expiry)."""
    activates_at = now + timedelta(days=rules.activation_delay_days)
    return activates_at, expires_at or expiry_at(rules.expiry, activates_at)
