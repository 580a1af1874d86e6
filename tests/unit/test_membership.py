"""The pure decisions of paid membership (decision 0035): periods chained from their anchor,
states by date (active, grace, lapsed, cancelled), renewal continuing the chain, the pro-rata
refund by whole unused days rounded down, and a member's earning rate in the rules."""

import typing
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest

from processing.core import limits
from processing.core.checkout import calculate, with_membership
from processing.core.membership import (
    Cancellation,
    EarnMode,
    Level,
    Membership,
    Period,
    Privileges,
    State,
    add_months,
    ends_at,
    grace_ends_at,
    in_force,
    refund_minor,
    renewed,
    state_at,
    with_privileges,
)
from processing.core.model import Line
from processing.core.rules import Earning, Rules, Tier
from schemas import membership as wire


def level(
    period: Period = Period.month,
    grace_days: int = 7,
    cancellation: Cancellation = Cancellation.pro_rata,
    price: int = 30_000,
    **privileges: typing.Any,
) -> Level:
    return Level(
        id=uuid4(),
        name="Club",
        price_minor=price,
        currency="RUB",
        period=period,
        grace_days=grace_days,
        privileges=Privileges(**privileges),
        cancellation=cancellation,
    )


def member(anchor: datetime, of: Level | None = None, periods: int = 1) -> Membership:
    return Membership(
        id=uuid4(), customer_id=uuid4(), level=of or level(), anchor_at=anchor, periods=periods
    )


def at(day: str) -> datetime:
    return datetime.fromisoformat(day).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("start", "months", "end"),
    [
        ("2026-01-31T10:00", 1, "2026-02-28T10:00"),
        ("2028-01-31T10:00", 1, "2028-02-29T10:00"),
        ("2026-01-31T10:00", 3, "2026-04-30T10:00"),
        ("2026-12-15T00:00", 1, "2027-01-15T00:00"),
        ("2028-02-29T00:00", 12, "2029-02-28T00:00"),
    ],
)
def test_months_clamp_to_the_last_day_of_a_shorter_month(start: str, months: int, end: str) -> None:
    assert add_months(at(start), months) == at(end)


def test_a_chain_counts_every_end_from_its_anchor_not_from_the_period_before() -> None:
    started = member(at("2026-01-31T10:00"))
    ends = [ends_at(renewed(started) if n == 2 else started) for n in (1, 2)]
    assert ends == [at("2026-02-28T10:00"), at("2026-03-31T10:00")]
    assert ends_at(member(at("2026-01-31T10:00"), periods=3)) == at("2026-04-30T10:00")


def test_a_year_is_twelve_months() -> None:
    started = member(at("2026-03-10T00:00"), level(Period.year))
    assert ends_at(started) == at("2027-03-10T00:00")


def test_states_follow_the_dates_active_then_grace_then_lapsed() -> None:
    started = member(at("2026-01-10T00:00"), level(grace_days=7))
    assert state_at(started, at("2026-02-09T23:59")) is State.active
    assert state_at(started, at("2026-02-10T00:00")) is State.grace
    assert state_at(started, at("2026-02-16T23:59")) is State.grace
    assert state_at(started, at("2026-02-17T00:00")) is State.lapsed
    assert grace_ends_at(started) == at("2026-02-17T00:00")


def test_privileges_hold_while_active_or_in_grace_and_never_after() -> None:
    started = member(at("2026-01-10T00:00"), level(grace_days=7, discount_bp=500))
    active, grace = in_force(started, at("2026-01-20T00:00")), in_force(started, at("2026-02-12"))
    assert active is not None
    assert grace is not None
    assert (active.state, grace.state) == (State.active, State.grace)
    assert in_force(started, at("2026-02-17T00:00")) is None
    assert in_force(None, at("2026-01-20T00:00")) is None
    cancelled = Membership(**{**_fields(started), "cancelled_at": at("2026-01-15T00:00")})
    assert state_at(cancelled, at("2026-01-20T00:00")) is State.cancelled
    assert in_force(cancelled, at("2026-01-20T00:00")) is None


def _fields(membership: Membership) -> dict[str, typing.Any]:
    return {name: getattr(membership, name) for name in membership.__struct_fields__}


def test_a_renewal_in_grace_continues_the_chain_and_ends_the_grace() -> None:
    started = member(at("2026-01-10T00:00"), level(grace_days=7))
    in_grace = at("2026-02-12T00:00")
    assert state_at(started, in_grace) is State.grace
    again = renewed(started)
    assert (again.anchor_at, again.periods) == (started.anchor_at, 2)
    assert ends_at(again) == at("2026-03-10T00:00")  # from the last end, not from the renewal
    assert state_at(again, in_grace) is State.active


@pytest.mark.parametrize(
    ("now", "refund"),
    [
        ("2026-04-01T00:00", 30_000),  # nothing used: 30 of 30 days
        ("2026-04-01T00:01", 29_000),  # a day begun counts as used: 29 of 30
        ("2026-04-16T00:00", 15_000),  # 15 of 30
        ("2026-04-30T12:00", 0),  # less than a whole day left
    ],
)
def test_pro_rata_refunds_whole_unused_days_rounded_down(now: str, refund: int) -> None:
    april = member(at("2026-04-01T00:00"), level(price=30_000))
    assert refund_minor(april, 30_000, at(now)) == refund


def test_pro_rata_rounds_down_in_the_programs_favour() -> None:
    # 31 days in March: 999 × 10 / 31 = 322.25..., refunded 322.
    march = member(at("2026-03-01T00:00"), level(price=999))
    assert refund_minor(march, 999, at("2026-03-22T00:00")) == 999 * 10 // 31 == 322


def test_nothing_is_refunded_under_no_refund_or_in_grace() -> None:
    kept = member(at("2026-04-01T00:00"), level(cancellation=Cancellation.no_refund))
    assert refund_minor(kept, 30_000, at("2026-04-02T00:00")) == 0
    graced = member(at("2026-04-01T00:00"), level(grace_days=7))
    assert refund_minor(graced, 30_000, at("2026-05-03T00:00")) == 0


def test_pro_rata_refunds_the_current_period_of_a_renewed_chain() -> None:
    twice = member(at("2026-01-01T00:00"), level(price=28_000), periods=2)  # Feb: 28 days
    assert refund_minor(twice, 28_000, at("2026-02-15T00:00")) == 28_000 * 14 // 28


def test_periods_renewed_ahead_are_refunded_whole() -> None:
    # Renewed twice in January: February and March are paid and not begun.
    ahead = member(at("2026-01-01T00:00"), level(price=31_000), periods=3)
    assert refund_minor(ahead, 31_000, at("2026-01-11T00:00")) == 2 * 31_000 + 31_000 * 21 // 31


rules = Rules(
    point_value_minor=100,
    earning=Earning(base_bp=300, sku_bp={"wine": 100}, excluded_skus=frozenset({"tobacco"})),
    tiers=(Tier(name="silver", threshold_minor=0, earn_bp=500),),
)


def perks(**privileges: typing.Any) -> typing.Any:
    started = member(at("2026-01-10T00:00"), level(**privileges))
    return in_force(started, at("2026-01-11T00:00"))


def test_replace_takes_the_tiers_and_base_rate_and_leaves_specific_rates() -> None:
    priced = with_privileges(rules, perks(earn_bp=1000, earn_mode=EarnMode.replaces))
    assert (priced.earning.base_bp, priced.tiers[0].earn_bp) == (1000, 1000)
    assert priced.earning.sku_bp == {"wine": 100}


def test_add_raises_every_rate_up_to_a_whole() -> None:
    priced = with_privileges(rules, perks(earn_bp=9_800, earn_mode=EarnMode.adds))
    assert (priced.earning.base_bp, priced.tiers[0].earn_bp) == (10_000, 10_000)
    assert priced.earning.sku_bp == {"wine": 9_900}
    assert priced.earning.excluded_skus == frozenset({"tobacco"})
    assert with_privileges(rules, None) is rules


def test_the_discount_is_on_each_line_not_excluded_from_earning_rounded_down() -> None:
    lines = (
        Line(line_id="a", sku="bread", category=None, quantity=3, unit_price_minor=333),
        Line(line_id="b", sku="tobacco", category=None, quantity=1, unit_price_minor=50_000),
    )
    member_perks = perks(discount_bp=750)
    member_rules = with_privileges(rules, member_perks)
    priced = with_membership(
        calculate(member_rules, member_rules.tiers[0], lines, 0, 0), lines, member_perks, rules
    )
    assert [line.membership_discount_minor for line in priced.lines] == [999 * 750 // 10_000, 0]
    assert priced.membership == member_perks


def test_the_wire_bounds_are_the_limits() -> None:
    price = typing.get_args(wire.PriceMinor)[1]
    grace = typing.get_args(wire.GraceDays)[1]
    assert price.le == limits.membership_price_minor_max
    assert grace.le == limits.membership_grace_days_max


def test_a_period_is_never_empty() -> None:
    started = member(at("2026-01-10T00:00"))
    assert ends_at(started) - started.anchor_at >= timedelta(days=28)
