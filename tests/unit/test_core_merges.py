"""The merge decision: what moves from the merged account to the survivor's, and when a merge
is refused (nothing decided then)."""

from datetime import UTC, datetime, timedelta
from uuid import uuid4

from processing.core import limits
from processing.core.merges import MergePlan, MergeSide, decide_merge
from processing.core.model import Account, Lot, Rejected
from processing.core.rejections import Rejection

now = datetime(2026, 12, 4, 12, tzinfo=UTC)
program = uuid4()


def lot(remaining: int, *, held: int = 0, days_to_activation: int = -1) -> Lot:
    return Lot(
        id=uuid4(),
        points=remaining + 5,
        remaining=remaining,
        held=held,
        activates_at=now + timedelta(days=days_to_activation),
        expires_at=now + timedelta(days=30),
    )


def side(*lots: Lot, debt: int = 0, **fields: object) -> MergeSide:
    posted = sum(item.remaining for item in lots)
    reserved = sum(item.held for item in lots)
    account = Account(
        id=uuid4(), posted=posted, reserved=reserved, blocked=False, lots=lots, debt=debt
    )
    return MergeSide(
        account=account,
        program_id=fields.get("program_id", program),  # type: ignore[arg-type]
        erased=bool(fields.get("erased", False)),
        merged_into=fields.get("merged_into"),  # type: ignore[arg-type]
    )


def test_the_merged_lots_and_debt_move_as_they_are() -> None:
    survivor = side(lot(10, held=4))
    moved = (lot(30), lot(20, days_to_activation=3))
    merged = side(*moved, debt=7)

    plan = decide_merge(survivor, merged)

    assert isinstance(plan, MergePlan)
    assert (plan.lots, plan.points, plan.debt) == (moved, 50, 7)
    assert (plan.survivor.posted, plan.survivor.reserved, plan.survivor.debt) == (60, 4, 7)
    assert plan.survivor.lots == survivor.account.lots + moved
    # Available after: the survivor's free 6 and the merged active 30; 20 are still pending.
    assert plan.available_after(now) == 36


def test_an_empty_duplicate_merges_with_nothing_to_move() -> None:
    plan = decide_merge(side(lot(10)), side())
    assert isinstance(plan, MergePlan)
    assert (plan.lots, plan.points, plan.debt) == ((), 0, 0)


def refusal(survivor: MergeSide, merged: MergeSide) -> Rejection:
    decided = decide_merge(survivor, merged)
    assert isinstance(decided, Rejected)
    return decided.rejection


def test_a_merge_is_refused_across_programs_erased_merged_or_held() -> None:
    assert refusal(side(), side(program_id=uuid4())) is Rejection.validation_error
    assert refusal(side(erased=True), side()) is Rejection.customer_erased
    assert refusal(side(), side(erased=True)) is Rejection.customer_erased
    assert refusal(side(merged_into=uuid4()), side()) is Rejection.customer_merged
    assert refusal(side(), side(merged_into=uuid4())) is Rejection.customer_merged
    assert refusal(side(), side(lot(10, held=1))) is Rejection.customer_has_active_holds


def test_a_merge_past_the_balance_limit_is_refused() -> None:
    survivor = side(lot(limits.points_per_account_max - 10))
    assert refusal(survivor, side(lot(11))) is Rejection.balance_limit_exceeded
    assert isinstance(decide_merge(survivor, side(lot(10))), MergePlan)
