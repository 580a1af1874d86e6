"""The checkout calculation: for a receipt, how many points may pay for it, how many the customer
asked to spend are allocated to each line, and how many each line earns on the money paid.

Pure and deterministic; every rounding is named and goes down:

- a line's cap on points is ``floor(amount × max_share / point_value)``;
- the receipt's cap is the least of: the lines' caps summed, what leaves ``min_money_minor`` to
  pay in money, and the points the customer has available;
- the points spent are spread over the lines in proportion to their caps by the largest
  remainder method (ties to the earlier line), so line sums equal the total exactly and no line
  exceeds its cap;
- first the program's discount (``processing/core/discounts.py``, decision 0036) comes off
  each line; the points' cap (max share, the money left) and the earning read the line after
  it, so ``money_minor = amount_minor − program_discount_minor − points × point value``;
- each line earns ``floor(money paid on it × rate / point_value)`` — points are earned on money
  only, never on the part paid with points, and a later return by line claws back exactly what
  that line earned. The total earned is the sum of the lines.
"""

import msgspec

from processing.core.discounts import line_discounts
from processing.core.invariants import invariant
from processing.core.membership import InForce, line_discount_minor
from processing.core.model import Line
from processing.core.rules import Rules, Tier, basis_points_whole


class LineResult(msgspec.Struct, frozen=True, kw_only=True):
    line_id: str
    quantity: int
    amount_minor: int
    max_redeemable_points: int
    redeemed_points: int
    money_minor: int
    earned_points: int  # the promo codes' points on the line included
    earn_bp: int
    promo_points: int = 0  # of earned_points, what promo codes gave (decision 0032)
    promo_discount_minor: int = 0  # the money discount codes grant on the line: the till's
    # Of money_minor, what gift certificates paid (decision 0033): it earns no points.
    certificate_minor: int = 0
    # The program's discount (decision 0036): the rate applied and what the till takes off;
    # amount_minor is the line as sent, money_minor is after it.
    program_discount_bp: int = 0
    program_discount_minor: int = 0
    # A member's discount on the line (decision 0035): the till or the shop applies it.
    membership_discount_minor: int = 0


class Calculation(msgspec.Struct, frozen=True, kw_only=True):
    lines: tuple[LineResult, ...]
    amount_minor: int
    max_redeemable_points: int
    redeemed_points: int
    money_minor: int
    earned_points: int
    tier: str | None
    certificate_minor: int = 0  # of money_minor, what gift certificates paid
    program_discount_minor: int = 0  # of amount_minor, what the program's discount took off
    membership: InForce | None = None  # the paid membership it was priced with (decision 0035)


def line_cap(rules: Rules, line: Line, discount_minor: int = 0) -> int:
    """The most points the line may take: of its price after the program's discount."""
    redemption = rules.redemption
    if line.sku in redemption.excluded_skus or line.category in redemption.excluded_categories:
        return 0
    return (
        (line.amount_minor - discount_minor)
        * redemption.max_share_bp
        // (basis_points_whole * rules.point_value_minor)
    )


def earn_rate(rules: Rules, tier: Tier | None, line: Line) -> int:
    earning = rules.earning
    if line.sku in earning.excluded_skus or line.category in earning.excluded_categories:
        return 0
    if line.sku in earning.sku_bp:
        return earning.sku_bp[line.sku]
    if line.category is not None and line.category in earning.category_bp:
        return earning.category_bp[line.category]
    return tier.earn_bp if tier is not None else earning.base_bp


def spread(points: int, caps: list[int]) -> list[int]:
    """``points`` over lines in proportion to ``caps``, largest remainder first, ties to the
    earlier line; each share ≤ its cap and the shares sum to ``points``."""
    total = sum(caps)
    invariant(0 <= points <= total, "the points spread fit the lines' caps")
    if points == 0:
        return [0] * len(caps)
    shares = [points * cap // total for cap in caps]
    remainders = [points * cap % total for cap in caps]
    left = points - sum(shares)
    for index in sorted(range(len(caps)), key=lambda i: (-remainders[i], i))[:left]:
        shares[index] += 1
    invariant(all(share <= cap for share, cap in zip(shares, caps, strict=True)), "shares ≤ caps")
    return shares


def calculate(
    rules: Rules, tier: Tier | None, lines: tuple[Line, ...], available: int, requested: int
) -> Calculation:
    """The receipt as the till should charge it, for ``requested`` points (0 to only see the
    caps); a request above the cap is cut to the cap, never refused."""
    invariant(all(line.amount_minor >= 0 for line in lines), "line amounts are not negative")
    tier_bp = tier.discount_bp if tier is not None else None
    discounts = line_discounts(rules.discount, tier_bp, lines)
    caps = [
        line_cap(rules, line, given.discount_minor)
        for line, given in zip(lines, discounts, strict=True)
    ]
    amount = sum(line.amount_minor for line in lines)
    discounted = sum(given.discount_minor for given in discounts)
    money_floor = (
        max(0, amount - discounted - rules.redemption.min_money_minor) // rules.point_value_minor
    )
    max_redeemable = min(sum(caps), money_floor, max(0, available))
    redeemed = min(requested, max_redeemable)
    shares = spread(redeemed, caps)
    results = []
    for line, given, cap, share in zip(lines, discounts, caps, shares, strict=True):
        money = line.amount_minor - given.discount_minor - share * rules.point_value_minor
        rate = earn_rate(rules, tier, line)
        earned = money * rate // (basis_points_whole * rules.point_value_minor)
        results.append(
            LineResult(
                line_id=line.line_id,
                quantity=line.quantity,
                amount_minor=line.amount_minor,
                max_redeemable_points=cap,
                redeemed_points=share,
                money_minor=money,
                earned_points=earned,
                earn_bp=rate,
                program_discount_bp=given.discount_bp,
                program_discount_minor=given.discount_minor,
            )
        )
    return Calculation(
        lines=tuple(results),
        amount_minor=amount,
        max_redeemable_points=max_redeemable,
        redeemed_points=redeemed,
        money_minor=amount - discounted - redeemed * rules.point_value_minor,
        earned_points=sum(result.earned_points for result in results),
        tier=tier.name if tier is not None else None,
        program_discount_minor=discounted,
    )


def with_membership(
    priced: Calculation, lines: tuple[Line, ...], membership: InForce | None, rules: Rules
) -> Calculation:
    """The receipt with the member's figures (decision 0035): the membership it was priced with
    (its earning rate is already in the rules it was priced by) and, on each qualifying line,
    ``floor(quantity × unit price × discount_bp / 10 000)`` off for the till to apply. A line
    qualifies unless the rules exclude it from earning; the discount is reckoned before any
    discount, as a promo code's is, so calculate and the purchase that follows agree."""
    if membership is None:
        return priced
    bp, earning = membership.privileges.discount_bp, rules.earning
    results = []
    for line, result in zip(lines, priced.lines, strict=True):
        excluded = line.sku in earning.excluded_skus or line.category in earning.excluded_categories
        off = 0 if excluded else line_discount_minor(line.quantity * line.unit_price_minor, bp)
        results.append(msgspec.structs.replace(result, membership_discount_minor=off))
    return msgspec.structs.replace(priced, lines=tuple(results), membership=membership)
