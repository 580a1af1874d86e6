"""Accrue, adjust, expire and refund produce the postings and refusals a client is promised."""

from datetime import UTC, datetime, timedelta
from uuid import UUID

import msgspec
import pytest

from processing.core import limits
from processing.core.balances import apply_posting, balance_of
from processing.core.ledger import (
    decide_accrue,
    decide_adjust,
    decide_earn,
    decide_expire,
    decide_refund,
)
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
)
from processing.core.rejections import Rejection
from processing.core.rules import Expiry, ExpiryMode, expiry_in_force

NOW = datetime(2026, 1, 1, tzinfo=UTC)
DAY = timedelta(days=1)
ACCOUNT_ID = UUID(int=999)
NEW_LOT_ID = UUID(int=888)
ORIGINAL_ID = UUID(int=777)
CAP = limits.points_per_account_max


NEVER = Expiry()  # the expiry in force of a program with no expiry at all


def in_days(days: int) -> Expiry:
    return Expiry(mode=ExpiryMode.days, days=days)


def days(expiry_days: int | None) -> Expiry:
    """The expiry in force for a program created with ``expiry_days`` and never given rules."""
    return expiry_in_force(None, expiry_days)


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


def account(*lots: Lot, blocked: bool = False) -> Account:
    """A consistent account: its cached totals are the sums of its lots."""
    return Account(
        id=ACCOUNT_ID,
        posted=sum(item.remaining for item in lots),
        reserved=sum(item.held for item in lots),
        blocked=blocked,
        lots=lots,
    )


def moves(*pairs: tuple[int, int]) -> tuple[Allocation, ...]:
    return tuple(Allocation(lot_id=uid(n), points=points) for n, points in pairs)


def operation(
    type_: OperationType,
    points: int,
    *movements: tuple[int, int],
    refunded_points: int = 0,
) -> Operation:
    return Operation(
        id=ORIGINAL_ID,
        account_id=ACCOUNT_ID,
        type=type_,
        points=points,
        refunded_points=refunded_points,
        lot_movements=moves(*movements),
    )


def posting_of(result: Posting | Rejected | None) -> Posting:
    assert isinstance(result, Posting), f"expected a posting, got {result!r}"
    return result


def rejection_of(result: object) -> Rejection:
    assert isinstance(result, Rejected), f"expected a rejection, got {result!r}"
    assert result.detail, "a rejection always explains itself"
    return result.rejection


def precedes(expected: Rejection, also_applies: tuple[Rejection, ...]) -> bool:
    order = list(Rejection)
    return all(order.index(expected) < order.index(other) for other in also_applies)


# --- accrue ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("activates_in_days", "expires_in_days", "expiry_days", "lot_activates", "lot_expires"),
    [
        pytest.param(None, None, None, NOW, None, id="immediate-never-expiring"),
        pytest.param(None, None, 30, NOW, NOW + 30 * DAY, id="default-expiry-from-now"),
        pytest.param(-5, None, None, NOW, None, id="past-activation-starts-now"),
        pytest.param(0, None, None, NOW, None, id="activation-exactly-now"),
        pytest.param(10, None, None, NOW + 10 * DAY, None, id="future-activation-kept"),
        pytest.param(
            10, None, 30, NOW + 10 * DAY, NOW + 40 * DAY, id="default-expiry-from-activation"
        ),
        pytest.param(None, 7, 30, NOW, NOW + 7 * DAY, id="explicit-expiry-beats-default"),
        pytest.param(
            10, 11, 365, NOW + 10 * DAY, NOW + 11 * DAY, id="explicit-expiry-after-activation"
        ),
    ],
)
def test_accrue_creates_one_lot_against_issued(
    activates_in_days: float | None,
    expires_in_days: float | None,
    expiry_days: int | None,
    lot_activates: datetime,
    lot_expires: datetime | None,
) -> None:
    activates_at = None if activates_in_days is None else NOW + activates_in_days * DAY
    expires_at = None if expires_in_days is None else NOW + expires_in_days * DAY
    posting = posting_of(
        decide_accrue(account(lot(1)), 50, activates_at, expires_at, days(expiry_days), NOW)
    )
    assert posting.new_lot == NewLot(points=50, activates_at=lot_activates, expires_at=lot_expires)
    assert posting.lot_deltas == ()
    assert posting.counter_account is SystemAccount.issued
    assert posting.customer_delta == 50


def test_accrual_with_future_activation_is_pending_not_available() -> None:
    before = account(lot(1))
    posting = posting_of(decide_accrue(before, 50, NOW + DAY, None, NEVER, NOW))
    after = apply_posting(before, posting, NEW_LOT_ID)
    balance = balance_of(after, NOW)
    assert (balance.available, balance.pending) == (100, 50)
    # Once the activation time comes, the same lot is available and no longer pending.
    later = balance_of(after, NOW + DAY)
    assert (later.available, later.pending) == (150, 0)


@pytest.mark.parametrize(
    ("acct", "points", "activates_in_days", "expires_in_days", "expected", "also_applies"),
    [
        pytest.param(
            account(lot(1), blocked=True),
            10,
            None,
            None,
            Rejection.account_blocked,
            (),
            id="blocked",
        ),
        pytest.param(
            account(lot(1)),
            10,
            None,
            0,
            Rejection.expiry_in_past,
            (),
            id="expires-exactly-now",
        ),
        pytest.param(
            account(lot(1)),
            10,
            None,
            -1,
            Rejection.expiry_in_past,
            (),
            id="expired-yesterday",
        ),
        pytest.param(
            account(lot(1)),
            10,
            10,
            5,
            Rejection.activation_after_expiry,
            (),
            id="activation-after-expiry",
        ),
        pytest.param(
            account(lot(1)),
            10,
            10,
            10,
            Rejection.activation_after_expiry,
            (),
            id="activation-equals-expiry",
        ),
        pytest.param(
            account(lot(1, points=CAP - 5)),
            6,
            None,
            None,
            Rejection.balance_limit_exceeded,
            (),
            id="one-over-the-cap",
        ),
        pytest.param(
            account(lot(1, points=CAP - 5, activates_in_days=1, expires_in_days=2)),
            6,
            None,
            None,
            Rejection.balance_limit_exceeded,
            (),
            id="pending-points-count-to-the-cap",
        ),
        pytest.param(
            account(lot(1), blocked=True),
            10,
            None,
            -1,
            Rejection.account_blocked,
            (Rejection.expiry_in_past,),
            id="blocked-beats-expiry-in-past",
        ),
        pytest.param(
            account(lot(1, points=CAP), blocked=True),
            10,
            None,
            None,
            Rejection.account_blocked,
            (Rejection.balance_limit_exceeded,),
            id="blocked-beats-balance-limit",
        ),
        pytest.param(
            account(lot(1, points=CAP)),
            10,
            None,
            -1,
            Rejection.expiry_in_past,
            (Rejection.balance_limit_exceeded,),
            id="expiry-in-past-beats-balance-limit",
        ),
        pytest.param(
            account(lot(1, points=CAP)),
            10,
            10,
            5,
            Rejection.activation_after_expiry,
            (Rejection.balance_limit_exceeded,),
            id="activation-after-expiry-beats-balance-limit",
        ),
    ],
)
def test_accrue_rejections_in_precedence_order(
    acct: Account,
    points: int,
    activates_in_days: float | None,
    expires_in_days: float | None,
    expected: Rejection,
    also_applies: tuple[Rejection, ...],
) -> None:
    activates_at = None if activates_in_days is None else NOW + activates_in_days * DAY
    expires_at = None if expires_in_days is None else NOW + expires_in_days * DAY
    result = decide_accrue(acct, points, activates_at, expires_at, NEVER, NOW)
    assert rejection_of(result) is expected
    assert precedes(expected, also_applies)


def test_accrue_up_to_exactly_the_cap_is_allowed() -> None:
    posting = posting_of(decide_accrue(account(lot(1, points=CAP - 5)), 5, None, None, NEVER, NOW))
    assert posting.customer_delta == 5


# --- adjust ------------------------------------------------------------------------------------

OPEN_OR_BLOCKED = [pytest.param(False, id="open"), pytest.param(True, id="blocked")]


@pytest.mark.parametrize("blocked", OPEN_OR_BLOCKED)
@pytest.mark.parametrize(
    ("expiry_days", "lot_expires"),
    [pytest.param(None, None, id="never-expiring"), pytest.param(90, NOW + 90 * DAY, id="90-days")],
)
def test_adjust_credit_makes_a_new_active_lot_with_program_expiry(
    blocked: bool, expiry_days: int | None, lot_expires: datetime | None
) -> None:
    posting = posting_of(
        decide_adjust(account(lot(1), blocked=blocked), 40, days(expiry_days), NOW)
    )
    assert posting.new_lot == NewLot(points=40, activates_at=NOW, expires_at=lot_expires)
    assert posting.lot_deltas == ()
    assert posting.counter_account is SystemAccount.adjustments


def test_adjust_credit_respects_the_balance_cap() -> None:
    result = decide_adjust(account(lot(1, points=CAP)), 1, NEVER, NOW)
    assert rejection_of(result) is Rejection.balance_limit_exceeded


@pytest.mark.parametrize("blocked", OPEN_OR_BLOCKED)
@pytest.mark.parametrize(
    ("points", "taken"),
    [
        pytest.param(-10, ((3, -10),), id="from-the-soonest-expiring"),
        pytest.param(-60, ((3, -40), (2, -20)), id="free-part-of-held-lot-then-next"),
        pytest.param(-190, ((3, -40), (2, -100), (1, -50)), id="never-expiring-last"),
        pytest.param(-240, ((3, -40), (2, -100), (1, -100)), id="everything-available"),
    ],
)
def test_adjust_debit_takes_soonest_expiring_free_points_first(
    blocked: bool, points: int, taken: tuple[tuple[int, int], ...]
) -> None:
    acct = account(
        lot(1),
        lot(2, expires_in_days=30),
        lot(3, expires_in_days=5, held=60),
        lot(4, expires_in_days=1, activates_in_days=0.5),  # pending
        lot(5, expires_in_days=-1),  # expired, not yet swept
        blocked=blocked,
    )
    posting = posting_of(decide_adjust(acct, points, NEVER, NOW))
    assert posting.lot_deltas == moves(*taken)
    assert posting.new_lot is None
    assert posting.counter_account is SystemAccount.adjustments
    assert posting.customer_delta == points


def test_adjust_debit_beyond_available_is_refused() -> None:
    acct = account(lot(1, held=30), lot(2, activates_in_days=1), lot(3, expires_in_days=-1))
    result = decide_adjust(acct, -71, NEVER, NOW)
    assert rejection_of(result) is Rejection.insufficient_points
    assert isinstance(result, Rejected)
    assert "70 available" in result.detail


# --- expire ------------------------------------------------------------------------------------


def test_expire_burns_only_the_free_part_of_expired_lots() -> None:
    acct = account(
        lot(1, expires_in_days=-1, held=30),  # held part pays for a purchase later
        lot(2, expires_in_days=-10, remaining=20),
        lot(3, expires_in_days=0),  # expires exactly now
        lot(4, expires_in_days=1),  # still valid
        lot(5),  # never expires
        lot(6, expires_in_days=-2, held=100),  # entirely held: nothing to burn
    )
    posting = posting_of(decide_expire(acct, NOW))
    assert posting.lot_deltas == moves((2, -20), (1, -70), (3, -100))
    assert posting.new_lot is None
    assert posting.counter_account is SystemAccount.expired
    after = apply_posting(acct, posting, NEW_LOT_ID)
    remaining = {item.id: (item.remaining, item.held) for item in after.lots}
    assert remaining[uid(1)] == (30, 30)
    assert remaining[uid(6)] == (100, 100)
    assert after.reserved == acct.reserved
    assert balance_of(after, NOW).available == 200


@pytest.mark.parametrize(
    "lots",
    [
        pytest.param((), id="no-lots"),
        pytest.param((lot(1, expires_in_days=1), lot(2)), id="nothing-expired"),
        pytest.param((lot(1, expires_in_days=-1, remaining=0),), id="expired-lot-already-burned"),
        pytest.param((lot(1, expires_in_days=-1, held=100),), id="expired-lot-fully-held"),
        pytest.param((lot(1, expires_in_days=5, activates_in_days=1),), id="pending-lot"),
    ],
)
def test_expire_does_nothing_when_nothing_free_has_expired(lots: tuple[Lot, ...]) -> None:
    assert decide_expire(account(*lots), NOW) is None


# --- refund: what can be refunded ----------------------------------------------------------------

REFUNDABLE = (OperationType.commit, OperationType.accrual, OperationType.purchase)
NOT_REFUNDABLE = [type_ for type_ in OperationType if type_ not in REFUNDABLE]


def test_only_commits_accruals_and_purchases_are_refundable() -> None:
    assert {type_.value for type_ in NOT_REFUNDABLE} == {
        "reserve",
        "cancel",
        "expire",
        "adjustment",
        "refund",
        "merge",
        "opening",  # a balance carried over by an import: nothing of it was bought or paid
        "donation",  # a gift to a charity is final (decision 0034)
    }


@pytest.mark.parametrize("type_", NOT_REFUNDABLE, ids=str)
@pytest.mark.parametrize(
    "points", [pytest.param(None, id="whole"), pytest.param(10**6, id="more-than-original")]
)
def test_refund_of_other_operation_types_is_refused(
    type_: OperationType, points: int | None
) -> None:
    original = operation(type_, -50, (1, -50))
    result = decide_refund(account(lot(1)), original, {uid(1): lot(1)}, points, NEVER, NOW)
    assert rejection_of(result) is Rejection.operation_not_refundable
    assert precedes(Rejection.operation_not_refundable, (Rejection.refund_exceeds_original,))


@pytest.mark.parametrize(
    ("type_", "points", "refunded_points", "refund"),
    [
        pytest.param(OperationType.commit, -50, 0, 51, id="commit-more-than-spent"),
        pytest.param(OperationType.commit, -50, 30, 21, id="commit-cumulative-over"),
        pytest.param(OperationType.commit, -50, 50, None, id="commit-already-fully-refunded"),
        pytest.param(OperationType.commit, -50, 0, 0, id="commit-zero"),
        pytest.param(OperationType.accrual, 50, 0, 51, id="accrual-more-than-accrued"),
        pytest.param(OperationType.accrual, 50, 45, 6, id="accrual-cumulative-over"),
        pytest.param(OperationType.accrual, 50, 50, None, id="accrual-already-fully-refunded"),
    ],
)
def test_refund_never_exceeds_what_is_left_of_the_original(
    type_: OperationType, points: int, refunded_points: int, refund: int | None
) -> None:
    original = operation(type_, points, (1, points), refunded_points=refunded_points)
    acct = account(lot(1, points=1000))
    result = decide_refund(acct, original, {uid(1): acct.lots[0]}, refund, NEVER, NOW)
    assert rejection_of(result) is Rejection.refund_exceeds_original


# --- refund of a redemption ----------------------------------------------------------------------

# A commit of 100 points that spent lot 1 (50), then lot 2 (30), then lot 3 (20); all still valid.
SPENT_LOTS = (
    lot(1, remaining=50, expires_in_days=5),
    lot(2, remaining=70, expires_in_days=30),
    lot(3, remaining=80),
)
COMMIT = operation(OperationType.commit, -100, (1, -50), (2, -30), (3, -20))


@pytest.mark.parametrize(
    ("refunded_points", "refund", "restored"),
    [
        pytest.param(0, 10, ((3, 10),), id="last-spent-lot-first"),
        pytest.param(0, 30, ((3, 20), (2, 10)), id="into-the-previous-lot"),
        pytest.param(0, None, ((3, 20), (2, 30), (1, 50)), id="whole-refund"),
        pytest.param(20, 30, ((2, 30),), id="skips-what-was-refunded-before"),
        pytest.param(25, 40, ((2, 25), (1, 15)), id="skips-part-of-a-lot-refunded-before"),
        pytest.param(60, None, ((1, 40),), id="whole-of-what-is-left"),
    ],
)
def test_refund_of_redemption_restores_last_spent_first_to_the_original_lots(
    refunded_points: int, refund: int | None, restored: tuple[tuple[int, int], ...]
) -> None:
    original = operation(
        OperationType.commit, -100, (1, -50), (2, -30), (3, -20), refunded_points=refunded_points
    )
    acct = account(*SPENT_LOTS)
    original_lots = {item.id: item for item in SPENT_LOTS}
    posting = posting_of(decide_refund(acct, original, original_lots, refund, in_days(365), NOW))
    assert posting.lot_deltas == moves(*restored)
    assert posting.new_lot is None
    assert posting.counter_account is SystemAccount.redeemed
    apply_posting(acct, posting, NEW_LOT_ID)  # restoring never overfills a lot


@pytest.mark.parametrize(
    ("expiry_days", "new_lot_expires"),
    [pytest.param(90, NOW + 90 * DAY, id="program-expiry"), pytest.param(None, None, id="none")],
)
def test_refund_to_an_expired_lot_comes_back_as_a_new_lot(
    expiry_days: int | None, new_lot_expires: datetime | None
) -> None:
    lots = (lot(1, remaining=0, expires_in_days=-1), *SPENT_LOTS[1:])
    original_lots = {item.id: item for item in lots}
    posting = posting_of(
        decide_refund(account(*lots), COMMIT, original_lots, 60, days(expiry_days), NOW)
    )
    assert posting.lot_deltas == moves((3, 20), (2, 30))
    assert posting.new_lot == NewLot(points=10, activates_at=NOW, expires_at=new_lot_expires)
    assert posting.customer_delta == 60
    assert posting.counter_account is SystemAccount.redeemed


def test_refund_to_a_lot_expiring_exactly_now_comes_back_as_a_new_lot() -> None:
    original = operation(OperationType.commit, -40, (1, -40))
    lots = (lot(1, remaining=60, expires_in_days=0),)
    posting = posting_of(
        decide_refund(account(*lots), original, {uid(1): lots[0]}, None, in_days(30), NOW)
    )
    assert posting.lot_deltas == ()
    assert posting.new_lot == NewLot(points=40, activates_at=NOW, expires_at=NOW + 30 * DAY)


def test_refund_reissue_respects_the_balance_cap() -> None:
    original = operation(OperationType.commit, -40, (1, -40))
    expired = lot(1, remaining=0, expires_in_days=-1)
    acct = account(expired, lot(2, points=CAP))
    result = decide_refund(acct, original, {uid(1): expired}, None, NEVER, NOW)
    assert rejection_of(result) is Rejection.balance_limit_exceeded


def test_refund_to_a_live_lot_respects_the_balance_cap() -> None:
    original = operation(OperationType.commit, -40, (1, -40))
    spent_from = lot(1, points=100, remaining=60)
    acct = account(spent_from, lot(2, points=CAP - 60))
    result = decide_refund(acct, original, {uid(1): spent_from}, None, NEVER, NOW)
    assert rejection_of(result) is Rejection.balance_limit_exceeded
    smaller = account(spent_from, lot(2, points=CAP - 100))
    assert isinstance(
        decide_refund(smaller, original, {uid(1): spent_from}, None, NEVER, NOW), Posting
    )


# --- refund of an accrual (claw-back) -------------------------------------------------------------


@pytest.mark.parametrize(
    ("own", "refund", "taken"),
    [
        pytest.param(lot(9, remaining=100), 30, ((9, -30),), id="own-lot-first"),
        pytest.param(
            lot(9, activates_in_days=2, expires_in_days=30),
            None,
            ((9, -100),),
            id="own-lot-even-while-pending",
        ),
        pytest.param(
            lot(9, remaining=40),
            None,
            ((9, -40), (2, -60)),
            id="then-soonest-expiring-other-lot",
        ),
        pytest.param(
            lot(9, remaining=40, held=30),
            None,
            ((9, -10), (2, -90)),
            id="held-part-of-own-lot-untouched",
        ),
        pytest.param(
            lot(9, remaining=0),
            None,
            ((2, -100),),
            id="own-lot-spent-entirely",
        ),
        pytest.param(
            lot(9, remaining=100, expires_in_days=-1),
            50,
            ((2, -50),),
            id="expired-own-lot-skipped",
        ),
    ],
)
def test_refund_of_accrual_claws_back_own_lot_first_then_other_spendable_lots(
    own: Lot, refund: int | None, taken: tuple[tuple[int, int], ...]
) -> None:
    acct = account(
        lot(1),  # never expires
        lot(2, expires_in_days=10),
        lot(3, activates_in_days=1, expires_in_days=5),  # someone else's pending lot
        lot(4, expires_in_days=-1),  # expired, not yet swept
        own,
    )
    original = operation(OperationType.accrual, 100, (9, 100))
    posting = posting_of(decide_refund(acct, original, {uid(9): own}, refund, NEVER, NOW))
    assert posting.lot_deltas == moves(*taken)
    assert posting.new_lot is None
    assert posting.counter_account is SystemAccount.issued
    apply_posting(acct, posting, NEW_LOT_ID)  # never takes points that are not there


@pytest.mark.parametrize(
    ("lots", "coverable"),
    [
        pytest.param((lot(9, remaining=40), lot(2, points=20)), 60, id="own-plus-others-short"),
        pytest.param((lot(9, remaining=40), lot(2, points=59)), 99, id="one-point-short"),
        pytest.param(
            (lot(9, remaining=40, held=40), lot(2, held=50)), 50, id="held-points-not-taken"
        ),
        pytest.param(
            (lot(9, remaining=10), lot(2, activates_in_days=1), lot(3, expires_in_days=-1)),
            10,
            id="others-pending-or-expired-not-taken",
        ),
    ],
)
def test_refund_of_accrual_that_cannot_be_covered_is_refused_whole(
    lots: tuple[Lot, ...], coverable: int
) -> None:
    original = operation(OperationType.accrual, 100, (9, 100))
    result = decide_refund(account(*lots), original, {uid(9): lots[0]}, None, NEVER, NOW)
    assert rejection_of(result) is Rejection.insufficient_points
    assert isinstance(result, Rejected)
    assert f"{coverable} left" in result.detail


def test_refund_of_a_purchase_claws_back_what_it_earned_like_an_accrual() -> None:
    own = lot(9, points=100)
    acct = account(lot(1), own)
    for type_ in (OperationType.accrual, OperationType.purchase):
        original = operation(type_, 100, (9, 100))
        posting = posting_of(decide_refund(acct, original, {uid(9): own}, 30, NEVER, NOW))
        assert posting.lot_deltas == moves((9, -30))
        assert posting.counter_account is SystemAccount.issued


@pytest.mark.parametrize(
    ("debt", "earned", "landed", "repaid"),
    [
        pytest.param(0, 100, 100, 0, id="no-debt"),
        pytest.param(30, 100, 70, 30, id="debt-repaid-first"),
        pytest.param(100, 100, 0, 100, id="all-to-debt"),
        pytest.param(500, 100, 0, 100, id="debt-larger-than-earnings"),
    ],
)
def test_earnings_repay_debt_before_they_land(
    debt: int, earned: int, landed: int, repaid: int
) -> None:
    owing = msgspec.structs.replace(account(lot(1)), debt=debt)
    posting = posting_of(decide_earn(owing, earned, NOW, None, NOW))
    assert (posting.customer_delta, posting.debt_delta) == (landed, -repaid)
    assert (posting.new_lot is None) == (landed == 0)
    after = apply_posting(owing, posting, NEW_LOT_ID)
    assert after.debt == debt - repaid
