"""Decisions that move points: accrue, adjust, expire and refund.

Each returns a ``Posting``: signed changes to the customer's lots against one of the program's
system accounts, so every operation's entries sum to zero (I2).
"""

from datetime import datetime
from uuid import UUID

import msgspec

from processing.core import limits
from processing.core.balances import available_points, spend_order, spendable_lots, take_points
from processing.core.invariants import invariant
from processing.core.model import (
    Account,
    Allocation,
    Lot,
    NewLot,
    Operation,
    OperationType,
    Posting,
    Rejected,
    SystemAccount,
    reject,
)
from processing.core.rejections import Rejection
from processing.core.rules import Expiry, expiry_at, lot_expires_at


def new_lot_or_rejection(
    account: Account,
    points: int,
    activates_at: datetime,
    expires_at: datetime | None,
    now: datetime,
) -> NewLot | Rejected:
    if expires_at is not None and expires_at <= now:
        return reject(Rejection.expiry_in_past, "expires_at must be in the future.")
    if expires_at is not None and expires_at <= activates_at:
        return reject(Rejection.activation_after_expiry, "activates_at must precede expires_at.")
    if account.posted + points > limits.points_per_account_max:
        return reject(
            Rejection.balance_limit_exceeded,
            f"The balance may not exceed {limits.points_per_account_max} points.",
        )
    return NewLot(points=points, activates_at=activates_at, expires_at=expires_at)


def decide_accrue(
    account: Account,
    points: int,
    activates_at: datetime | None,
    expires_at: datetime | None,
    expiry: Expiry,
    now: datetime,
) -> Posting | Rejected:
    """Adds a lot; before ``activates_at`` its points are pending: visible, not spendable."""
    invariant(points > 0, "an accrual adds a positive number of points")
    if account.blocked:
        return reject(Rejection.account_blocked, "The customer's account is blocked.")
    starts = now if activates_at is None or activates_at < now else activates_at
    ends = lot_expires_at(expires_at, expiry, starts)
    lot = new_lot_or_rejection(account, points, starts, ends, now)
    if isinstance(lot, Rejected):
        return lot
    return Posting(new_lot=lot, counter_account=SystemAccount.issued)


def decide_earn(
    account: Account,
    points: int,
    activates_at: datetime,
    expires_at: datetime | None,
    now: datetime,
) -> Posting | Rejected:
    """Points earned on a purchase repay the customer's debt first; the rest is a new lot."""
    invariant(points > 0, "earnings are positive")
    repaid = min(account.debt, points)
    if repaid == points:
        return Posting(counter_account=SystemAccount.issued, debt_delta=-repaid)
    decision = decide_accrue(account, points - repaid, activates_at, expires_at, Expiry(), now)
    if isinstance(decision, Rejected):
        return decision
    return msgspec.structs.replace(decision, debt_delta=-repaid)


def decide_adjust(
    account: Account, points: int, expiry: Expiry, now: datetime
) -> Posting | Rejected:
    """A manual credit (a new lot with the program's expiry) or debit (soonest-expiring first).
    An operator may adjust a blocked account: that is how mistakes on it get corrected."""
    invariant(points != 0, "an adjustment moves points")
    if points > 0:
        lot = new_lot_or_rejection(account, points, now, expiry_at(expiry, now), now)
        if isinstance(lot, Rejected):
            return lot
        return Posting(new_lot=lot, counter_account=SystemAccount.adjustments)
    available = available_points(account, now)
    if available < -points:
        return reject(
            Rejection.insufficient_points,
            f"{-points} points to debit, {available} available.",
        )
    taken = take_points(spendable_lots(account, now), -points)
    return Posting(lot_deltas=negated(taken), counter_account=SystemAccount.adjustments)


def decide_expire(account: Account, now: datetime) -> Posting | None:
    """Burns the free part of every lot past its expiry. Points a hold earmarked before the lot
    expired stay until that hold resolves; the next sweep burns whatever it releases."""
    burned = tuple(
        Allocation(lot_id=lot.id, points=-lot.free)
        for lot in sorted(account.lots, key=spend_order)
        if lot.is_expired(now) and lot.free > 0
    )
    if not burned:
        return None
    return Posting(lot_deltas=burned, counter_account=SystemAccount.expired)


def decide_refund(
    account: Account,
    original: Operation,
    original_lots: dict[UUID, Lot],
    points: int | None,
    expiry: Expiry,
    now: datetime,
) -> Posting | Rejected:
    """Refunding a redemption returns points; refunding an accrual or what a purchase earned
    claws them back. Cumulative refunds never exceed the original (I6)."""
    if original.type not in (OperationType.commit, OperationType.accrual, OperationType.purchase):
        return reject(
            Rejection.operation_not_refundable,
            f"A {original.type} operation cannot be refunded; only commits, accruals and "
            "purchases can.",
        )
    if original.redeemed_points:
        return reject(
            Rejection.operation_not_refundable,
            "A purchase paid partly with points is returned by lines: send lines, not points.",
        )
    refundable = original.refundable_points
    amount = refundable if points is None else points
    if amount <= 0 or amount > refundable:
        return reject(
            Rejection.refund_exceeds_original,
            f"{amount} points to refund, {refundable} of {abs(original.points)} left refundable.",
        )
    if original.type is OperationType.commit:
        return restore_redemption(
            account,
            original.spent,
            original.refunded_points,
            original_lots,
            amount,
            expiry,
            now,
        )
    return claw_back_accrual(account, original, amount, now)


def restore_redemption(
    account: Account,
    spent: tuple[Allocation, ...],
    returned_before: int,
    original_lots: dict[UUID, Lot],
    amount: int,
    expiry: Expiry,
    now: datetime,
) -> Posting | Rejected:
    """Returns points to the lots that paid (``spent``, in spending order), last-spent first,
    skipping what earlier refunds returned. Points whose lot has expired since come back as a
    new lot with the program's expiry, because expired points must never become spendable
    again."""
    if account.posted + amount > limits.points_per_account_max:
        return reject(
            Rejection.balance_limit_exceeded,
            f"The balance may not exceed {limits.points_per_account_max} points.",
        )
    skip = returned_before
    restored: list[Allocation] = []
    reissued = 0
    left = amount
    for item in reversed(spent):
        spent_points = -item.points
        already = min(skip, spent_points)
        skip -= already
        part = min(spent_points - already, left)
        if part <= 0:
            continue
        left -= part
        lot = original_lots[item.lot_id]
        if lot.is_expired(now):
            reissued += part
        else:
            restored.append(Allocation(lot_id=item.lot_id, points=part))
    invariant(left == 0, "the spent lots cover what is left to give back")
    new_lot = None
    if reissued:
        made = new_lot_or_rejection(account, reissued, now, expiry_at(expiry, now), now)
        if isinstance(made, Rejected):
            return made
        new_lot = made
    return Posting(
        lot_deltas=tuple(restored), new_lot=new_lot, counter_account=SystemAccount.redeemed
    )


def claw_back_accrual(
    account: Account, original: Operation, amount: int, now: datetime
) -> Posting | Rejected:
    """Takes the points back from the accrual's own lot first (pending or active), then from
    the customer's other spendable points; a refund by points that cannot be covered is refused
    whole. Returns by line apply the program's return policy instead (``claw_back_up_to``)."""
    posting, shortfall = claw_back_up_to(account, original, amount, now)
    if shortfall:
        return reject(
            Rejection.insufficient_points,
            f"{amount} points to claw back, {amount - shortfall} left to take them from.",
        )
    return posting


def claw_back_sources(
    account: Account, original: Operation, now: datetime
) -> tuple[list[Lot], list[Lot]]:
    """Where clawed-back points come from, in order: the lots the operation created, unexpired
    (pending first: they were never spendable), then the customer's other spendable points."""
    own_ids = {movement.lot_id for movement in original.credited}
    own = sorted(
        (lot for lot in account.lots if lot.id in own_ids and not lot.is_expired(now)),
        key=lambda lot: lot.activates_at <= now,
    )
    others = [lot for lot in spendable_lots(account, now) if lot.id not in own_ids]
    return own, others


def claw_back_up_to(
    account: Account, original: Operation, amount: int, now: datetime
) -> tuple[Posting, int]:
    """Takes back as much of ``amount`` as there is, in ``claw_back_sources`` order; returns
    the posting and the shortfall the return policy must settle."""
    own, others = claw_back_sources(account, original, now)
    taken_points = min(amount, sum(lot.free for lot in own + others))
    taken = take_points(own + others, taken_points)
    return Posting(lot_deltas=negated(taken), counter_account=SystemAccount.issued), (
        amount - taken_points
    )


def decide_key_points(points: int, per_call_max: int) -> Rejected | None:
    """Points a till's or a web shop's key creates in one call (an accrual, a refund that
    gives points back) stay within its program's ``key_points_per_call_max``; the day's total
    is counted where it is stored, under that count's row lock."""
    invariant(points > 0, "only points created are counted against a key")
    if points > per_call_max:
        return reject(
            Rejection.points_limit_exceeded,
            f"{points} points in one call; a till or shop key may create at most "
            f"{per_call_max} (the program's key_points_per_call_max).",
            field="points",
        )
    return None


def negated(allocations: tuple[Allocation, ...]) -> tuple[Allocation, ...]:
    return tuple(Allocation(lot_id=item.lot_id, points=-item.points) for item in allocations)
