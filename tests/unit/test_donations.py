"""The donation decision (decision 0034): soonest-expiring points first, never more than is
available, never from a blocked account, always against the named charity's account."""

from datetime import UTC, datetime, timedelta
from uuid import uuid4

from processing.core.donations import decide_donate
from processing.core.model import Account, Allocation, Lot, Rejected, SystemAccount
from processing.core.rejections import Rejection

now = datetime(2026, 6, 1, tzinfo=UTC)


def lot(points: int, expires_in_days: int | None, held: int = 0, pending: bool = False) -> Lot:
    return Lot(
        id=uuid4(),
        points=points,
        remaining=points,
        held=held,
        activates_at=now + timedelta(days=1) if pending else now - timedelta(days=1),
        expires_at=None if expires_in_days is None else now + timedelta(days=expires_in_days),
    )


def account(*lots: Lot, blocked: bool = False) -> Account:
    return Account(
        id=uuid4(),
        posted=sum(item.remaining for item in lots),
        reserved=sum(item.held for item in lots),
        lots=lots,
        blocked=blocked,
    )


def test_the_soonest_expiring_points_go_first_to_the_named_charity() -> None:
    never, late, soon = lot(50, None), lot(40, 90), lot(10, 5)
    charity = uuid4()
    posting = decide_donate(account(never, late, soon), charity, 30, now)
    assert not isinstance(posting, Rejected)
    assert posting.lot_deltas == (
        Allocation(lot_id=soon.id, points=-10),
        Allocation(lot_id=late.id, points=-20),
    )
    assert (posting.counter_account, posting.counter_account_id) == (
        SystemAccount.charity,
        charity,
    )
    assert posting.customer_delta == -30


def test_held_and_pending_points_are_not_given() -> None:
    decided = decide_donate(
        account(lot(50, 10, held=30), lot(100, 20, pending=True)), uuid4(), 21, now
    )
    assert isinstance(decided, Rejected)
    assert (decided.rejection, decided.field) == (Rejection.insufficient_points, "points")
    assert not isinstance(decide_donate(account(lot(50, 10, held=30)), uuid4(), 20, now), Rejected)


def test_a_blocked_account_gives_nothing() -> None:
    decided = decide_donate(account(lot(50, None), blocked=True), uuid4(), 1, now)
    assert isinstance(decided, Rejected)
    assert decided.rejection is Rejection.account_blocked
