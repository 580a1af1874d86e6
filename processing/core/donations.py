"""Donations (decision 0034): a customer gives points to one of the program's charities.

A donation debits the customer's available points, the soonest-expiring lots first as a
commit spends them, and credits the charity's account: one operation of type ``donation``
whose entries sum to zero (I2). A blocked account gives nothing, as it spends nothing."""

from datetime import datetime
from uuid import UUID

from processing.core.balances import available_points, spendable_lots, take_points
from processing.core.invariants import invariant
from processing.core.ledger import negated
from processing.core.model import Account, Posting, Rejected, SystemAccount, reject
from processing.core.rejections import Rejection


def decide_donate(
    account: Account, charity_id: UUID, points: int, now: datetime
) -> Posting | Rejected:
    """The points given to charity ``charity_id``, taken from the lots a commit would take."""
    invariant(points > 0, "a donation gives a positive number of points")
    if account.blocked:
        return reject(Rejection.account_blocked, "The customer's account is blocked.")
    available = available_points(account, now)
    if available < points:
        return reject(
            Rejection.insufficient_points,
            f"{points} points to give, {available} available.",
            field="points",
        )
    taken = take_points(spendable_lots(account, now), points)
    return Posting(
        lot_deltas=negated(taken),
        counter_account=SystemAccount.charity,
        counter_account_id=charity_id,
    )
