"""Promoters' pure decisions (decision 0034): codes as typed, the reward of a first purchase,
and the claw-back that takes from the reward's own lot first and forgives what was spent."""

from datetime import UTC, datetime, timedelta
from uuid import uuid4

from processing.core.model import Account, Allocation, Lot, SystemAccount
from processing.core.promoters import (
    claw_back_reward,
    code_alphabet,
    new_code,
    normalized_code,
    reward_points,
)

now = datetime(2026, 6, 1, tzinfo=UTC)


def test_codes_are_read_as_typed_off_a_poster() -> None:
    assert normalized_code("anna-2026") == "ANNA2026"
    assert normalized_code(" gym 1 ") == "GYM1"
    assert normalized_code("ab!cd") is None
    assert normalized_code("abc") is None
    assert normalized_code("A" * 33) is None
    made = new_code()
    assert normalized_code(made) == made
    assert set(made) <= set(code_alphabet)


def test_the_reward_is_fixed_points_plus_a_share_of_the_money_rounded_down() -> None:
    assert reward_points(100, 0, 300_000, 100) == 100
    assert reward_points(0, 500, 300_000, 100) == 150  # 5 % of 3,000.00 at 1.00 a point
    assert reward_points(10, 250, 99_999, 100) == 10 + 24  # 24.99 points rounds down
    assert reward_points(0, 500, 0, 100) == 0


def lot(points: int, remaining: int, days: int | None = 30, held: int = 0) -> Lot:
    return Lot(
        id=uuid4(),
        points=points,
        remaining=remaining,
        held=held,
        activates_at=now - timedelta(days=1),
        expires_at=None if days is None else now + timedelta(days=days),
    )


def test_a_claw_back_takes_the_reward_lot_first_then_other_points() -> None:
    reward, other = lot(100, 40), lot(500, 500, days=5)
    account = Account(id=uuid4(), posted=540, reserved=0, blocked=False, lots=(other, reward))
    posting, forgiven = claw_back_reward(account, reward.id, 100, now)
    assert posting.lot_deltas == (
        Allocation(lot_id=reward.id, points=-40),
        Allocation(lot_id=other.id, points=-60),
    )
    assert (posting.counter_account, forgiven) == (SystemAccount.issued, 0)


def test_what_the_promoter_spent_and_has_not_is_forgiven() -> None:
    reward = lot(100, 30, held=10)
    account = Account(id=uuid4(), posted=30, reserved=10, blocked=False, lots=(reward,))
    posting, forgiven = claw_back_reward(account, reward.id, 100, now)
    assert posting.customer_delta == -20
    assert forgiven == 80
