"""Promo codes (decision 0032): which of the codes a receipt carries apply, and what each gives
on which line. Pure and deterministic; the service loads the codes with their campaigns and
counters, and the apply that records the purchase enforces the caps again in Postgres.

A code applies when it is known, not bound to another customer, inside its campaign's window,
at one of its channels and stores, under its caps, on a receipt that meets the campaign's
minimum and has a qualifying line, and when it stacks with the codes before it. Otherwise it
is refused with one reason (``PromoRefusal``), which never fails the calculation.

What an applied code gives goes on its qualifying lines, each rounding down:

- ``bonus_points``: the points spread over the lines in proportion to their money (largest
  remainder, ties to the earlier line), so the lines add up to the points exactly;
- ``earn_multiplier_bp``: ``floor(line earned × (value − 10 000) / 10 000)`` more;
- ``extra_bp``: ``floor(line money × value / (10 000 × point value))`` more;
- ``discount_bp``: no points; ``floor(line before discounts × value / 10 000)`` off, which
  the till applies (and sends as the line's ``discount_minor`` with the purchase). The
  campaign's minimum receipt is reckoned before discounts too, so a code that applied at
  calculate applies to the discounted purchase; points are earned on the money the purchase's
  lines say was paid.

The points are added to the lines' earned points, so the purchase's earning carries them and a
return by line takes back what the code gave on the returned lines.
"""

import enum
import secrets
from datetime import datetime
from uuid import UUID

import msgspec

from processing.core import limits
from processing.core.checkout import Calculation, LineResult
from processing.core.invariants import invariant
from processing.core.model import Line
from processing.core.rules import basis_points_whole

# Letters and digits a customer cannot mistake for another: no 0/O, 1/I/L. 31, a prime, so a
# weighted check character catches every single wrong character and every swap of neighbours.
alphabet = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
_values = {character: index for index, character in enumerate(alphabet)}


class Effect(enum.StrEnum):
    bonus_points = "bonus_points"
    earn_multiplier_bp = "earn_multiplier_bp"
    extra_bp = "extra_bp"
    discount_bp = "discount_bp"


class Stacking(enum.StrEnum):
    stackable = "stackable"  # applies with other stackable codes
    exclusive = "exclusive"  # applies alone


class PromoRefusal(enum.StrEnum):
    """Why a code does not apply, in the order they are checked."""

    mistyped = "mistyped"  # a generated code's check character does not match
    unknown = "unknown"
    repeated = "repeated"  # the receipt names the code (or its campaign) twice
    other_customer = "other_customer"  # a personal code of another customer
    not_yet_valid = "not_yet_valid"
    expired = "expired"
    wrong_channel = "wrong_channel"
    wrong_store = "wrong_store"
    cap_reached = "cap_reached"  # the code's or the campaign's uses
    customer_cap_reached = "customer_cap_reached"
    conditions_not_met = "conditions_not_met"  # the minimum receipt, or no qualifying line
    not_stackable = "not_stackable"


class Campaign(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    starts_at: datetime
    ends_at: datetime | None = None
    channels: frozenset[str] = frozenset()  # empty: every channel
    stores: frozenset[str] = frozenset()  # empty: every store
    min_amount_minor: int = 0
    skus: frozenset[str] = frozenset()  # with categories empty too: every line
    categories: frozenset[str] = frozenset()
    effect: Effect
    value: int
    uses_max: int | None = None
    uses_per_customer_max: int | None = None
    stacking: Stacking = Stacking.stackable
    used: int = 0


class Code(msgspec.Struct, frozen=True, kw_only=True):
    """A stored code with its campaign, its counter, and the customer's uses of the campaign."""

    id: UUID
    code: str
    campaign: Campaign
    customer_id: UUID | None = None  # a personal code's customer
    uses_max: int | None = None
    used: int = 0
    customer_used: int = 0


class Where(msgspec.Struct, frozen=True, kw_only=True):
    """Who uses the codes, where and when."""

    customer_id: UUID
    channel: str
    store_id: str | None
    now: datetime


class PromoLine(msgspec.Struct, frozen=True, kw_only=True):
    line_id: str
    points: int
    discount_minor: int


class PromoResult(msgspec.Struct, frozen=True, kw_only=True):
    """One code of the receipt as typed: applied (with what it gives on which line) or
    refused with its reason."""

    code: str
    applied: bool
    reason: PromoRefusal | None = None
    detail: str | None = None
    code_id: UUID | None = None
    campaign_id: UUID | None = None
    points: int = 0
    discount_minor: int = 0
    lines: tuple[PromoLine, ...] = ()
    customer_uses_max: int | None = None  # the campaign's per-customer cap, for the apply


def normalized(typed: str) -> str:
    """A code as stored: upper-case, without spaces, dashes and underscores."""
    return "".join(ch for ch in typed.upper() if ch not in " -_\t")


def check_character(body: str) -> str:
    total = sum((index + 1) * _values[character] for index, character in enumerate(body))
    return alphabet[total % len(alphabet)]


def generated_code() -> str:
    """A code of a batch: random characters from ``alphabet`` (``secrets``), then the check."""
    body = "".join(secrets.choice(alphabet) for _ in range(limits.promo_code_random_characters))
    return body + check_character(body)


def looks_generated(code: str) -> bool:
    return len(code) == limits.promo_code_random_characters + 1 and all(
        character in _values for character in code
    )


def check_matches(code: str) -> bool:
    return check_character(code[:-1]) == code[-1]


def gross(line: Line) -> int:
    """A line before any discount: a discount a code grants is the till's, and the till sends
    the purchase's lines with it taken off, so the code's minimum and its own discount are
    reckoned on the lines before it and say the same at calculate and at purchase."""
    return line.quantity * line.unit_price_minor


def qualifying(campaign: Campaign, line: Line) -> bool:
    if not campaign.skus and not campaign.categories:
        return True
    return line.sku in campaign.skus or (
        line.category is not None and line.category in campaign.categories
    )


def apportion(total: int, weights: list[int]) -> list[int]:
    """``total`` over ``weights`` in proportion, largest remainder first, ties to the earlier:
    the shares add up to ``total`` exactly."""
    whole = sum(weights)
    invariant(whole > 0 and total >= 0, "something to apportion over")
    shares = [total * weight // whole for weight in weights]
    remainders = [total * weight % whole for weight in weights]
    left = total - sum(shares)
    for index in sorted(range(len(weights)), key=lambda i: (-remainders[i], i))[:left]:
        shares[index] += 1
    return shares


def effect_on(
    campaign: Campaign, lines: list[tuple[Line, LineResult]], point_value_minor: int
) -> tuple[PromoLine, ...]:
    """What the campaign gives on each qualifying line (all of them: some may get nothing)."""
    if campaign.effect is Effect.bonus_points:
        weights = [priced.money_minor for _, priced in lines]
        if sum(weights) == 0:
            weights = [1] * len(lines)
        shares = apportion(campaign.value, weights)
        return tuple(
            PromoLine(line_id=line.line_id, points=share, discount_minor=0)
            for (line, _), share in zip(lines, shares, strict=True)
        )
    found: list[PromoLine] = []
    for line, priced in lines:
        points = discount = 0
        if campaign.effect is Effect.earn_multiplier_bp:
            extra = max(0, campaign.value - basis_points_whole)
            points = priced.earned_points * extra // basis_points_whole
        elif campaign.effect is Effect.extra_bp:
            # On the money that earns: what gift certificates paid earns nothing (decision 0033).
            earning = priced.money_minor - priced.certificate_minor
            points = earning * campaign.value // (basis_points_whole * point_value_minor)
        else:
            discount = gross(line) * campaign.value // basis_points_whole
        found.append(PromoLine(line_id=line.line_id, points=points, discount_minor=discount))
    return tuple(found)


def _refused(
    typed: str, reason: PromoRefusal, detail: str, code: Code | None = None
) -> PromoResult:
    return PromoResult(
        code=typed,
        applied=False,
        reason=reason,
        detail=detail,
        code_id=None if code is None else code.id,
        campaign_id=None if code is None else code.campaign.id,
    )


def _refusal(code: Code, where: Where) -> tuple[PromoRefusal, str] | None:
    """A found code's refusal by who, where and when it is used and its caps."""
    campaign = code.campaign
    if code.customer_id is not None and code.customer_id != where.customer_id:
        return PromoRefusal.other_customer, "The code is another customer's."
    if where.now < campaign.starts_at:
        return PromoRefusal.not_yet_valid, f"The code works from {campaign.starts_at.isoformat()}."
    if campaign.ends_at is not None and where.now >= campaign.ends_at:
        return PromoRefusal.expired, f"The code worked until {campaign.ends_at.isoformat()}."
    if campaign.channels and where.channel not in campaign.channels:
        return PromoRefusal.wrong_channel, f"The code works at {sorted(campaign.channels)}."
    if campaign.stores and where.store_id not in campaign.stores:
        return PromoRefusal.wrong_store, "The code does not work at this store."
    if code.uses_max is not None and code.used >= code.uses_max:
        return PromoRefusal.cap_reached, "The code has been used as often as it may be."
    if campaign.uses_max is not None and campaign.used >= campaign.uses_max:
        return PromoRefusal.cap_reached, "The campaign's codes have been used as often as allowed."
    cap = campaign.uses_per_customer_max
    if cap is not None and code.customer_used >= cap:
        return PromoRefusal.customer_cap_reached, f"The customer has used the campaign {cap} times."
    return None


def apply_codes(
    typed: tuple[str, ...],
    found: dict[str, Code],
    where: Where,
    lines: tuple[Line, ...],
    priced: Calculation,
    point_value_minor: int,
) -> tuple[Calculation, tuple[PromoResult, ...]]:
    """The receipt as priced with what the applied codes give added to its lines, and each
    code's result in the order typed. ``found`` holds the stored codes by normalized code."""
    results: list[PromoResult] = []
    applied: list[PromoResult] = []
    exclusive_applied = False
    seen_codes: set[str] = set()
    seen_campaigns: set[UUID] = set()
    by_line = {line.line_id: line for line in lines}
    for text in typed:
        key = normalized(text)
        code = found.get(key)
        if code is None:
            if looks_generated(key) and not check_matches(key):
                results.append(_refused(text, PromoRefusal.mistyped, "The code is mistyped."))
            else:
                results.append(_refused(text, PromoRefusal.unknown, "No such code."))
            continue
        if key in seen_codes or code.campaign.id in seen_campaigns:
            results.append(
                _refused(text, PromoRefusal.repeated, "The receipt has this campaign's code.", code)
            )
            continue
        seen_codes.add(key)
        refusal = _refusal(code, where)
        campaign = code.campaign
        eligible = [
            (line, result)
            for result in priced.lines
            if qualifying(campaign, line := by_line[result.line_id])
        ]
        before_discounts = sum(gross(line) for line in lines)
        if refusal is None and (before_discounts < campaign.min_amount_minor or not eligible):
            refusal = (
                PromoRefusal.conditions_not_met,
                f"The code needs a receipt of {campaign.min_amount_minor} minor units or more "
                "with a line it applies to.",
            )
        if refusal is None and (
            exclusive_applied or (campaign.stacking is Stacking.exclusive and applied)
        ):
            refusal = PromoRefusal.not_stackable, "The code does not stack with another code."
        if refusal is not None:
            results.append(_refused(text, *refusal, code))
            continue
        seen_campaigns.add(campaign.id)
        exclusive_applied = campaign.stacking is Stacking.exclusive
        given = effect_on(campaign, eligible, point_value_minor)
        result = PromoResult(
            code=text,
            applied=True,
            code_id=code.id,
            campaign_id=campaign.id,
            points=sum(line.points for line in given),
            discount_minor=sum(line.discount_minor for line in given),
            lines=given,
            customer_uses_max=campaign.uses_per_customer_max,
        )
        applied.append(result)
        results.append(result)
    return with_codes(priced, applied, {line.line_id: gross(line) for line in lines}), tuple(
        results
    )


def with_codes(
    priced: Calculation, applied: list[PromoResult], grosses: dict[str, int]
) -> Calculation:
    """The calculation with the applied codes' points and discounts on its lines."""
    if not applied:
        return priced
    points: dict[str, int] = {}
    discounts: dict[str, int] = {}
    for result in applied:
        for line in result.lines:
            points[line.line_id] = points.get(line.line_id, 0) + line.points
            discounts[line.line_id] = discounts.get(line.line_id, 0) + line.discount_minor
    lines = tuple(
        msgspec.structs.replace(
            line,
            earned_points=line.earned_points + points.get(line.line_id, 0),
            promo_points=line.promo_points + points.get(line.line_id, 0),
            promo_discount_minor=min(
                grosses[line.line_id],
                line.promo_discount_minor + discounts.get(line.line_id, 0),
            ),
        )
        for line in priced.lines
    )
    return msgspec.structs.replace(
        priced, lines=lines, earned_points=sum(line.earned_points for line in lines)
    )


class Offered(msgspec.Struct, frozen=True, kw_only=True):
    """The codes a receipt carries as typed, the stored ones they name, and who uses them
    where and when."""

    typed: tuple[str, ...]
    found: dict[str, Code]
    where: Where


def priced_with_codes(
    offered: Offered | None, lines: tuple[Line, ...], priced: Calculation, point_value_minor: int
) -> tuple[Calculation, tuple[PromoResult, ...]]:
    if offered is None or not offered.typed:
        return priced, ()
    return apply_codes(
        offered.typed, offered.found, offered.where, lines, priced, point_value_minor
    )


def first_refused(results: tuple[PromoResult, ...]) -> tuple[int, PromoResult] | None:
    return next(
        ((index, result) for index, result in enumerate(results) if not result.applied), None
    )
