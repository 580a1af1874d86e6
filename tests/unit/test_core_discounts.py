"""The program's discount (decision 0036), as a pure computation and in the checkout's order:
the rate by tier, the exclusions, the named roundings, then points on the price after it,
certificates of the money left, promo codes on top, and a return by line giving back what was
paid for the returned part."""

import random
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import msgspec
import pytest

from processing.core.certificates import pay_with_certificates
from processing.core.checkout import calculate
from processing.core.discounts import (
    Discount,
    DiscountRounding,
    discount_rate,
    line_discounts,
    round_down,
)
from processing.core.model import Line, Rejected
from processing.core.promo import Campaign, Code, Effect, Where, apply_codes
from processing.core.returns import ReturnPlan, plan_return
from processing.core.rules import Earning, Redemption, Rules, Tier, check_rules, tier_for

rub = 100


def line(
    line_id: str,
    price: int,
    quantity: int = 1,
    sku: str = "sku",
    category: str | None = None,
    discount_minor: int = 0,
) -> Line:
    return Line(
        line_id=line_id,
        sku=sku,
        category=category,
        quantity=quantity,
        unit_price_minor=price,
        discount_minor=discount_minor,
    )


# A discount-card scheme: 3 % for everyone, 5 % from 10 000 ₽ spent, 7 % from 50 000 ₽;
# tobacco never discounted; points earned 1 % on the money and paying up to half.
card = Rules(
    point_value_minor=1 * rub,
    earning=Earning(base_bp=100),
    redemption=Redemption(max_share_bp=5000),
    discount=Discount(base_bp=300, excluded_categories=frozenset({"tobacco"})),
    tiers=(
        Tier(name="base", threshold_minor=0, earn_bp=100),
        Tier(name="silver", threshold_minor=10_000 * rub, earn_bp=100, discount_bp=500),
        Tier(name="gold", threshold_minor=50_000 * rub, earn_bp=100, discount_bp=700),
    ),
)
base, silver, gold = card.tiers


def test_the_rate_is_the_tiers_else_the_programs_and_none_on_excluded_lines() -> None:
    assert discount_rate(card.discount, None, line("1", 100)) == 300
    assert discount_rate(card.discount, base.discount_bp, line("1", 100)) == 300
    assert discount_rate(card.discount, silver.discount_bp, line("1", 100)) == 500
    assert discount_rate(card.discount, 700, line("1", 100, category="tobacco")) == 0
    by_sku = Discount(base_bp=300, excluded_skus=frozenset({"gift-card"}))
    assert discount_rate(by_sku, 500, line("1", 100, sku="gift-card")) == 0
    assert discount_rate(by_sku, 0, line("1", 100)) == 0  # a tier may take the discount away


def test_roundings_go_down_to_the_minor_unit_or_to_whole_units() -> None:
    minor = Discount(base_bp=333)
    whole = Discount(base_bp=333, rounding=DiscountRounding.whole)
    assert round_down(minor, 1_999) == 1_999
    assert round_down(whole, 1_999) == 1_900
    assert round_down(whole, 99) == 0
    assert (
        round_down(Discount(rounding=DiscountRounding.whole, whole_unit_minor=1_000), 2_999)
        == 2_000
    )
    # 3.33 % of 123.45 ₽ is 4.1108… ₽: 411 kopecks, or 4 whole rubles.
    assert line_discounts(minor, None, (line("1", 12_345),))[0].discount_minor == 411
    assert line_discounts(whole, None, (line("1", 12_345),))[0].discount_minor == 400


def test_the_discount_is_reckoned_on_the_line_before_discounts_and_never_passes_it() -> None:
    # The till's own 10 % off and a 5 % program discount add up: 5 % of 1 000 ₽, not of 900 ₽.
    given = line_discounts(
        Discount(base_bp=500), None, (line("1", 1_000 * rub, discount_minor=100 * rub),)
    )
    assert given[0].discount_minor == 50 * rub
    # A line the till already gave away almost whole cannot be discounted below zero.
    nearly_free = line("1", 100 * rub, discount_minor=99 * rub)
    assert line_discounts(Discount(base_bp=5000), None, (nearly_free,))[0].discount_minor == 1 * rub


def test_calculate_takes_the_discount_off_before_points_pay_and_earn() -> None:
    lines = (line("1", 1_000 * rub, quantity=2), line("2", 500 * rub, category="tobacco"))
    priced = calculate(card, silver, lines, available=10_000, requested=10_000)
    first, second = priced.lines
    assert (first.program_discount_bp, first.program_discount_minor) == (500, 100 * rub)
    assert (second.program_discount_bp, second.program_discount_minor) == (0, 0)
    assert priced.program_discount_minor == 100 * rub
    assert priced.amount_minor == 2_500 * rub  # as sent: its meaning is kept
    # Half of the price after the discount: 950 points on the first line, 250 on the second.
    assert (first.max_redeemable_points, second.max_redeemable_points) == (950, 250)
    assert priced.redeemed_points == 1_200
    assert first.money_minor == (2_000 - 100 - 950) * rub
    assert priced.money_minor == priced.amount_minor - priced.program_discount_minor - 1_200 * rub
    # 1 % of the money left on each line.
    assert (first.earned_points, second.earned_points) == (9, 2)


def test_the_min_money_is_reckoned_after_the_discount() -> None:
    rules = Rules(redemption=Redemption(min_money_minor=100 * rub), discount=Discount(base_bp=1000))
    priced = calculate(rules, None, (line("1", 1_000 * rub),), available=10_000, requested=10_000)
    assert priced.program_discount_minor == 100 * rub
    assert priced.redeemed_points == 800  # 900 ₽ after the discount, 100 ₽ left in money
    assert priced.money_minor == 100 * rub


def test_a_discount_only_program_earns_nothing_and_prices_the_discount() -> None:
    rules = Rules(discount=Discount(base_bp=1000), redemption=Redemption(max_share_bp=0))
    assert check_rules(rules) is None
    priced = calculate(rules, None, (line("1", 999, quantity=3),), available=0, requested=0)
    assert priced.program_discount_minor == 299  # 10 % of 29.97 ₽, down to the kopeck
    assert priced.money_minor == 2_997 - 299
    assert priced.earned_points == 0


def test_crossing_the_threshold_raises_the_discount_on_the_next_receipt() -> None:
    receipt = (line("1", 1_000 * rub),)
    before = calculate(card, tier_for(card, 9_999 * rub), receipt, 0, 0)
    after = calculate(card, tier_for(card, 10_000 * rub), receipt, 0, 0)
    top = calculate(card, tier_for(card, 50_000 * rub), receipt, 0, 0)
    assert [p.program_discount_minor for p in (before, after, top)] == [
        30 * rub,
        50 * rub,
        70 * rub,
    ]


def test_certificates_pay_of_the_money_after_the_discount() -> None:
    priced = calculate(card, None, (line("1", 1_000 * rub),), 0, 0)
    assert priced.money_minor == 970 * rub
    refused = pay_with_certificates(priced, 971 * rub, card.point_value_minor)
    assert isinstance(refused, Rejected)
    assert refused.field == "certificates"
    paid = pay_with_certificates(priced, 970 * rub, card.point_value_minor)
    assert not isinstance(paid, Rejected)
    assert (paid.earned_points, paid.program_discount_minor) == (0, 30 * rub)


def test_a_return_by_line_gives_back_the_discounted_price_in_parts_that_add_up() -> None:
    priced = calculate(card, gold, (line("1", 333, quantity=3), line("2", 100 * rub)), 0, 0)
    first = priced.lines[0]
    assert first.program_discount_minor == 69  # 7 % of 9.99 ₽ is 69.93 kopecks
    returned_before: dict[str, int] = {}
    parts = []
    for _ in range(3):
        plan = plan_return(priced.lines, returned_before, (("1", 1),))
        assert isinstance(plan, ReturnPlan)
        parts.append(plan)
        returned_before["1"] = returned_before.get("1", 0) + 1
    assert [p.money_minor for p in parts] == [310, 310, 310]
    assert sum(p.money_minor for p in parts) == first.money_minor == 999 - 69
    assert sum(p.program_discount_minor for p in parts) == 69


@pytest.mark.parametrize(
    ("rules", "field"),
    [
        (Rules(discount=Discount(base_bp=10_001)), "discount.base_bp"),
        (Rules(tiers=(Tier(name="a", threshold_minor=0, discount_bp=-1),)), "tiers[0].discount_bp"),
        (Rules(discount=Discount(whole_unit_minor=0)), "discount.whole_unit_minor"),
    ],
)
def test_rules_refuse_discounts_out_of_range_naming_the_field(rules: Rules, field: str) -> None:
    refused = check_rules(rules)
    assert isinstance(refused, Rejected)
    assert refused.field == field


def test_nothing_discounted_without_a_discount_keeps_every_figure() -> None:
    plain = Rules(earning=Earning(base_bp=500))
    priced = calculate(plain, None, (line("1", 1_000 * rub),), 1_000, 100)
    assert priced.program_discount_minor == 0
    assert priced.money_minor == 900 * rub
    assert priced.lines[0].earned_points == 45


def test_a_discount_code_and_the_program_discount_add_up_the_same_at_calculate_and_purchase() -> (
    None
):
    now = datetime(2026, 12, 5, 12, tzinfo=UTC)
    campaign = Campaign(
        id=uuid4(), starts_at=now - timedelta(days=1), effect=Effect.discount_bp, value=1000
    )
    found = {"TEN": Code(id=uuid4(), code="TEN", campaign=campaign)}
    where = Where(customer_id=UUID(int=1), channel="pos", store_id=None, now=now)
    receipt = (line("1", 1_000 * rub),)
    # calculate: the program's 5 % (silver) and the code's 10 % both of the price before
    # discounts; the code's is a figure the till applies.
    quoted = calculate(card, silver, receipt, 0, 0)
    quoted, promos = apply_codes(("TEN",), found, where, receipt, quoted, card.point_value_minor)
    assert promos[0].applied
    first = quoted.lines[0]
    assert (first.program_discount_minor, first.promo_discount_minor) == (50 * rub, 100 * rub)
    # purchase: the till sends the line with the code's discount taken off (discount_minor),
    # never the program's, which the purchase takes off again: the same 50 ₽.
    sent = (msgspec.structs.replace(receipt[0], discount_minor=100 * rub),)
    bought = calculate(card, silver, sent, 0, 0)
    bought, _ = apply_codes(("TEN",), found, where, sent, bought, card.point_value_minor)
    assert bought.lines[0].program_discount_minor == 50 * rub
    assert bought.lines[0].promo_discount_minor == 100 * rub
    assert bought.money_minor == 850 * rub  # 1 000 ₽ less 100 ₽ (code) less 50 ₽ (program)
    assert bought.earned_points == 8  # 1 % of 850 ₽


def test_over_many_receipts_the_discount_never_passes_the_rate_or_the_line() -> None:
    """Seeded receipts of every shape: each line's discount is at most the exact percentage,
    within one rounding step of it, never past the line; points and money stay within the
    price after it; and returning a line one unit at a time gives back exactly its money."""
    draw = random.Random(36)
    for _ in range(400):
        step = draw.choice([1, 100, 1_000])
        rounding = DiscountRounding.minor if step == 1 else DiscountRounding.whole
        discount = Discount(
            base_bp=draw.randrange(0, 10_001), rounding=rounding, whole_unit_minor=step
        )
        rules = Rules(
            earning=Earning(base_bp=draw.randrange(0, 2_000)),
            redemption=Redemption(max_share_bp=draw.randrange(0, 10_001)),
            discount=discount,
        )
        lines = tuple(
            line(
                str(n),
                draw.randrange(0, 500_000),
                quantity=draw.randrange(1, 7),
                discount_minor=0,
            )
            for n in range(draw.randrange(1, 5))
        )
        priced = calculate(rules, None, lines, 10**9, draw.randrange(0, 10**6))
        for sent, result in zip(lines, priced.lines, strict=True):
            exact = sent.quantity * sent.unit_price_minor * discount.base_bp // 10_000
            assert 0 <= result.program_discount_minor <= min(exact, sent.amount_minor)
            assert exact - result.program_discount_minor < step
            assert result.program_discount_minor % step == 0
            assert 0 <= result.money_minor <= sent.amount_minor - result.program_discount_minor
            before: dict[str, int] = {}
            given_back = 0
            for _unit in range(sent.quantity):
                plan = plan_return(priced.lines, before, ((sent.line_id, 1),))
                assert isinstance(plan, ReturnPlan)
                given_back += plan.money_minor
                before[sent.line_id] = before.get(sent.line_id, 0) + 1
            assert given_back == result.money_minor
        assert priced.money_minor == (
            priced.amount_minor
            - priced.program_discount_minor
            - priced.redeemed_points * rules.point_value_minor
        )
