"""The hold decisions earmark, spend and release points exactly as a client is promised."""

from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest

from processing.core import limits
from processing.core.balances import available_points
from processing.core.holds import (
    HoldPolicy,
    decide_cancel,
    decide_commit,
    decide_hold_expiry,
    decide_reserve,
)
from processing.core.invariants import InvariantViolation
from processing.core.model import (
    Account,
    Allocation,
    CommitPlan,
    Hold,
    HoldStatus,
    Lot,
    Rejected,
    ReleasePlan,
    ReservePlan,
    SystemAccount,
)
from processing.core.rejections import Rejection

NOW = datetime(2026, 1, 1, tzinfo=UTC)
POLICY = HoldPolicy(ttl_seconds_default=900, ttl_seconds_max=3600)
ACCOUNT_ID = UUID(int=999)
HOLD_ID = UUID(int=500)


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
        activates_at=NOW + timedelta(days=activates_in_days),
        expires_at=None if expires_in_days is None else NOW + timedelta(days=expires_in_days),
    )


def account(*lots: Lot, blocked: bool = False) -> Account:
    """A consistent account: its cached totals are the sums of its lots."""
    return Account(
        id=ACCOUNT_ID,
        posted=sum(item.remaining for item in lots),
        reserved=sum(item.held for item in lots),
        blocked=blocked,
        lots=lots,
    )


def allocations(*pairs: tuple[int, int]) -> tuple[Allocation, ...]:
    return tuple(Allocation(lot_id=uid(n), points=points) for n, points in pairs)


def hold(
    *pairs: tuple[int, int],
    status: HoldStatus = HoldStatus.active,
    expires_in_seconds: float = 600,
) -> Hold:
    """A hold over ``(lot, points)`` allocations; its points are their sum."""
    allocated = allocations(*pairs)
    return Hold(
        id=HOLD_ID,
        account_id=ACCOUNT_ID,
        points=sum(item.points for item in allocated),
        status=status,
        expires_at=NOW + timedelta(seconds=expires_in_seconds),
        allocations=allocated,
    )


def rejection_of(result: object) -> Rejection:
    assert isinstance(result, Rejected), f"expected a rejection, got {result!r}"
    assert result.detail, "a rejection always explains itself"
    return result.rejection


def reserve(acct: Account, points: int, ttl_seconds: int | None = None) -> ReservePlan:
    plan = decide_reserve(acct, points, ttl_seconds, POLICY, NOW)
    assert isinstance(plan, ReservePlan), f"expected a plan, got {plan!r}"
    return plan


# Three lots fully earmarked by one hold whose allocations are listed out of spend order:
# lot 1 never expires, lot 2 expires in 30 days, lot 3 in 5 days.
HELD_LOTS = account(
    lot(1, held=100),
    lot(2, held=100, expires_in_days=30),
    lot(3, held=100, expires_in_days=5),
)
HELD = hold((1, 100), (2, 100), (3, 100))


# --- reserve: allocation order ----------------------------------------------------------------


def test_reserve_takes_soonest_expiring_first_never_expiring_last_and_skips_unspendable() -> None:
    acct = account(
        lot(1),  # never expires
        lot(2, expires_in_days=30),
        lot(3, expires_in_days=5),
        lot(4, expires_in_days=3, activates_in_days=1),  # pending, though it expires soonest
        lot(5, expires_in_days=-1),  # expired, not yet swept
    )
    plan = reserve(acct, 250)
    assert plan.allocations == allocations((3, 100), (2, 100), (1, 50))


@pytest.mark.parametrize(
    ("lots", "points", "expected"),
    [
        pytest.param(
            (lot(1, expires_in_days=5, held=60), lot(2, expires_in_days=30)),
            70,
            ((1, 40), (2, 30)),
            id="only-the-free-part-of-a-partly-held-lot",
        ),
        pytest.param(
            (lot(1, expires_in_days=5, held=100), lot(2, expires_in_days=30)),
            70,
            ((2, 70),),
            id="fully-held-lot-skipped",
        ),
        pytest.param(
            (lot(1, remaining=10, expires_in_days=5), lot(2, expires_in_days=30)),
            50,
            ((1, 10), (2, 40)),
            id="remaining-not-original-points",
        ),
        pytest.param(
            (
                lot(1, expires_in_days=10, activates_in_days=-5),
                lot(2, expires_in_days=10, activates_in_days=-20),
            ),
            150,
            ((2, 100), (1, 50)),
            id="same-expiry-earlier-activation-first",
        ),
        pytest.param(
            (lot(7, expires_in_days=10), lot(3, expires_in_days=10)),
            150,
            ((3, 100), (7, 50)),
            id="same-expiry-and-activation-lower-id-first",
        ),
        pytest.param(
            (lot(1, activates_in_days=-1), lot(2, activates_in_days=-90)),
            150,
            ((2, 100), (1, 50)),
            id="never-expiring-earlier-activation-first",
        ),
        pytest.param(
            (lot(1, expires_in_days=1000), lot(2, activates_in_days=-900)),
            150,
            ((1, 100), (2, 50)),
            id="any-expiry-before-never-expiring",
        ),
        pytest.param(
            (lot(1, activates_in_days=0), lot(2, expires_in_days=1 / (24 * 3600))),
            200,
            ((2, 100), (1, 100)),
            id="activating-now-and-expiring-in-a-second-are-spendable",
        ),
        pytest.param(
            (lot(1, expires_in_days=5), lot(2, expires_in_days=30)),
            200,
            ((1, 100), (2, 100)),
            id="exactly-all-available",
        ),
    ],
)
def test_reserve_allocation_order(
    lots: tuple[Lot, ...], points: int, expected: tuple[tuple[int, int], ...]
) -> None:
    plan = reserve(account(*lots), points)
    assert plan.allocations == allocations(*expected)
    assert sum(item.points for item in plan.allocations) == points


@pytest.mark.parametrize(
    ("lots", "available"),
    [
        pytest.param((lot(1, activates_in_days=1),), 0, id="pending-lot"),
        pytest.param((lot(1, expires_in_days=-1),), 0, id="expired-lot"),
        pytest.param((lot(1, expires_in_days=0),), 0, id="lot-expiring-exactly-now"),
        pytest.param((lot(1, held=100),), 0, id="fully-held-lot"),
        pytest.param(
            (lot(1, held=30), lot(2, activates_in_days=1), lot(3, expires_in_days=-1)),
            70,
            id="only-the-free-active-part-counts",
        ),
    ],
)
def test_reserve_never_allocates_pending_expired_or_held_points(
    lots: tuple[Lot, ...], available: int
) -> None:
    result = decide_reserve(account(*lots), available + 1, None, POLICY, NOW)
    assert rejection_of(result) is Rejection.insufficient_points
    assert isinstance(result, Rejected)
    assert f"{available} available" in result.detail


# --- reserve: TTL ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ttl_seconds", "lifetime_seconds"),
    [
        pytest.param(None, 900, id="none-uses-program-default"),
        pytest.param(60, 60, id="explicit-shorter"),
        pytest.param(1800, 1800, id="explicit-longer-than-default"),
        pytest.param(3600, 3600, id="exactly-the-maximum"),
    ],
)
def test_reserve_expires_at_is_now_plus_ttl(ttl_seconds: int | None, lifetime_seconds: int) -> None:
    plan = reserve(account(lot(1)), 10, ttl_seconds)
    assert plan.expires_at == NOW + timedelta(seconds=lifetime_seconds)


def test_reserve_ttl_default_follows_the_programs_policy() -> None:
    policy = HoldPolicy(ttl_seconds_default=120, ttl_seconds_max=120)
    plan = decide_reserve(account(lot(1)), 10, None, policy, NOW)
    assert isinstance(plan, ReservePlan)
    assert plan.expires_at == NOW + timedelta(seconds=120)


@pytest.mark.parametrize(
    "ttl_seconds",
    [
        pytest.param(3601, id="one-second-over"),
        pytest.param(limits.hold_ttl_seconds_max_ceiling, id="the-global-ceiling"),
    ],
)
def test_reserve_refuses_ttl_over_the_programs_maximum(ttl_seconds: int) -> None:
    result = decide_reserve(account(lot(1)), 10, ttl_seconds, POLICY, NOW)
    assert rejection_of(result) is Rejection.hold_ttl_exceeds_maximum
    assert isinstance(result, Rejected)
    assert "3600" in result.detail


@pytest.mark.parametrize(
    ("default", "maximum"),
    [
        pytest.param(limits.hold_ttl_seconds_min - 1, 3600, id="default-under-minimum"),
        pytest.param(3601, 3600, id="default-over-maximum"),
        pytest.param(900, limits.hold_ttl_seconds_max_ceiling + 1, id="maximum-over-ceiling"),
    ],
)
def test_hold_policy_refuses_inconsistent_bounds(default: int, maximum: int) -> None:
    with pytest.raises(InvariantViolation):
        HoldPolicy(ttl_seconds_default=default, ttl_seconds_max=maximum)


@pytest.mark.parametrize(
    ("default", "maximum"),
    [
        pytest.param(limits.hold_ttl_seconds_min, limits.hold_ttl_seconds_min, id="both-minimum"),
        pytest.param(
            limits.hold_ttl_seconds_max_ceiling,
            limits.hold_ttl_seconds_max_ceiling,
            id="both-ceiling",
        ),
    ],
)
def test_hold_policy_accepts_its_bounds_inclusive(default: int, maximum: int) -> None:
    policy = HoldPolicy(ttl_seconds_default=default, ttl_seconds_max=maximum)
    assert (policy.ttl_seconds_default, policy.ttl_seconds_max) == (default, maximum)


# --- reserve: rejections and their precedence ---------------------------------------------------


@pytest.mark.parametrize(
    ("blocked", "points", "ttl_seconds", "expected", "also_applies"),
    [
        pytest.param(True, 10, None, Rejection.account_blocked, (), id="blocked"),
        pytest.param(
            False, 10, 3601, Rejection.hold_ttl_exceeds_maximum, (), id="ttl-over-maximum"
        ),
        pytest.param(False, 101, None, Rejection.insufficient_points, (), id="insufficient"),
        pytest.param(
            True,
            101,
            None,
            Rejection.account_blocked,
            (Rejection.insufficient_points,),
            id="blocked-beats-insufficient",
        ),
        pytest.param(
            True,
            10,
            3601,
            Rejection.account_blocked,
            (Rejection.hold_ttl_exceeds_maximum,),
            id="blocked-beats-ttl",
        ),
        pytest.param(
            False,
            101,
            3601,
            Rejection.hold_ttl_exceeds_maximum,
            (Rejection.insufficient_points,),
            id="ttl-beats-insufficient",
        ),
        pytest.param(
            True,
            101,
            3601,
            Rejection.account_blocked,
            (Rejection.hold_ttl_exceeds_maximum, Rejection.insufficient_points),
            id="blocked-beats-everything",
        ),
    ],
)
def test_reserve_rejections_in_precedence_order(
    blocked: bool,
    points: int,
    ttl_seconds: int | None,
    expected: Rejection,
    also_applies: tuple[Rejection, ...],
) -> None:
    result = decide_reserve(account(lot(1), blocked=blocked), points, ttl_seconds, POLICY, NOW)
    assert rejection_of(result) is expected
    order = list(Rejection)
    assert all(order.index(expected) < order.index(other) for other in also_applies)


def test_reserve_of_zero_points_is_a_bug_not_a_rejection() -> None:
    with pytest.raises(InvariantViolation):
        decide_reserve(account(lot(1)), 0, None, POLICY, NOW)


# --- commit ------------------------------------------------------------------------------------


def test_full_commit_spends_every_held_point_soonest_expiring_first() -> None:
    assert available_points(HELD_LOTS, NOW) == 0  # a commit spends held points, not available
    plan = decide_commit(HELD_LOTS, HELD, None, NOW)
    assert isinstance(plan, CommitPlan)
    assert plan.posting.lot_deltas == allocations((3, -100), (2, -100), (1, -100))
    assert plan.posting.new_lot is None
    assert plan.posting.counter_account is SystemAccount.redeemed
    assert plan.posting.customer_delta == -300
    assert plan.released == HELD.allocations


@pytest.mark.parametrize(
    ("points", "spent"),
    [
        pytest.param(1, ((3, -1),), id="one-point-from-soonest"),
        pytest.param(100, ((3, -100),), id="exactly-the-soonest-lot"),
        pytest.param(150, ((3, -100), (2, -50)), id="into-the-second-lot"),
        pytest.param(250, ((3, -100), (2, -100), (1, -50)), id="never-expiring-last"),
        pytest.param(300, ((3, -100), (2, -100), (1, -100)), id="explicitly-everything"),
    ],
)
def test_partial_commit_spends_soonest_first_and_releases_every_allocation(
    points: int, spent: tuple[tuple[int, int], ...]
) -> None:
    plan = decide_commit(HELD_LOTS, HELD, points, NOW)
    assert isinstance(plan, CommitPlan)
    assert plan.posting.lot_deltas == allocations(*spent)
    assert plan.posting.customer_delta == -points
    assert plan.released == HELD.allocations


def test_commit_still_spends_a_lot_that_expired_after_the_reserve() -> None:
    acct = account(lot(1, held=40, expires_in_days=-1), lot(2, held=10, expires_in_days=30))
    plan = decide_commit(acct, hold((2, 10), (1, 40)), 45, NOW)
    assert isinstance(plan, CommitPlan)
    assert plan.posting.lot_deltas == allocations((1, -40), (2, -5))


@pytest.mark.parametrize(
    ("the_hold", "blocked", "points", "expected", "also_applies"),
    [
        pytest.param(
            hold((1, 100), status=HoldStatus.committed),
            False,
            None,
            Rejection.hold_already_committed,
            (),
            id="committed",
        ),
        pytest.param(
            hold((1, 100), status=HoldStatus.cancelled),
            False,
            None,
            Rejection.hold_already_cancelled,
            (),
            id="cancelled",
        ),
        pytest.param(
            hold((1, 100), status=HoldStatus.expired),
            False,
            None,
            Rejection.hold_expired,
            (),
            id="expired-by-sweep",
        ),
        pytest.param(
            hold((1, 100), expires_in_seconds=0),
            False,
            None,
            Rejection.hold_expired,
            (),
            id="ttl-ends-exactly-now",
        ),
        pytest.param(
            hold((1, 100), expires_in_seconds=-1),
            False,
            None,
            Rejection.hold_expired,
            (),
            id="ttl-passed-before-sweep",
        ),
        pytest.param(
            hold((1, 100)),
            True,
            None,
            Rejection.account_blocked,
            (),
            id="blocked",
        ),
        pytest.param(
            hold((1, 100)),
            False,
            101,
            Rejection.commit_exceeds_hold,
            (),
            id="exceeds-hold",
        ),
        pytest.param(
            hold((1, 100), status=HoldStatus.committed),
            True,
            None,
            Rejection.hold_already_committed,
            (Rejection.account_blocked,),
            id="committed-beats-blocked",
        ),
        pytest.param(
            hold((1, 100), status=HoldStatus.committed, expires_in_seconds=-1),
            False,
            None,
            Rejection.hold_already_committed,
            (Rejection.hold_expired,),
            id="committed-beats-ttl-passed",
        ),
        pytest.param(
            hold((1, 100), status=HoldStatus.cancelled),
            True,
            101,
            Rejection.hold_already_cancelled,
            (Rejection.account_blocked, Rejection.commit_exceeds_hold),
            id="cancelled-beats-blocked-and-exceeds",
        ),
        pytest.param(
            hold((1, 100), expires_in_seconds=-1),
            True,
            None,
            Rejection.hold_expired,
            (Rejection.account_blocked,),
            id="expired-beats-blocked",
        ),
        pytest.param(
            hold((1, 100), status=HoldStatus.expired),
            False,
            101,
            Rejection.hold_expired,
            (Rejection.commit_exceeds_hold,),
            id="expired-beats-exceeds",
        ),
        pytest.param(
            hold((1, 100)),
            True,
            101,
            Rejection.account_blocked,
            (Rejection.commit_exceeds_hold,),
            id="blocked-beats-exceeds",
        ),
    ],
)
def test_commit_rejections_in_precedence_order(
    the_hold: Hold,
    blocked: bool,
    points: int | None,
    expected: Rejection,
    also_applies: tuple[Rejection, ...],
) -> None:
    acct = account(lot(1, held=100), blocked=blocked)
    assert rejection_of(decide_commit(acct, the_hold, points, NOW)) is expected
    order = list(Rejection)
    assert all(order.index(expected) < order.index(other) for other in also_applies)


def test_commit_of_zero_points_is_a_bug_not_a_rejection() -> None:
    with pytest.raises(InvariantViolation):
        decide_commit(HELD_LOTS, HELD, 0, NOW)


# --- cancel ------------------------------------------------------------------------------------


def test_cancel_releases_every_allocation_and_moves_no_points() -> None:
    plan = decide_cancel(HELD, NOW)
    assert plan == ReleasePlan(released=HELD.allocations)


@pytest.mark.parametrize(
    ("the_hold", "expected"),
    [
        pytest.param(
            hold((1, 100), status=HoldStatus.committed),
            Rejection.hold_already_committed,
            id="committed",
        ),
        pytest.param(
            hold((1, 100), status=HoldStatus.cancelled),
            Rejection.hold_already_cancelled,
            id="cancelled",
        ),
        pytest.param(
            hold((1, 100), status=HoldStatus.expired),
            Rejection.hold_expired,
            id="expired-by-sweep",
        ),
        pytest.param(
            hold((1, 100), expires_in_seconds=0), Rejection.hold_expired, id="ttl-ends-now"
        ),
        pytest.param(
            hold((1, 100), status=HoldStatus.committed, expires_in_seconds=-1),
            Rejection.hold_already_committed,
            id="committed-beats-ttl-passed",
        ),
        pytest.param(
            hold((1, 100), status=HoldStatus.cancelled, expires_in_seconds=-1),
            Rejection.hold_already_cancelled,
            id="cancelled-beats-ttl-passed",
        ),
    ],
)
def test_cancel_rejections_in_precedence_order(the_hold: Hold, expected: Rejection) -> None:
    assert rejection_of(decide_cancel(the_hold, NOW)) is expected


# --- TTL sweep ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "expires_in_seconds",
    [pytest.param(0, id="ttl-ends-exactly-now"), pytest.param(-3600, id="ttl-passed-an-hour-ago")],
)
def test_sweep_releases_every_allocation_of_an_active_hold_past_its_ttl(
    expires_in_seconds: float,
) -> None:
    the_hold = hold((1, 30), (2, 70), expires_in_seconds=expires_in_seconds)
    assert decide_hold_expiry(the_hold, NOW) == ReleasePlan(released=the_hold.allocations)
    # The same instant a client can no longer resolve it: exactly one of them acts.
    assert rejection_of(decide_commit(HELD_LOTS, the_hold, None, NOW)) is Rejection.hold_expired
    assert rejection_of(decide_cancel(the_hold, NOW)) is Rejection.hold_expired


@pytest.mark.parametrize(
    "the_hold",
    [
        pytest.param(hold((1, 30), expires_in_seconds=1), id="active-within-ttl"),
        pytest.param(
            hold((1, 30), status=HoldStatus.committed, expires_in_seconds=-1), id="committed"
        ),
        pytest.param(
            hold((1, 30), status=HoldStatus.cancelled, expires_in_seconds=-1), id="cancelled"
        ),
        pytest.param(
            hold((1, 30), status=HoldStatus.expired, expires_in_seconds=-1), id="already-expired"
        ),
    ],
)
def test_sweep_leaves_live_and_resolved_holds_alone(the_hold: Hold) -> None:
    assert decide_hold_expiry(the_hold, NOW) is None
