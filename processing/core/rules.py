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
from processing.core.discounts import Discount
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
    earn_bp: int = 0
    # The tier's discount (decision 0036): replaces the program's discount.base_bp when set.
    discount_bp: int | None = None


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
    discount: Discount = Discount()  # the program's own discount off the price (decision 0036)


def check_rules(rules: Rules) -> Rejected | None:
    """What the wire bounds cannot say: rates within 0..100 %, tiers in ascending order with
    unique names, and an expiry mode with exactly the number it needs. Each refusal names the
    field to blame as a JSON path into the rules (``tiers[2].threshold_minor``)."""
    return (
        _check_rates(rules)
        or _check_tiers(rules.tiers)
        or _check_expiry(rules.expiry)
        or _check_discount(rules.discount)
    )


def _check_discount(discount: Discount) -> Rejected | None:
    if not 1 <= discount.whole_unit_minor <= limits.discount_whole_unit_minor_max:
        field = "discount.whole_unit_minor"
        return reject(
            Rejection.validation_error,
            f"{field}: a whole unit is 1..{limits.discount_whole_unit_minor_max} minor units.",
            field,
        )
    return None


def _rates(rules: Rules) -> list[tuple[str, int]]:
    return [
        ("earning.base_bp", rules.earning.base_bp),
        ("redemption.max_share_bp", rules.redemption.max_share_bp),
        *(
            (f"earning.category_bp[{_quoted(code)}]", bp)
            for code, bp in rules.earning.category_bp.items()
        ),
        *((f"earning.sku_bp[{_quoted(code)}]", bp) for code, bp in rules.earning.sku_bp.items()),
        *((f"tiers[{index}].earn_bp", tier.earn_bp) for index, tier in enumerate(rules.tiers)),
        ("discount.base_bp", rules.discount.base_bp),
        *(
            (f"tiers[{index}].discount_bp", tier.discount_bp)
            for index, tier in enumerate(rules.tiers)
            if tier.discount_bp is not None
        ),
    ]


def _quoted(key: str) -> str:
    return msgspec.json.encode(key).decode()


def _check_rates(rules: Rules) -> Rejected | None:
    for field, rate in _rates(rules):
        if not 0 <= rate <= basis_points_whole:
            return reject(
                Rejection.validation_error,
                f"{field}: rates are basis points from 0 to {basis_points_whole}.",
                field,
            )
    return None


def _check_tiers(tiers: tuple[Tier, ...]) -> Rejected | None:
    """Names before order, as the refusals always were: the later of two equal names, then the
    first tier whose threshold does not rise above the one before it."""
    names = [tier.name for tier in tiers]
    for index, name in enumerate(names):
        if name in names[:index]:
            field = f"tiers[{index}].name"
            return reject(
                Rejection.validation_error,
                f"{field}: tier names must be unique; {name!r} is listed twice.",
                field,
            )
    for index in range(1, len(tiers)):
        threshold, before = tiers[index].threshold_minor, tiers[index - 1].threshold_minor
        if threshold <= before:
            field = f"tiers[{index}].threshold_minor"
            return reject(
                Rejection.validation_error,
                f"{field}: tiers must be listed by strictly rising threshold_minor"
                f" ({threshold} follows {before}).",
                field,
            )
    return None


def _check_expiry(expiry: Expiry) -> Rejected | None:
    needs = {
        ExpiryMode.never: (False, False),
        ExpiryMode.days: (True, False),
        ExpiryMode.end_of_month: (False, True),
    }[expiry.mode]
    given = (expiry.days is not None, expiry.months is not None)
    if given != needs:
        # Blame the number that is missing or extra; days first, as the wire lists it first.
        field = "expiry.days" if given[0] != needs[0] else "expiry.months"
        return reject(
            Rejection.validation_error,
            f"{field}: expiry 'never' takes no number, 'days' takes days,"
            " 'end_of_month' takes months.",
            field,
        )
    if expiry.days is not None and not 1 <= expiry.days <= limits.expiry_days_max:
        return reject(
            Rejection.validation_error,
            f"expiry.days: expiry.days is 1..{limits.expiry_days_max}.",
            "expiry.days",
        )
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


# When points expire is decided here and nowhere else, for every lot that is made (accruals,
# purchases, bonuses, manual credits, refunds that re-issue expired points), in this order:
#   1. the call's own ``expires_at``, when the call names one;
#   2. else the program's rules' ``expiry`` (``never`` included), once the program has rules;
#   3. else the program's ``expiry_days`` (days after activation), for a program never given
#      rules: it is the expiry of the program's default rules, version 0;
#   4. else never.
# The service loads the expiry in force with ``expiry_in_force`` (steps 2 to 4) and the core
# applies it with ``lot_expires_at`` (step 1).


def expiry_in_force(rules_expiry: Expiry | None, expiry_days: int | None) -> Expiry:
    """The expiry of a program's current rules, or, when it was never given rules
    (``rules_expiry`` is None), the program's own ``expiry_days``, or never."""
    if rules_expiry is not None:
        return rules_expiry
    if expiry_days is not None:
        return Expiry(mode=ExpiryMode.days, days=expiry_days)
    return Expiry()


def default_rules(expiry_days: int | None) -> Rules:
    """The rules of a program never given any (version 0): the defaults, expiring as the
    program was created to."""
    return Rules(expiry=expiry_in_force(None, expiry_days))


def lot_expires_at(
    requested: datetime | None, expiry: Expiry, activates_at: datetime
) -> datetime | None:
    """A lot's expiry: the one the call asked for, else the expiry in force from activation."""
    return requested if requested is not None else expiry_at(expiry, activates_at)


def earning_window(
    rules: Rules, now: datetime, expires_at: datetime | None = None
) -> tuple[datetime, datetime | None]:
    """When points earned ``now`` activate (after the activation delay, the return window)
    and expire (by the rules, unless the request names its own expiry)."""
    activates_at = now + timedelta(days=rules.activation_delay_days)
    return activates_at, lot_expires_at(expires_at, rules.expiry, activates_at)
