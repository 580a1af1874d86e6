"""The checkout calculation, table by table: caps, exclusions, rounding edges, allocation over
lines, earning on money only, tiers — starting from the customer documents' auto service:
gold customers earn 10 %, silver 5 %, 1 point = 1 ruble, at most 50 % of a receipt in points,
spare parts in a category that points may not pay for."""

from datetime import UTC, datetime, timedelta

import msgspec
import pytest

from processing.core.checkout import calculate, spread
from processing.core.model import Line, Rejected
from processing.core.rules import (
    Earning,
    Expiry,
    ExpiryMode,
    Redemption,
    Rules,
    Tier,
    check_rules,
    default_rules,
    expiry_at,
    expiry_in_force,
    lot_expires_at,
    tier_for,
)

rub = 100  # minor units in a ruble

auto_service = Rules(
    point_value_minor=1 * rub,
    earning=Earning(base_bp=300),
    redemption=Redemption(max_share_bp=5000, excluded_categories=frozenset({"parts"})),
    tiers=(
        Tier(name="silver", threshold_minor=0, earn_bp=500),
        Tier(name="gold", threshold_minor=100_000 * rub, earn_bp=1000),
    ),
)
silver, gold = auto_service.tiers


def line(line_id: str, price_rub: int, *, quantity: int = 1, category: str = "service") -> Line:
    return Line(
        line_id=line_id,
        sku=f"sku-{line_id}",
        category=category,
        quantity=quantity,
        unit_price_minor=price_rub * rub,
    )


@pytest.mark.parametrize(
    ("tier", "requested", "redeemed", "money_rub", "earned"),
    [
        pytest.param(gold, 3000, 3000, 7000, 700, id="gold-spends-3000-earns-10pct-of-7000"),
        pytest.param(silver, 3000, 3000, 7000, 350, id="silver-earns-5pct"),
        pytest.param(gold, 9000, 5000, 5000, 500, id="capped-at-half-the-receipt"),
        pytest.param(gold, 0, 0, 10000, 1000, id="nothing-spent-earns-on-all"),
    ],
)
def test_the_auto_service_example(
    tier: Tier, requested: int, redeemed: int, money_rub: int, earned: int
) -> None:
    receipt = (line("oil-change", 4000), line("diagnostics", 6000))
    result = calculate(auto_service, tier, receipt, available=20_000, requested=requested)
    assert result.max_redeemable_points == 5000
    assert (result.redeemed_points, result.money_minor, result.earned_points) == (
        redeemed,
        money_rub * rub,
        earned,
    )
    assert result.tier == tier.name


def test_a_category_points_may_not_pay_for_is_paid_in_money_and_still_earns() -> None:
    receipt = (line("brake-pads", 8000, category="parts"), line("fitting", 2000))
    result = calculate(auto_service, gold, receipt, available=10_000, requested=10_000)
    parts, fitting = result.lines
    assert (parts.max_redeemable_points, parts.redeemed_points) == (0, 0)
    assert (fitting.max_redeemable_points, fitting.redeemed_points) == (1000, 1000)
    assert result.max_redeemable_points == 1000
    assert (parts.earned_points, fitting.earned_points) == (800, 100)


@pytest.mark.parametrize(
    ("available", "min_money_rub", "expected_cap"),
    [
        pytest.param(20_000, 0, 5000, id="share-cap"),
        pytest.param(1200, 0, 1200, id="balance-cap"),
        pytest.param(20_000, 9000, 1000, id="minimum-money-cap"),
        pytest.param(20_000, 10_000, 0, id="minimum-money-is-the-whole-receipt"),
        pytest.param(0, 0, 0, id="empty-account"),
    ],
)
def test_the_receipt_cap_is_the_least_of_its_limits(
    available: int, min_money_rub: int, expected_cap: int
) -> None:
    rules = with_redemption(min_money_minor=min_money_rub * rub)
    result = calculate(rules, gold, (line("a", 10_000),), available=available, requested=99_999)
    assert result.max_redeemable_points == expected_cap
    assert result.redeemed_points == expected_cap


def with_redemption(**changes: int) -> Rules:
    redemption = msgspec.structs.replace(auto_service.redemption, **changes)
    return msgspec.structs.replace(auto_service, redemption=redemption)


@pytest.mark.parametrize(
    ("price_minor", "rate_bp", "point_value", "earned"),
    [
        pytest.param(1999, 1000, 100, 1, id="199.90-at-10pct-is-19.99-rub-earns-1"),
        pytest.param(99_99, 1000, 100, 9, id="99.99-at-10pct-earns-9-not-10"),
        pytest.param(1000_00, 333, 100, 33, id="odd-rate-rounds-down"),
        pytest.param(1000_00, 1000, 1, 10_000, id="point-worth-one-kopeck"),
        pytest.param(5, 1000, 100, 0, id="too-little-money-earns-nothing"),
    ],
)
def test_earning_rounds_down_to_whole_points(
    price_minor: int, rate_bp: int, point_value: int, earned: int
) -> None:
    rules = Rules(point_value_minor=point_value, earning=Earning(base_bp=rate_bp))
    receipt = (Line(line_id="1", sku="x", category=None, quantity=1, unit_price_minor=price_minor),)
    assert calculate(rules, None, receipt, available=0, requested=0).earned_points == earned


def test_the_most_specific_rate_wins_and_exclusions_earn_nothing() -> None:
    rules = Rules(
        earning=Earning(
            base_bp=100,
            category_bp={"coffee": 500},
            sku_bp={"espresso": 1000},
            excluded_skus=frozenset({"gift-card"}),
            excluded_categories=frozenset({"tobacco"}),
        ),
        tiers=(Tier(name="club", threshold_minor=0, earn_bp=200),),
    )
    receipt = (
        Line(line_id="1", sku="espresso", category="coffee", quantity=1, unit_price_minor=10_000),
        Line(line_id="2", sku="latte", category="coffee", quantity=1, unit_price_minor=10_000),
        Line(line_id="3", sku="bagel", category="food", quantity=1, unit_price_minor=10_000),
        Line(line_id="4", sku="gift-card", category="coffee", quantity=1, unit_price_minor=10_000),
        Line(line_id="5", sku="cigars", category="tobacco", quantity=1, unit_price_minor=10_000),
    )
    club = rules.tiers[0]
    result = calculate(rules, club, receipt, available=0, requested=0)
    assert [x.earn_bp for x in result.lines] == [1000, 500, 200, 0, 0]
    assert [x.earned_points for x in result.lines] == [10, 5, 2, 0, 0]
    without_tier = calculate(rules, None, receipt, available=0, requested=0)
    assert without_tier.lines[2].earn_bp == 100


def test_spent_points_are_spread_over_lines_and_sum_exactly() -> None:
    receipt = (line("a", 333), line("b", 333), line("c", 334), line("d", 1, category="parts"))
    result = calculate(auto_service, gold, receipt, available=1000, requested=101)
    shares = [x.redeemed_points for x in result.lines]
    assert sum(shares) == result.redeemed_points == 101
    assert shares == [34, 33, 34, 0]  # caps 166, 166, 167: the remainders decide, then order
    assert all(x.redeemed_points <= x.max_redeemable_points for x in result.lines)
    assert sum(x.money_minor for x in result.lines) == result.money_minor
    assert sum(x.earned_points for x in result.lines) == result.earned_points


@pytest.mark.parametrize(
    ("points", "caps", "shares"),
    [
        (0, [5, 5], [0, 0]),
        (10, [5, 5], [5, 5]),
        (3, [1, 1, 1, 1], [1, 1, 1, 0]),
        (1, [0, 7, 0], [0, 1, 0]),
        (7, [2, 3, 9], [1, 2, 4]),
    ],
)
def test_spread_is_proportional_with_largest_remainders(
    points: int, caps: list[int], shares: list[int]
) -> None:
    assert spread(points, caps) == shares


@pytest.mark.parametrize(
    ("spend_rub", "floor", "expected"),
    [
        pytest.param(0, None, "silver", id="everyone-is-silver"),
        pytest.param(99_999, None, "silver", id="one-ruble-short"),
        pytest.param(100_000, None, "gold", id="threshold-reached"),
        pytest.param(10, "gold", "gold", id="manual-tier-is-a-floor"),
        pytest.param(200_000, "silver", "gold", id="floor-does-not-cap"),
    ],
)
def test_tier_from_spend_with_a_manual_floor(
    spend_rub: int, floor: str | None, expected: str
) -> None:
    tier = tier_for(auto_service, spend_rub * rub, floor)
    assert tier is not None
    assert tier.name == expected


def test_no_tier_when_no_threshold_is_reached() -> None:
    rules = Rules(tiers=(Tier(name="gold", threshold_minor=1000, earn_bp=1000),))
    assert tier_for(rules, 999) is None


def three_tiers(*thresholds: int, names: str = "abc") -> tuple[Tier, ...]:
    return tuple(
        Tier(name=name, threshold_minor=threshold, earn_bp=100)
        for name, threshold in zip(names, thresholds, strict=True)
    )


@pytest.mark.parametrize(
    ("rules", "says", "field"),
    [
        pytest.param(Rules(earning=Earning(base_bp=10_001)), "basis points", "earning.base_bp",
                     id="rate-above-100"),
        pytest.param(Rules(redemption=Redemption(max_share_bp=-1)), "basis points",
                     "redemption.max_share_bp", id="negative-share"),
        pytest.param(Rules(earning=Earning(category_bp={"oil": 20_000})), "basis points",
                     'earning.category_bp["oil"]', id="category-rate"),
        pytest.param(Rules(tiers=(Tier(name="a", threshold_minor=1, earn_bp=1),
                                  Tier(name="b", threshold_minor=5, earn_bp=10_001))),
                     "basis points", "tiers[1].earn_bp", id="tier-rate"),
        pytest.param(Rules(tiers=three_tiers(1, 5, 5)), "rising", "tiers[2].threshold_minor",
                     id="equal-thresholds"),
        pytest.param(Rules(tiers=three_tiers(1, 9, 5)), "rising", "tiers[2].threshold_minor",
                     id="falling-threshold"),
        pytest.param(Rules(tiers=three_tiers(1, 5, 9, names="aba")), "unique", "tiers[2].name",
                     id="same-name"),
        pytest.param(Rules(tiers=three_tiers(9, 5, 1, names="abb")), "unique", "tiers[2].name",
                     id="names-before-order"),
        pytest.param(Rules(expiry=Expiry(mode=ExpiryMode.days)), "takes days", "expiry.days",
                     id="days-without-n"),
        pytest.param(Rules(expiry=Expiry(mode=ExpiryMode.days, days=3, months=3)), "takes days",
                     "expiry.months", id="days-with-months"),
        pytest.param(Rules(expiry=Expiry(mode=ExpiryMode.end_of_month)), "takes months",
                     "expiry.months", id="month-without-n"),
        pytest.param(Rules(expiry=Expiry(mode=ExpiryMode.never, months=3)), "no number",
                     "expiry.months", id="never-with-n"),
        pytest.param(Rules(expiry=Expiry(mode=ExpiryMode.days, days=0)), "1..", "expiry.days",
                     id="zero-days"),
    ],
)  # fmt: skip
def test_contradictory_rules_are_refused_naming_the_field(
    rules: Rules, says: str, field: str
) -> None:
    refused = check_rules(rules)
    assert isinstance(refused, Rejected)
    assert says in refused.detail
    assert refused.field == field


def test_sensible_rules_pass() -> None:
    assert check_rules(auto_service) is None
    assert check_rules(Rules(expiry=Expiry(mode=ExpiryMode.end_of_month, months=12))) is None


@pytest.mark.parametrize(
    ("expiry", "activates", "expires"),
    [
        pytest.param(Expiry(), "2026-03-15T10:00:00+00:00", None, id="never"),
        pytest.param(
            Expiry(mode=ExpiryMode.days, days=30), "2026-03-15T10:00:00+00:00",
            "2026-04-14T10:00:00+00:00", id="thirty-days",
        ),
        pytest.param(
            Expiry(mode=ExpiryMode.end_of_month, months=12), "2026-03-15T10:00:00+00:00",
            "2027-04-01T00:00:00+00:00", id="end-of-march-next-year",
        ),
        pytest.param(
            Expiry(mode=ExpiryMode.end_of_month, months=1), "2026-12-31T23:59:00+00:00",
            "2027-02-01T00:00:00+00:00", id="across-the-year-end",
        ),
        pytest.param(
            Expiry(mode=ExpiryMode.end_of_month, months=11), "2026-01-01T00:00:00+00:00",
            "2027-01-01T00:00:00+00:00", id="to-the-end-of-december",
        ),
    ],
)  # fmt: skip
def test_expiry_modes(expiry: Expiry, activates: str, expires: str | None) -> None:
    at = datetime.fromisoformat(activates)
    assert expiry_at(expiry, at) == (datetime.fromisoformat(expires) if expires else None)


# When points expire: the call's own expires_at, else the rules' expiry once the program has
# rules (never included), else the program's expiry_days, else never.
ACTIVATES = datetime(2026, 3, 15, 10, 0, tzinfo=UTC)
ASKED = datetime(2026, 4, 1, tzinfo=UTC)
MONTHLY = Expiry(mode=ExpiryMode.end_of_month, months=1)


@pytest.mark.parametrize(
    ("requested", "rules_expiry", "expiry_days", "expires"),
    [
        pytest.param(ASKED, MONTHLY, 30, ASKED, id="the-call-wins"),
        pytest.param(None, MONTHLY, 30, datetime(2026, 5, 1, tzinfo=UTC), id="rules-over-program"),
        pytest.param(None, Expiry(), 30, None, id="rules-never-over-program"),
        pytest.param(None, None, 30, ACTIVATES + timedelta(days=30), id="program-without-rules"),
        pytest.param(None, None, None, None, id="never"),
        pytest.param(ASKED, None, None, ASKED, id="the-call-without-any-default"),
    ],
)  # fmt: skip
def test_one_rule_says_when_points_expire(
    requested: datetime | None,
    rules_expiry: Expiry | None,
    expiry_days: int | None,
    expires: datetime | None,
) -> None:
    expiry = expiry_in_force(rules_expiry, expiry_days)
    assert lot_expires_at(requested, expiry, ACTIVATES) == expires


def test_a_program_never_given_rules_expires_by_its_expiry_days() -> None:
    assert default_rules(30).expiry == Expiry(mode=ExpiryMode.days, days=30)
    assert default_rules(None) == Rules()
