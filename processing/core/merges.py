"""A merge of two records of one person: the survivor takes the merged customer's open lots,
each with its own activation and expiry, and its debt.

The merge moves points without issuing or redeeming any: its entries take each open lot off the
merged account and put the same lot on the survivor's, so the operation sums to zero (I2) with
no system account on the other side, and each lot keeps its history of entries.
"""

from datetime import datetime
from uuid import UUID

import msgspec

from processing.core import limits
from processing.core.balances import available_points
from processing.core.model import Account, Lot, Rejected, reject
from processing.core.rejections import Rejection


class MergeSide(msgspec.Struct, frozen=True, kw_only=True):
    """One of the two customers as the merge finds them: their account with its open lots."""

    account: Account
    program_id: UUID
    erased: bool
    merged_into: UUID | None  # the survivor this customer was already merged into


class MergePlan(msgspec.Struct, frozen=True, kw_only=True):
    """What moves: the merged account's open lots as they are, its debt, and the survivor's
    account as the merge leaves it."""

    lots: tuple[Lot, ...]
    points: int
    debt: int
    survivor: Account

    def available_after(self, now: datetime) -> int:
        return available_points(self.survivor, now)


def decide_merge(survivor: MergeSide, merged: MergeSide) -> MergePlan | Rejected:
    """Merges ``merged`` into ``survivor``: both in one program, neither erased nor merged
    already, and nothing held on the merged account (a till's reserve is committed or cancelled
    on the account it was taken on, so it resolves before the merge). Blocked accounts merge:
    joining duplicates is how an operator corrects them, and the survivor's block stays."""
    if survivor.program_id != merged.program_id:
        return reject(
            Rejection.validation_error,
            "from_customer_id names a customer of another program.",
            field="from_customer_id",
        )
    for side, name in ((survivor, "The customer"), (merged, "The customer to merge")):
        if side.erased:
            return reject(
                Rejection.customer_erased, f"{name}'s personal data was erased; nothing to merge."
            )
        if side.merged_into is not None:
            return reject(
                Rejection.customer_merged,
                f"{name} was already merged into customer {side.merged_into}.",
            )
    if merged.account.reserved > 0:
        return reject(
            Rejection.customer_has_active_holds,
            f"The customer to merge has {merged.account.reserved} points held by active holds; "
            "commit or cancel them first.",
        )
    points = merged.account.posted
    if survivor.account.posted + points > limits.points_per_account_max:
        return reject(
            Rejection.balance_limit_exceeded,
            f"The balance may not exceed {limits.points_per_account_max} points.",
        )
    moved = tuple(lot for lot in merged.account.lots if lot.remaining > 0)
    after = msgspec.structs.replace(
        survivor.account,
        posted=survivor.account.posted + points,
        debt=survivor.account.debt + merged.account.debt,
        lots=survivor.account.lots + moved,
    )
    return MergePlan(lots=moved, points=points, debt=merged.account.debt, survivor=after)
