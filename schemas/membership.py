"""Wire structs of paid membership (decision 0035): levels a program sells for a month or a
year, and a customer's membership bought, renewed and cancelled with money in the program's
currency (integer minor units)."""

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from msgspec import Meta

from schemas.base import Currency, Document, DocumentView, Name, Reply, Request

# limits.membership_price_minor_max and membership_grace_days_max (tests/unit/test_membership.py
# holds them together).
PriceMinor = Annotated[
    int, Meta(ge=1, le=100_000_000_000, description="Money in the currency's minor units.")
]
BasisPoints = Annotated[int, Meta(ge=0, le=10_000, description="Basis points: 500 is 5 %.")]
GraceDays = Annotated[int, Meta(ge=0, le=90, description="Days privileges last past a period.")]
PeriodName = Literal["month", "year"]
EarnModeName = Literal["replace", "add"]
CancellationName = Literal["no_refund", "pro_rata"]
StateName = Literal["active", "grace", "lapsed", "cancelled"]


class MembershipPrivileges(Request, frozen=True, kw_only=True):
    """What a level gives while paid (and through its grace period): ``earn_bp`` replaces the
    tier's rate or adds to every rate (``earn_mode``); ``discount_bp`` off each qualifying line
    (every line the rules do not exclude from earning), a figure the till or shop applies;
    ``free_delivery`` for the web shop."""

    earn_bp: BasisPoints = 0
    earn_mode: EarnModeName = "add"
    discount_bp: BasisPoints = 0
    free_delivery: bool = False


class MembershipLevelCreate(Request, frozen=True, kw_only=True):
    name: Name
    price_minor: PriceMinor
    currency: Currency
    period: PeriodName
    grace_days: GraceDays = 0
    privileges: MembershipPrivileges = MembershipPrivileges()
    cancellation: CancellationName = "no_refund"


class MembershipLevel(Reply, frozen=True, kw_only=True):
    id: UUID
    program_id: UUID
    name: str
    price_minor: int
    currency: str
    period: PeriodName
    grace_days: int
    privileges: MembershipPrivileges
    cancellation: CancellationName
    created_at: datetime


class MembershipLevelList(Reply, frozen=True, kw_only=True):
    items: list[MembershipLevel]


class MembershipPurchase(Request, frozen=True, kw_only=True):
    """Buys a level for its first period: the money paid (the level's price, in its currency)
    and the document (cheque or order) it was paid with."""

    level_id: UUID
    amount_minor: PriceMinor
    currency: Currency
    document: Document


class MembershipRenewal(Request, frozen=True, kw_only=True):
    """Pays one more period of the membership in force (active or in grace)."""

    amount_minor: PriceMinor
    currency: Currency
    document: Document


class MembershipCancel(Request, frozen=True, kw_only=True):
    """Cancels the membership in force at once; the refund follows the level's rule."""

    document: Document


class MembershipPayment(Reply, frozen=True, kw_only=True):
    id: UUID
    type: Literal["purchase", "renewal", "refund"]
    amount_minor: int
    currency: str
    period_starts_at: datetime
    period_ends_at: datetime
    channel: str
    store_id: str | None
    document: DocumentView
    created_at: datetime


class Membership(Reply, frozen=True, kw_only=True):
    """A customer's membership: its level and privileges, its state now, the chain of periods
    (``anchor_at`` and ``periods`` paid), the current period's end and its grace's, and the
    payment this answer recorded (if it recorded one)."""

    id: UUID
    customer_id: UUID
    level_id: UUID
    level: str
    state: StateName
    privileges: MembershipPrivileges
    currency: str
    anchor_at: datetime
    periods: int
    period_starts_at: datetime
    ends_at: datetime
    grace_ends_at: datetime
    cancelled_at: datetime | None = None
    refund_minor: int | None = None
    payment: MembershipPayment | None = None


class MembershipInForce(Reply, frozen=True, kw_only=True):
    """The membership a receipt was priced with: its privileges, applied (the earning rate)
    or for the till and the shop to apply (the discount per line, free delivery)."""

    membership_id: UUID
    level_id: UUID
    level: str
    state: Literal["active", "grace"]
    privileges: MembershipPrivileges
