"""Balances show only spendable points, and applying a plan keeps the invariants or raises."""

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import UUID

import pytest

from processing.core import limits
from processing.core.balances import (
    Balance,
    Expiring,
    apply_holds,
    apply_posting,
    balance_of,
)
from processing.core.holds import HoldPolicy, decide_commit, decide_reserve
from processing.core.invariants import InvariantViolation, invariant
from processing.core.model import (
    Account,
    Allocation,
    CommitPlan,
    Hold,
    HoldStatus,
    Lot,
    NewLot,
    Posting,
    ReservePlan,
    SystemAccount,
)

NOW = datetime(2026, 1, 1, tzinfo=UTC)
DAY = timedelta(days=1)
ACCOUNT_ID = UUID(int=999)
NEW_LOT_ID = UUID(int=888)
REPO_ROOT = Path(__file__).resolve().parents[2]


def uid(n: int) -> UUID:
    return UUID(int=n)


def lot(
    n: int,
    points: int = 100,
    *,
    remaining: int | None = None,
    held: int = 0,
    expires_in_days: float | None = None,
    activates_in_days: float = -30,
) -> Lot:
    """Lot ``n``; active since 30 days ago and never expiring unless told otherwise."""
    return Lot(
        id=uid(n),
        points=points,
        remaining=points if remaining is None else remaining,
        held=held,
        activates_at=NOW + activates_in_days * DAY,
        expires_at=None if expires_in_days is None else NOW + expires_in_days * DAY,
    )


def account(*lots: Lot, posted: int | None = None, reserved: int | None = None) -> Account:
    """An account whose cached totals are the sums of its lots unless given (to break them)."""
    return Account(
        id=ACCOUNT_ID,
        posted=sum(item.remaining for item in lots) if posted is None else posted,
        reserved=sum(item.held for item in lots) if reserved is None else reserved,
        blocked=False,
        lots=lots,
    )


def moves(*pairs: tuple[int, int]) -> tuple[Allocation, ...]:
    return tuple(Allocation(lot_id=uid(n), points=points) for n, points in pairs)


def lot_state(acct: Account) -> dict[int, tuple[int, int]]:
    """``{lot number: (remaining, held)}``."""
    return {item.id.int: (item.remaining, item.held) for item in acct.lots}


def assert_consistent(acct: Account) -> None:
    assert acct.posted == sum(item.remaining for item in acct.lots)
    assert acct.reserved == sum(item.held for item in acct.lots)
    assert all(0 <= item.held <= item.remaining <= item.points for item in acct.lots)


# --- balance_of ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lots", "available", "reserved", "pending"),
    [
        pytest.param((), 0, 0, 0, id="empty"),
        pytest.param((lot(1), lot(2, expires_in_days=5)), 200, 0, 0, id="active-lots"),
        pytest.param((lot(1, held=30),), 70, 30, 0, id="held-points-excluded"),
        pytest.param((lot(1, remaining=40),), 40, 0, 0, id="remaining-not-original"),
        pytest.param((lot(1, activates_in_days=1),), 0, 0, 100, id="pending-excluded"),
        pytest.param(
            (lot(1, points=100, remaining=60, activates_in_days=1),),
            0,
            0,
            60,
            id="pending-counts-remaining",
        ),
        pytest.param((lot(1, activates_in_days=0),), 100, 0, 0, id="activating-now-is-active"),
        pytest.param((lot(1, expires_in_days=-1),), 0, 0, 0, id="expired-excluded-before-sweep"),
        pytest.param((lot(1, expires_in_days=0),), 0, 0, 0, id="expiring-now-is-expired"),
        pytest.param(
            (lot(1, expires_in_days=-1, held=40),), 0, 40, 0, id="held-part-of-expired-lot"
        ),
        pytest.param(
            (
                lot(1, held=10),
                lot(2, expires_in_days=3, remaining=50),
                lot(3, activates_in_days=2, points=25),
                lot(4, expires_in_days=-2),
            ),
            140,
            10,
            25,
            id="mixed",
        ),
    ],
)
def test_balance_counts_only_free_points_of_active_unexpired_lots(
    lots: tuple[Lot, ...], available: int, reserved: int, pending: int
) -> None:
    balance = balance_of(account(*lots), NOW)
    assert (balance.available, balance.reserved, balance.pending) == (available, reserved, pending)


def test_expiring_groups_free_points_by_expiry_soonest_first() -> None:
    acct = account(
        lot(1, expires_in_days=10),
        lot(2, expires_in_days=5, held=20),
        lot(3, expires_in_days=10, remaining=30),
        lot(4),  # never expires: not expiring
        lot(5, expires_in_days=4, activates_in_days=1),  # pending: not yet expiring
        lot(6, expires_in_days=-1),  # already expired
        lot(7, expires_in_days=2, held=100),  # entirely held
    )
    assert balance_of(acct, NOW).expiring == (
        Expiring(points=80, expires_at=NOW + 5 * DAY),
        Expiring(points=130, expires_at=NOW + 10 * DAY),
    )


def test_expiring_is_capped_at_the_soonest_groups() -> None:
    count = limits.expiring_groups_max + 1
    acct = account(*(lot(n, expires_in_days=count + 1 - n) for n in range(1, count + 1)))
    expiring = balance_of(acct, NOW).expiring
    assert len(expiring) == limits.expiring_groups_max
    assert [group.expires_at for group in expiring] == [
        NOW + days * DAY for days in range(1, limits.expiring_groups_max + 1)
    ]
    # The cap hides groups from the list, never points from the balance.
    assert balance_of(acct, NOW).available == 100 * count


def test_expiring_cap_is_read_from_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(limits, "expiring_groups_max", 3)
    acct = account(*(lot(n, expires_in_days=n) for n in range(1, 6)))
    assert [group.expires_at for group in balance_of(acct, NOW).expiring] == [
        NOW + DAY,
        NOW + 2 * DAY,
        NOW + 3 * DAY,
    ]


@pytest.mark.parametrize(
    "acct",
    [
        pytest.param(account(lot(1), posted=101), id="posted-differs-from-lots"),
        pytest.param(account(lot(1, held=10), reserved=0), id="reserved-differs-from-held"),
        pytest.param(account(lot(1, remaining=10, held=20)), id="held-over-remaining"),
        pytest.param(account(lot(1, remaining=101)), id="remaining-over-points"),
        pytest.param(account(lot(1, remaining=-1)), id="negative-remaining"),
        pytest.param(account(lot(1, held=-1)), id="negative-held"),
    ],
)
def test_balance_of_a_broken_account_raises(acct: Account) -> None:
    with pytest.raises(InvariantViolation):
        balance_of(acct, NOW)


# --- apply_posting -------------------------------------------------------------------------------


def test_apply_posting_changes_lots_and_posted_together() -> None:
    before = account(lot(1, held=20), lot(2, remaining=50))
    posting = Posting(
        lot_deltas=moves((1, -30), (2, 40)),
        new_lot=NewLot(points=25, activates_at=NOW, expires_at=NOW + DAY),
        counter_account=SystemAccount.adjustments,
    )
    after = apply_posting(before, posting, NEW_LOT_ID)
    assert lot_state(after) == {1: (70, 20), 2: (90, 0), NEW_LOT_ID.int: (25, 0)}
    assert after.lots[-1] == Lot(
        id=NEW_LOT_ID, points=25, remaining=25, held=0, activates_at=NOW, expires_at=NOW + DAY
    )
    assert after.posted == before.posted + posting.customer_delta == 185
    assert after.reserved == before.reserved
    assert_consistent(after)


def test_apply_posting_without_a_new_lot_ignores_the_new_lot_id() -> None:
    after = apply_posting(
        account(lot(1)),
        Posting(lot_deltas=moves((1, -100)), counter_account=SystemAccount.expired),
        NEW_LOT_ID,
    )
    assert [item.id for item in after.lots] == [uid(1)]
    assert after.posted == 0


@pytest.mark.parametrize(
    "deltas",
    [
        pytest.param(((2, -10),), id="unknown-lot"),
        pytest.param(((1, -10), (2, 10)), id="one-unknown-lot-among-known"),
        pytest.param(((2, 0),), id="unknown-lot-moving-nothing"),
    ],
)
def test_apply_posting_refuses_a_lot_the_account_does_not_have(
    deltas: tuple[tuple[int, int], ...],
) -> None:
    posting = Posting(lot_deltas=moves(*deltas), counter_account=SystemAccount.adjustments)
    with pytest.raises(InvariantViolation, match="every lot a posting changes"):
        apply_posting(account(lot(1)), posting, NEW_LOT_ID)


@pytest.mark.parametrize(
    ("before", "deltas"),
    [
        pytest.param(account(lot(1, held=50)), ((1, -60),), id="spends-held-points"),
        pytest.param(account(lot(1)), ((1, -101),), id="below-zero"),
        pytest.param(account(lot(1, remaining=90)), ((1, 11),), id="over-original-points"),
        pytest.param(account(lot(1), posted=99), ((1, -1),), id="already-broken-state"),
    ],
)
def test_apply_posting_refuses_to_break_the_invariants(
    before: Account, deltas: tuple[tuple[int, int], ...]
) -> None:
    posting = Posting(lot_deltas=moves(*deltas), counter_account=SystemAccount.adjustments)
    with pytest.raises(InvariantViolation):
        apply_posting(before, posting, NEW_LOT_ID)


# --- apply_holds ---------------------------------------------------------------------------------


def test_apply_holds_earmarks_and_releases_symmetrically() -> None:
    before = account(lot(1, held=10), lot(2))
    earmarks = moves((1, 90), (2, 5))
    held = apply_holds(before, earmarks, +1)
    assert lot_state(held) == {1: (100, 100), 2: (100, 5)}
    assert held.reserved == 105
    assert held.posted == before.posted
    assert balance_of(held, NOW).available == 95
    assert_consistent(held)
    assert apply_holds(held, earmarks, -1) == before


@pytest.mark.parametrize(
    ("before", "allocations", "sign"),
    [
        pytest.param(account(lot(1)), ((2, 10),), +1, id="earmark-unknown-lot"),
        pytest.param(account(lot(1, held=10)), ((2, 10),), -1, id="release-unknown-lot"),
        pytest.param(account(lot(1, held=10)), ((1, 11),), -1, id="release-more-than-held"),
        pytest.param(account(lot(1, held=10)), ((1, 91),), +1, id="earmark-more-than-free"),
        pytest.param(account(lot(1), reserved=5), ((1, 10),), +1, id="already-broken-state"),
    ],
)
def test_apply_holds_refuses_to_break_the_invariants(
    before: Account, allocations: tuple[tuple[int, int], ...], sign: int
) -> None:
    with pytest.raises(InvariantViolation):
        apply_holds(before, moves(*allocations), sign)


# --- a purchase end to end ---------------------------------------------------------------------


def test_reserve_then_partial_commit_spends_exactly_the_committed_points() -> None:
    start = account(lot(1), lot(2, expires_in_days=30), lot(3, expires_in_days=5))
    policy = HoldPolicy(ttl_seconds_default=900, ttl_seconds_max=3600)
    reserve = decide_reserve(start, 250, None, policy, NOW)
    assert isinstance(reserve, ReservePlan)
    reserved = apply_holds(start, reserve.allocations, +1)
    assert (balance_of(reserved, NOW).available, reserved.reserved) == (50, 250)

    hold = Hold(
        id=uid(500),
        account_id=ACCOUNT_ID,
        points=250,
        status=HoldStatus.active,
        expires_at=reserve.expires_at,
        allocations=reserve.allocations,
    )
    commit = decide_commit(reserved, hold, 120, NOW)
    assert isinstance(commit, CommitPlan)
    # Spending held points before dropping the earmark would leave held > remaining.
    with pytest.raises(InvariantViolation):
        apply_posting(reserved, commit.posting, NEW_LOT_ID)
    released = apply_holds(reserved, commit.released, -1)
    after = apply_posting(released, commit.posting, NEW_LOT_ID)

    assert lot_state(after) == {1: (100, 0), 2: (80, 0), 3: (0, 0)}
    assert balance_of(after, NOW) == Balance(
        available=180,
        reserved=0,
        pending=0,
        expiring=(Expiring(points=80, expires_at=NOW + 30 * DAY),),
    )
    assert_consistent(after)


# --- invariant() ---------------------------------------------------------------------------------


def test_invariant_passes_silently_when_the_rule_holds() -> None:
    assert invariant(True, "never shown") is None


def test_invariant_raises_an_assertion_error_carrying_the_message() -> None:
    assert issubclass(InvariantViolation, AssertionError)
    with pytest.raises(InvariantViolation, match=r"^posted == lots$"):
        invariant(False, "posted == lots")


def test_invariant_still_raises_under_python_dash_o() -> None:
    script = (
        "import sys\n"
        "from processing.core.invariants import InvariantViolation, invariant\n"
        "assert sys.flags.optimize == 1 and not __debug__\n"
        "assert False, 'plain asserts are stripped'\n"
        "try:\n"
        "    invariant(False, 'rule broken')\n"
        "except InvariantViolation as error:\n"
        "    print('raised:', error)\n"
    )
    result = subprocess.run(  # noqa: S603 - fixed arguments, our own interpreter
        [sys.executable, "-O", "-c", script],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "raised: rule broken\n"
