"""Wire structs of the loyalty rules and the checkout calculation.

Percentages are basis points (``500`` is 5 %), money is integer minor units, points integers.
"""

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

import msgspec
from msgspec import Meta

from schemas.api import CheckoutLine, Operation, PricedReceipt
from schemas.base import (
    CardNumber,
    Code,
    Document,
    ExpiryDays,
    MoneyMinor,
    Name,
    Reason,
    Receipt,
    Reply,
    Request,
    Timestamp,
    whole,
)
from schemas.certificates import CertificatePaid, CertificatePayments
from schemas.membership import MembershipInForce
from schemas.promo import PromoCodeResult, PromoCodes

BasisPoints = Annotated[int, Meta(ge=0, le=10_000, description="Basis points: 500 is 5 %.")]
CodeSet = Annotated[frozenset[Code], Meta(max_length=1000)]
RateTable = Annotated[dict[Code, BasisPoints], Meta(max_length=1000)]


class EarningRules(Request, frozen=True, kw_only=True):
    """The most specific rate wins: SKU, then category, then the customer's tier, then base."""

    base_bp: BasisPoints = 0
    category_bp: RateTable = msgspec.field(default_factory=dict)
    sku_bp: RateTable = msgspec.field(default_factory=dict)
    excluded_categories: CodeSet = frozenset()
    excluded_skus: CodeSet = frozenset()


class RedemptionRules(Request, frozen=True, kw_only=True):
    """``offline_cap_points``: the most points a till that was offline may post as paying for
    one late cheque, with no reservation (0: never)."""

    max_share_bp: BasisPoints = 10_000
    excluded_categories: CodeSet = frozenset()
    excluded_skus: CodeSet = frozenset()
    min_money_minor: MoneyMinor = 0
    offline_cap_points: Annotated[int, Meta(ge=0, le=1_000_000_000)] = 0


class TierRule(Request, frozen=True, kw_only=True):
    """``discount_bp``: the tier's discount off the price, replacing the program's
    ``discount.base_bp`` for its customers (none: the program's)."""

    name: Name
    threshold_minor: MoneyMinor
    earn_bp: BasisPoints = 0
    discount_bp: BasisPoints | None = None


class DiscountRules(Request, frozen=True, kw_only=True):
    """The program's own discount off each line's price (decision 0036), which the till takes
    off: ``base_bp`` for everyone (a tier's ``discount_bp`` replaces it), never on the excluded
    SKUs and categories, each line's figure rounded down to the minor unit (``minor``) or to a
    whole multiple of ``whole_unit_minor`` (``whole``; 100: whole rubles). Points are redeemed
    and earned on the price after it."""

    base_bp: BasisPoints = 0
    excluded_categories: CodeSet = frozenset()
    excluded_skus: CodeSet = frozenset()
    rounding: Literal["minor", "whole"] = "minor"
    whole_unit_minor: Annotated[int, Meta(ge=1, le=1_000_000)] = 100


class ExpiryRule(Request, frozen=True, kw_only=True):
    mode: Literal["never", "days", "end_of_month"] = "never"
    days: ExpiryDays | None = None
    months: Annotated[int, Meta(ge=1, le=120)] | None = None


EventType = Annotated[
    str,
    Meta(min_length=1, max_length=64, pattern=whole("[a-z0-9_.-]+"), description="An event name."),
]
BonusPoints = Annotated[int, Meta(ge=0, le=1_000_000_000)]


class BonusRule(Request, frozen=True, kw_only=True):
    points: Annotated[int, Meta(ge=1, le=1_000_000_000)]
    every: Literal["once", "day", "week", "month", "year"] = "once"


class ReferralRule(Request, frozen=True, kw_only=True):
    """Both sides earn once the referred customer makes a first purchase."""

    referrer: BonusPoints = 0
    referred: BonusPoints = 0


class BonusRules(Request, frozen=True, kw_only=True):
    """``welcome`` on enrollment; ``birthday`` once a year in the birthday week (three days
    either side); ``referral`` for both sides after the referred customer's first purchase;
    ``events`` by name (``review``, ``newsletter``, your own) as often as
    ``every`` allows."""

    welcome: BonusPoints = 0
    birthday: BonusPoints = 0
    referral: ReferralRule = msgspec.field(default_factory=ReferralRule)
    events: Annotated[dict[EventType, BonusRule], Meta(max_length=50)] = msgspec.field(
        default_factory=dict
    )


class ProgramRules(Request, frozen=True, kw_only=True):
    point_value_minor: Annotated[
        int, Meta(ge=1, le=1_000_000, description="Minor units one point pays (1 ruble: 100).")
    ] = 100
    earning: EarningRules = msgspec.field(default_factory=EarningRules)
    redemption: RedemptionRules = msgspec.field(default_factory=RedemptionRules)
    tiers: Annotated[list[TierRule], Meta(max_length=20)] = msgspec.field(default_factory=list)
    tier_window_days: Annotated[int, Meta(ge=1, le=3650)] = 365
    activation_delay_days: Annotated[int, Meta(ge=0, le=366)] = 0
    expiry: ExpiryRule = msgspec.field(default_factory=ExpiryRule)
    return_policy: Literal["floor", "debt", "withhold"] = "floor"
    bonuses: BonusRules = msgspec.field(default_factory=BonusRules)
    discount: DiscountRules = msgspec.field(default_factory=DiscountRules)


class ProgramRulesView(Reply, frozen=True, kw_only=True):
    program_id: UUID
    version: int
    created_at: datetime | None
    rules: ProgramRules


class CheckoutCalculate(Request, frozen=True, kw_only=True):
    customer_id: UUID
    lines: Receipt
    redeem_points: Annotated[int, Meta(ge=0, le=1_000_000_000)] = 0
    promo_codes: PromoCodes = msgspec.field(
        default_factory=list
    )  # each applies or says why not; none fails the calculation
    # Gift certificates offered to pay part of the money; PINs are checked (and counted).
    certificates: CertificatePayments | None = None


class CheckoutQuote(Reply, frozen=True, kw_only=True):
    customer_id: UUID
    tier: str | None
    rules_version: int
    available_points: int
    amount_minor: int
    max_redeemable_points: int
    redeemed_points: int
    money_minor: int
    earned_points: int
    lines: list[CheckoutLine]
    promo_codes: list[PromoCodeResult] = msgspec.field(default_factory=list)
    certificate_minor: int = 0  # of money_minor, what gift certificates would pay
    certificates: list[CertificatePaid] = msgspec.field(default_factory=list)
    # Of amount_minor, what the program's discount takes off: the till charges money_minor.
    program_discount_minor: int = 0
    # The paid membership it is priced with, while active or in grace (decision 0035): its
    # earning rate is in the points; its discount per line and free delivery are the till's.
    membership: MembershipInForce | None = None


class PurchaseCreate(Request, frozen=True, kw_only=True):
    """A receipt paid in money, for earning only (spending points goes through a hold)."""

    document: Document
    lines: Receipt
    expires_at: Timestamp | None = None
    card_number: CardNumber | None = None
    promo_codes: PromoCodes = msgspec.field(
        default_factory=list
    )  # every one must apply, else 409 promo_code_refused
    # Gift certificates paying part of the money (decision 0033).
    certificates: CertificatePayments | None = None


class Purchase(PricedReceipt, frozen=True, kw_only=True):
    operation: Operation


class EventCreate(Request, frozen=True, kw_only=True):
    """An event that may earn a bonus: ``birthday`` or a name from the rules' ``events``."""

    type: EventType
    document: Document


class TierSet(Request, frozen=True, kw_only=True):
    """A manual tier (a floor: the customer never ranks below it); ``null`` clears it."""

    tier: Name | None
    reason: Reason


class CustomerTier(Reply, frozen=True, kw_only=True):
    customer_id: UUID
    tier: str | None
    tier_floor: str | None
    spend_minor: int
    next_tier: str | None
    next_threshold_minor: int | None
    rules_version: int


MessageText = Annotated[
    str,
    Meta(
        min_length=1,
        max_length=1000,
        description="The message with {variables}; {{ and }} for a literal brace.",
    ),
]


class MessageTemplatePut(Request, frozen=True, kw_only=True):
    """A program's wording of one kind of message. ``locale`` says the language (Russian unless
    told); with no ``text`` the program uses the built-in text of that locale. A ``sms_code``
    message must contain ``{code}`` and may use ``{program}`` and ``{minutes}`` (how long the
    code lives); rendered with the program's name it must fit three SMS parts (70 characters of
    Cyrillic, or 160 of Latin, make one)."""

    locale: Literal["ru", "en"] = "ru"
    text: MessageText | None = None


class MessageTemplateView(Reply, frozen=True, kw_only=True):
    program_id: UUID
    kind: Literal["sms_code"]
    locale: Literal["ru", "en"]
    text: str
    default: bool
    variables: list[str]
    updated_at: datetime | None
