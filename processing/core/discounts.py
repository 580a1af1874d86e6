"""The program's own discount (decision 0036): a fixed percentage off each line, for everyone
or by tier, that the till takes off the price and the purchase records per line.

Pure and deterministic; the one place a program discount is computed (a paid membership's
discount is computed by the same function):

- the rate of a line is 0 when its SKU or category is excluded from the discount, else the
  customer's tier's ``discount_bp`` when the tier names one, else the program's ``base_bp``
  (so a tier reached by spend raises — or replaces — the program's percentage);
- a line's discount is ``gross × rate / 10 000`` rounded down by the program's named rounding:
  ``minor`` to the minor unit, ``whole`` to a whole multiple of ``whole_unit_minor`` (100: whole
  rubles), so the customer never gets more than the percentage;
- ``gross`` is the line before any discount (``quantity × unit_price_minor``), as promo codes
  reckon theirs: discounts add up, they never compound, and the figure is the same at
  ``calculate`` and at the purchase whatever the till took off for codes in between;
- a line's discount never passes what is left of the line as sent (its ``amount_minor``).
"""

import enum

import msgspec

from processing.core.invariants import invariant
from processing.core.model import Line

basis_points_whole = 10_000


class DiscountRounding(enum.StrEnum):
    minor = "minor"  # each line's discount down to the minor unit
    whole = "whole"  # each line's discount down to a multiple of whole_unit_minor


class Discount(msgspec.Struct, frozen=True, kw_only=True):
    """A program's discount rules: ``base_bp`` for everyone (a tier's ``discount_bp`` replaces
    it), the SKUs and categories it never applies to, and how each line's figure rounds."""

    base_bp: int = 0
    excluded_categories: frozenset[str] = frozenset()
    excluded_skus: frozenset[str] = frozenset()
    rounding: DiscountRounding = DiscountRounding.minor
    whole_unit_minor: int = 100


class LineDiscount(msgspec.Struct, frozen=True, kw_only=True):
    line_id: str
    discount_bp: int  # the rate applied to the line (0 when excluded)
    discount_minor: int  # what the till takes off the line


def discount_rate(discount: Discount, tier_bp: int | None, line: Line) -> int:
    """The line's rate: excluded lines get none; the tier's rate, when it has one, wins."""
    if line.sku in discount.excluded_skus or (
        line.category is not None and line.category in discount.excluded_categories
    ):
        return 0
    return tier_bp if tier_bp is not None else discount.base_bp


def round_down(discount: Discount, exact_minor: int) -> int:
    """The named rounding of one line's discount; always down."""
    if discount.rounding is DiscountRounding.whole:
        invariant(discount.whole_unit_minor >= 1, "a whole unit is at least one minor unit")
        return exact_minor // discount.whole_unit_minor * discount.whole_unit_minor
    return exact_minor


def line_discounts(
    discount: Discount, tier_bp: int | None, lines: tuple[Line, ...]
) -> tuple[LineDiscount, ...]:
    """Each line's program discount, in the receipt's order."""
    found = []
    for line in lines:
        rate = discount_rate(discount, tier_bp, line)
        invariant(0 <= rate <= basis_points_whole, "discount rates are 0..100 %")
        gross = line.quantity * line.unit_price_minor
        figure = round_down(discount, gross * rate // basis_points_whole)
        found.append(
            LineDiscount(
                line_id=line.line_id,
                discount_bp=rate,
                discount_minor=max(0, min(figure, line.amount_minor)),
            )
        )
    return tuple(found)
