"""The state the core decides over and the plans it returns.

Points are integers everywhere. A *lot* is a batch of accrued points with its own activation and
expiry time; ``held`` is the part of a lot that active holds have earmarked, so points reserved
before a lot expires still pay for that purchase, while nothing else can spend them.
"""

from datetime import datetime
from enum import StrEnum
from uuid import UUID

import msgspec

from processing.core.rejections import Rejection


class OperationType(StrEnum):
    accrual = "accrual"
    purchase = "purchase"
    reserve = "reserve"
    commit = "commit"
    cancel = "cancel"
    refund = "refund"
    expire = "expire"
    adjustment = "adjustment"
    merge = "merge"  # another customer's open lots moved onto this account
    opening = "opening"  # an opening balance carried over by bonus import
    donation = "donation"  # points given to one of the program's charities (decision 0034)


class HoldStatus(StrEnum):
    active = "active"
    committed = "committed"
    cancelled = "cancelled"
    expired = "expired"


class SystemAccount(StrEnum):
    """The program's own accounts, the other side of every customer entry (double entry)."""

    issued = "issued"
    redeemed = "redeemed"
    expired = "expired"
    adjustments = "adjustments"
    # A charity's account (decision 0034): one per charity, named by the posting's
    # ``counter_account_id``; not one of the program's own.
    charity = "charity"


class Lot(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    points: int
    remaining: int
    held: int
    activates_at: datetime
    expires_at: datetime | None

    @property
    def free(self) -> int:
        return self.remaining - self.held

    def is_pending(self, now: datetime) -> bool:
        return self.activates_at > now

    def is_expired(self, now: datetime) -> bool:
        return self.expires_at is not None and self.expires_at <= now

    def is_spendable(self, now: datetime) -> bool:
        return not self.is_pending(now) and not self.is_expired(now)


class Account(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    posted: int
    reserved: int
    blocked: bool
    lots: tuple[Lot, ...]
    debt: int = 0  # points owed under the "debt" return policy, repaid from earnings first


class Allocation(msgspec.Struct, frozen=True, kw_only=True):
    """Points of one lot: earmarked by a hold, spent by a commit, restored by a refund."""

    lot_id: UUID
    points: int


class Line(msgspec.Struct, frozen=True, kw_only=True):
    """A receipt line as the till sends it; money in minor units."""

    line_id: str
    sku: str
    category: str | None
    quantity: int
    unit_price_minor: int
    discount_minor: int = 0

    @property
    def amount_minor(self) -> int:
        return self.quantity * self.unit_price_minor - self.discount_minor


class Hold(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    account_id: UUID
    points: int
    status: HoldStatus
    expires_at: datetime
    allocations: tuple[Allocation, ...]
    document_id: str | None = None  # the receipt's id: a purchase committed from it keeps it
    # The receipt the hold was reserved for: committed as one purchase operation.
    receipt: tuple[Line, ...] | None = None


class Operation(msgspec.Struct, frozen=True, kw_only=True):
    """A past operation as a refund sees it: what it moved and how much was already refunded."""

    id: UUID
    account_id: UUID
    type: OperationType
    points: int  # the net change of the customer's balance
    refunded_points: int
    # For a commit: the lots that paid, in the order they were spent (negative).
    # For an accrual: the one lot it created. For a purchase: both, the earned lot positive.
    lot_movements: tuple[Allocation, ...]
    redeemed_points: int = 0  # a purchase: the points that paid part of it
    returned_points: int = 0  # a purchase: of those, how many its returns gave back

    @property
    def refundable_points(self) -> int:
        """What refunds may still move: of a commit, the points it spent; of an accrual or a
        purchase, the points it put on the customer's lots (a purchase's net change plus what it
        redeemed), in both cases less what earlier refunds moved (I6)."""
        if self.type is OperationType.purchase:
            return self.points + self.redeemed_points - self.refunded_points
        return abs(self.points) - self.refunded_points

    @property
    def spent(self) -> tuple[Allocation, ...]:
        return tuple(item for item in self.lot_movements if item.points < 0)

    @property
    def credited(self) -> tuple[Allocation, ...]:
        return tuple(item for item in self.lot_movements if item.points > 0)


class NewLot(msgspec.Struct, frozen=True, kw_only=True):
    points: int
    activates_at: datetime
    expires_at: datetime | None


class Posting(msgspec.Struct, frozen=True, kw_only=True):
    """Entries to write: signed changes to the customer's lots against one system account."""

    lot_deltas: tuple[Allocation, ...] = ()
    new_lot: NewLot | None = None
    counter_account: SystemAccount
    # The counter account itself when it is not the program's one of its kind (a charity's).
    counter_account_id: UUID | None = None
    # Debt recorded (+) or repaid (-); it moves no points, so it writes no entries.
    debt_delta: int = 0

    @property
    def customer_delta(self) -> int:
        created = self.new_lot.points if self.new_lot is not None else 0
        return created + sum(delta.points for delta in self.lot_deltas)


class ReservePlan(msgspec.Struct, frozen=True, kw_only=True):
    allocations: tuple[Allocation, ...]
    expires_at: datetime


class CommitPlan(msgspec.Struct, frozen=True, kw_only=True):
    posting: Posting
    released: tuple[Allocation, ...]  # earmarks to drop from lots, spent or not


class ReleasePlan(msgspec.Struct, frozen=True, kw_only=True):
    released: tuple[Allocation, ...]


class Rejected(msgspec.Struct, frozen=True, kw_only=True):
    rejection: Rejection
    detail: str
    # The input the refusal is about, as a JSON path into the request (``tiers[2].name``), when
    # one input is to blame; the API's problem body carries it so a client can point at it.
    field: str | None = None


def reject(rejection: Rejection, detail: str, field: str | None = None) -> Rejected:
    return Rejected(rejection=rejection, detail=detail, field=field)
