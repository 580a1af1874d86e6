"""Decisions on holds: reserve, commit, cancel, and release at the end of the TTL.

A hold earmarks the free part of spendable lots, soonest-expiring first, so available drops at
once; lots are spent only on commit. Each hold resolves exactly once (I5).
"""

from datetime import datetime, timedelta

from processing.core import limits
from processing.core.balances import available_points, spend_order, spendable_lots, take_points
from processing.core.invariants import invariant
from processing.core.model import (
    Account,
    Allocation,
    CommitPlan,
    Hold,
    HoldStatus,
    Posting,
    Rejected,
    ReleasePlan,
    ReservePlan,
    SystemAccount,
    reject,
)
from processing.core.rejections import Rejection


class HoldPolicy:
    """The program's hold TTL bounds, checked once here so the decisions can trust them."""

    __slots__ = ("ttl_seconds_default", "ttl_seconds_max")

    def __init__(self, ttl_seconds_default: int, ttl_seconds_max: int) -> None:
        invariant(
            limits.hold_ttl_seconds_min <= ttl_seconds_default <= ttl_seconds_max,
            "the program's default hold TTL lies within its maximum",
        )
        invariant(ttl_seconds_max <= limits.hold_ttl_seconds_max_ceiling, "TTL under the ceiling")
        self.ttl_seconds_default = ttl_seconds_default
        self.ttl_seconds_max = ttl_seconds_max


def decide_reserve(
    account: Account,
    points: int,
    ttl_seconds: int | None,
    policy: HoldPolicy,
    now: datetime,
    receipt_cap: int | None = None,
) -> ReservePlan | Rejected:
    """Earmarks ``points``; ``receipt_cap``, for a hold that carries its receipt, is the most
    points the rules let pay for that receipt."""
    invariant(points > 0, "a hold reserves a positive number of points")
    if account.blocked:
        return reject(Rejection.account_blocked, "The customer's account is blocked.")
    ttl = policy.ttl_seconds_default if ttl_seconds is None else ttl_seconds
    if ttl > policy.ttl_seconds_max:
        return reject(
            Rejection.hold_ttl_exceeds_maximum,
            f"ttl_seconds {ttl} exceeds the program's maximum of {policy.ttl_seconds_max}.",
        )
    if receipt_cap is not None and points > receipt_cap:
        return reject(
            Rejection.redemption_exceeds_limit,
            f"{points} points requested, the receipt lets points pay at most {receipt_cap}.",
        )
    available = available_points(account, now)
    if available < points:
        return reject(
            Rejection.insufficient_points,
            f"{points} points requested, {available} available.",
        )
    allocations = take_points(spendable_lots(account, now), points)
    return ReservePlan(allocations=allocations, expires_at=now + timedelta(seconds=ttl))


def check_resolvable(hold: Hold, now: datetime) -> Rejected | None:
    if hold.status is HoldStatus.committed:
        return reject(Rejection.hold_already_committed, "The hold is already committed.")
    if hold.status is HoldStatus.cancelled:
        return reject(Rejection.hold_already_cancelled, "The hold is already cancelled.")
    if hold.status is HoldStatus.expired or hold.expires_at <= now:
        return reject(Rejection.hold_expired, "The hold expired; reserve the points again.")
    return None


def decide_commit(
    account: Account, hold: Hold, points: int | None, now: datetime
) -> CommitPlan | Rejected:
    """Spends up to the held points from the hold's own lots, soonest-expiring first; the rest
    of the hold is released."""
    refused = check_resolvable(hold, now)
    if refused is not None:
        return refused
    if account.blocked:
        return reject(Rejection.account_blocked, "The customer's account is blocked.")
    spend = hold.points if points is None else points
    if spend > hold.points:
        return reject(
            Rejection.commit_exceeds_hold,
            f"{spend} points to commit, the hold has {hold.points}.",
        )
    invariant(spend > 0, "a commit spends a positive number of points")
    lots = {lot.id: lot for lot in account.lots}
    ordered = sorted(hold.allocations, key=lambda item: spend_order(lots[item.lot_id]))
    spent: list[Allocation] = []
    left = spend
    for item in ordered:
        part = min(item.points, left)
        if part > 0:
            spent.append(Allocation(lot_id=item.lot_id, points=-part))
            left -= part
    invariant(left == 0, "a hold's allocations cover its points")
    posting = Posting(lot_deltas=tuple(spent), counter_account=SystemAccount.redeemed)
    return CommitPlan(posting=posting, released=hold.allocations)


def decide_cancel(hold: Hold, now: datetime) -> ReleasePlan | Rejected:
    refused = check_resolvable(hold, now)
    if refused is not None:
        return refused
    return ReleasePlan(released=hold.allocations)


def decide_hold_expiry(hold: Hold, now: datetime) -> ReleasePlan | None:
    """The sweep's decision: release an active hold whose TTL has passed, otherwise nothing."""
    if hold.status is not HoldStatus.active or hold.expires_at > now:
        return None
    return ReleasePlan(released=hold.allocations)
