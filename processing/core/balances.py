"""What a customer sees: available, reserved and pending points, derived from lots at ``now``.

Available counts only the free part of lots that are active and not expired, so points past
their expiry are never spendable, even before the expiry sweep has burned them (I6).
"""

from collections import defaultdict
from datetime import datetime
from uuid import UUID

import msgspec

from processing.core import limits
from processing.core.invariants import InvariantViolation, invariant
from processing.core.model import Account, Allocation, Lot, NewLot, Posting


class Expiring(msgspec.Struct, frozen=True, kw_only=True):
    points: int
    expires_at: datetime


class Balance(msgspec.Struct, frozen=True, kw_only=True):
    available: int
    reserved: int
    pending: int
    expiring: tuple[Expiring, ...]
    debt: int = 0


def spend_order(lot: Lot) -> tuple[bool, datetime, datetime, UUID]:
    """Soonest-expiring first, never-expiring last; ties by activation, then id, so it is total."""
    far = lot.activates_at if lot.expires_at is None else lot.expires_at
    return (lot.expires_at is None, far, lot.activates_at, lot.id)


def spendable_lots(account: Account, now: datetime) -> list[Lot]:
    lots = [lot for lot in account.lots if lot.is_spendable(now) and lot.free > 0]
    return sorted(lots, key=spend_order)


def available_points(account: Account, now: datetime) -> int:
    return sum(lot.free for lot in spendable_lots(account, now))


def balance_of(account: Account, now: datetime) -> Balance:
    check_account(account)
    expiring: defaultdict[datetime, int] = defaultdict(int)
    for lot in spendable_lots(account, now):
        if lot.expires_at is not None:
            expiring[lot.expires_at] += lot.free
    groups = [Expiring(points=points, expires_at=at) for at, points in sorted(expiring.items())]
    return Balance(
        available=available_points(account, now),
        reserved=account.reserved,
        pending=sum(lot.remaining for lot in account.lots if lot.is_pending(now)),
        expiring=tuple(groups[: limits.expiring_groups_max]),
        debt=account.debt,
    )


def take_points(lots: list[Lot], points: int) -> tuple[Allocation, ...]:
    """Takes ``points`` from the free part of ``lots`` in the order given; the caller checked
    that they hold enough."""
    taken: list[Allocation] = []
    left = points
    for lot in lots:
        if left == 0:
            break
        part = min(lot.free, left)
        if part > 0:
            taken.append(Allocation(lot_id=lot.id, points=part))
            left -= part
    invariant(left == 0, "the lots given cover the points taken")
    return tuple(taken)


def check_account(account: Account) -> None:
    """I1 on the in-memory state: the cached totals equal their lots."""
    invariant(account.posted == sum(lot.remaining for lot in account.lots), "posted == lots")
    invariant(account.reserved == sum(lot.held for lot in account.lots), "reserved == held")
    invariant(account.debt >= 0, "debt is never negative")
    for lot in account.lots:
        if not 0 <= lot.held <= lot.remaining <= lot.points:  # no message built when it holds
            raise InvariantViolation(f"lot {lot.id} within bounds")


def apply_posting(account: Account, posting: Posting, new_lot_id: UUID | None) -> Account:
    """The account after ``posting``; ``new_lot_id`` names the lot it creates, if it creates one."""
    invariant(posting.new_lot is None or new_lot_id is not None, "a new lot is named")
    deltas = {delta.lot_id: delta.points for delta in posting.lot_deltas}
    lots = [
        msgspec.structs.replace(lot, remaining=lot.remaining + deltas.pop(lot.id, 0))
        for lot in account.lots
    ]
    invariant(not deltas, "every lot a posting changes is one of the account's lots")
    if posting.new_lot is not None and new_lot_id is not None:
        lots.append(lot_from(posting.new_lot, new_lot_id))
    changed = msgspec.structs.replace(
        account,
        posted=account.posted + posting.customer_delta,
        debt=account.debt + posting.debt_delta,
        lots=tuple(lots),
    )
    check_account(changed)
    return changed


def apply_postings(account: Account, postings: tuple[Posting, ...], new_lot_id: UUID) -> Account:
    """The account after an operation's postings, in order; the operation creates at most one
    lot, ``new_lot_id``, and a later posting may already take from it."""
    invariant(sum(p.new_lot is not None for p in postings) <= 1, "one new lot per operation")
    for posting in postings:
        account = apply_posting(account, posting, new_lot_id)
    return account


def apply_holds(account: Account, allocations: tuple[Allocation, ...], sign: int) -> Account:
    """Earmarks (sign +1) or releases (sign -1) points of lots for a hold."""
    changes = {item.lot_id: sign * item.points for item in allocations}
    lots = tuple(
        msgspec.structs.replace(lot, held=lot.held + changes.get(lot.id, 0)) for lot in account.lots
    )
    total = sign * sum(item.points for item in allocations)
    changed = msgspec.structs.replace(account, reserved=account.reserved + total, lots=lots)
    check_account(changed)
    return changed


def lot_from(new_lot: NewLot, lot_id: UUID) -> Lot:
    return Lot(
        id=lot_id,
        points=new_lot.points,
        remaining=new_lot.points,
        held=0,
        activates_at=new_lot.activates_at,
        expires_at=new_lot.expires_at,
    )
