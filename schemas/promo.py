"""Requests and replies of promo campaigns and codes (``/v1/programs/{id}/promo-campaigns``,
decision 0032), and of the codes a receipt carries at checkout."""

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

import msgspec
from msgspec import Meta

from schemas.base import Code, MoneyMinor, Name, Reply, Request, Timestamp

Uses = Annotated[int, Meta(ge=1, le=1_000_000_000)]
TypedPromoCode = Annotated[
    str,
    Meta(
        min_length=1,
        max_length=64,
        description="A promo code as the customer typed it: any case, spaces and dashes ignored.",
    ),
]
# limits.promo_codes_per_receipt_max (a unit test holds the two together).
PromoCodes = Annotated[
    list[TypedPromoCode], Meta(max_length=5, description="At most 5 promo codes, in order.")
]
Codes = Annotated[list[Code], Meta(max_length=1000)]
Channels = Annotated[list[Literal["pos", "shop", "crm", "admin"]], Meta(max_length=4)]
Stores = Annotated[list[Annotated[str, Meta(min_length=1, max_length=64)]], Meta(max_length=1000)]


class PromoCampaignCreate(Request, frozen=True, kw_only=True):
    """A promo campaign: its codes work from ``starts_at`` (now when left out) until
    ``ends_at`` (none: no end), at ``channels`` (``pos``, ``shop``, ``crm``, ``admin``; empty:
    all) and ``stores`` (empty: all), on a receipt of at least ``min_amount_minor`` with a line
    of ``skus`` or ``categories`` (both empty: every line qualifies). ``effect`` with ``value``:
    ``bonus_points`` (points spread over the qualifying lines by their money),
    ``earn_multiplier_bp`` (the lines' earning times value / 10 000, above 10 000),
    ``extra_bp`` (extra basis points of the lines' money, in points), ``discount_bp`` (a money
    discount the till applies: its figure per line is returned). ``uses_max`` caps all uses of
    its codes, ``uses_per_customer_max`` each customer's; ``exclusive`` codes apply alone,
    ``stackable`` ones with other stackable codes."""

    name: Name
    effect: Literal["bonus_points", "earn_multiplier_bp", "extra_bp", "discount_bp"]
    value: Annotated[int, Meta(ge=1, le=1_000_000)]
    starts_at: Timestamp | None = None
    ends_at: Timestamp | None = None
    channels: Channels = msgspec.field(default_factory=list)
    stores: Stores = msgspec.field(default_factory=list)
    min_amount_minor: MoneyMinor = 0
    skus: Codes = msgspec.field(default_factory=list)
    categories: Codes = msgspec.field(default_factory=list)
    uses_max: Uses | None = None
    uses_per_customer_max: Uses | None = None
    stacking: Literal["stackable", "exclusive"] = "stackable"


class PromoCampaign(Reply, frozen=True, kw_only=True):
    """A promo campaign and its usage: ``used`` uses counted at purchase (a return does not
    give a use back), the ``points_given`` and ``discount_minor`` of those uses, the
    ``customers`` who used it and the ``codes`` it has."""

    id: UUID
    program_id: UUID
    name: str
    starts_at: datetime
    ends_at: datetime | None
    channels: list[str]
    stores: list[str]
    min_amount_minor: int
    skus: list[str]
    categories: list[str]
    effect: str
    value: int
    uses_max: int | None
    uses_per_customer_max: int | None
    stacking: str
    created_at: datetime
    ended_at: datetime | None  # ended early (``…/end``): its codes work until then
    used: int
    points_given: int
    discount_minor: int
    customers: int
    codes: int


class PromoCampaignPage(Reply, frozen=True, kw_only=True):
    items: list[PromoCampaign]
    next_cursor: str | None


class PromoCodesCreate(Request, frozen=True, kw_only=True):
    """``shared``: one ``code`` for everyone; ``batch``: ``count`` generated codes (random,
    unguessable, with a check character; single use unless ``uses_max`` says otherwise);
    ``personal``: one code bound to ``customer_id`` (its ``code``, or a generated one).
    ``uses_max`` caps each code's own uses (none: only the campaign's caps)."""

    kind: Literal["shared", "batch", "personal"]
    code: Annotated[str, Meta(min_length=1, max_length=64)] | None = None
    # limits.promo_batch_codes_max (a unit test holds the two together).
    count: Annotated[int, Meta(ge=1, le=1000)] | None = None
    customer_id: UUID | None = None
    uses_max: Uses | None = None


class PromoCode(Reply, frozen=True, kw_only=True):
    """A code as stored (upper-case, no separators) and its ``state``: ``unused``, ``used``
    (usable again) or ``exhausted`` (its own cap reached), with ``used`` its uses."""

    id: UUID
    code: str
    kind: str
    customer_id: UUID | None
    uses_max: int | None
    used: int
    state: str
    created_at: datetime


class PromoCodesMade(Reply, frozen=True, kw_only=True):
    campaign_id: UUID
    created: int
    codes: list[PromoCode]


class PromoLine(Reply, frozen=True, kw_only=True):
    line_id: str
    points: int
    discount_minor: int


RefusalReason = Literal[
    "mistyped",
    "unknown",
    "repeated",
    "other_customer",
    "not_yet_valid",
    "expired",
    "wrong_channel",
    "wrong_store",
    "cap_reached",
    "customer_cap_reached",
    "conditions_not_met",
    "not_stackable",
]


class PromoCodeResult(Reply, frozen=True, kw_only=True):
    """One code of the receipt, as typed: ``applied`` with the ``points`` it adds and the
    ``discount_minor`` the till applies, per line; or refused with its ``reason``
    (``mistyped``, ``unknown``, ``repeated``, ``other_customer``, ``not_yet_valid``,
    ``expired``, ``wrong_channel``, ``wrong_store``, ``cap_reached``,
    ``customer_cap_reached``, ``conditions_not_met``, ``not_stackable``)."""

    code: str
    applied: bool
    reason: RefusalReason | None = None
    detail: str | None = None
    campaign_id: UUID | None = None
    points: int = 0
    discount_minor: int = 0
    lines: list[PromoLine] = msgspec.field(default_factory=list)
