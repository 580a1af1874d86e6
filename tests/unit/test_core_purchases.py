"""A purchase paid partly with points, decided in the pure core: the hold committed with its
final receipt is one operation with a spending leg (against redeemed) and an earning leg
(against issued); returning its lines gives back what paid for them before clawing back what
they earned. The receipts are the customer documents' auto service: gold earns 10 %, 1 point =
1 ruble, at most 50 % of a receipt in points, spare parts never paid with points."""

from datetime import timedelta
from uuid import UUID

import msgspec
import pytest

from processing.core.balances import apply_holds, apply_postings, available_points
from processing.core.checkout import calculate
from processing.core.ledger import decide_refund
from processing.core.model import (
    Account,
    Allocation,
    Hold,
    HoldStatus,
    Line,
    Lot,
    Operation,
    OperationType,
    Posting,
    Rejected,
    SystemAccount,
)
from processing.core.purchases import (
    LineReturn,
    PurchasePlan,
    decide_line_return,
    decide_offline_purchase,
    decide_paid_purchase,
    decide_purchase,
)
from processing.core.rejections import Rejection
from processing.core.returns import ReturnPlan, plan_return
from processing.core.rules import Earning, Expiry, ExpiryMode, Rules
from tests.unit.test_core_checkout import auto_service, gold, line
from tests.unit.test_core_ledger import DAY, NOW, account, lot, moves, rejection_of, uid

HOLD_ID = UUID(int=555)
EARNED_LOT = UUID(int=444)
REISSUED_LOT = UUID(int=333)
delayed = msgspec.structs.replace(auto_service, activation_delay_days=14)


NEVER = Expiry()  # the expiry in force of a program with no expiry at all


def in_days(days: int) -> Expiry:
    return Expiry(mode=ExpiryMode.days, days=days)


def held(acct: Account, points: int, *, expires_in: timedelta = DAY) -> tuple[Account, Hold]:
    """The account with ``points`` earmarked from its lots in order, and the hold."""
    allocations: list[Allocation] = []
    left = points
    for item in acct.lots:
        part = min(item.free, left)
        if part:
            allocations.append(Allocation(lot_id=item.id, points=part))
            left -= part
    assert left == 0
    hold = Hold(
        id=HOLD_ID,
        account_id=acct.id,
        points=points,
        status=HoldStatus.active,
        expires_at=NOW + expires_in,
        allocations=tuple(allocations),
    )
    return apply_holds(acct, hold.allocations, +1), hold


def paid(result: object) -> PurchasePlan:
    assert isinstance(result, PurchasePlan), f"expected a paid purchase, got {result!r}"
    return result


def receipt(*lines: Line) -> tuple[Line, ...]:
    return lines


TEN_THOUSAND = receipt(line("oil", 4000), line("work", 6000))


@pytest.mark.parametrize(
    ("rules", "points", "spent", "earned", "pending"),
    [
        pytest.param(auto_service, None, 3000, 700, False, id="all-held-points-gold-10pct"),
        pytest.param(auto_service, 1000, 1000, 900, False, id="part-of-the-hold"),
        pytest.param(delayed, 3000, 3000, 700, True, id="earned-points-pending-for-the-delay"),
    ],
)
def test_a_hold_committed_with_its_receipt_spends_and_earns_in_one_operation(
    rules: Rules, points: int | None, spent: int, earned: int, pending: bool
) -> None:
    before, hold = held(account(lot(1, 2000), lot(2, 5000)), 3000)
    plan = paid(decide_paid_purchase(before, hold, rules, gold, TEN_THOUSAND, points, NOW))
    spending, earning = plan.postings
    assert spending.counter_account is SystemAccount.redeemed
    assert spending.customer_delta == -spent
    assert earning.counter_account is SystemAccount.issued
    assert earning.new_lot is not None
    assert earning.new_lot.points == earned
    assert plan.priced.redeemed_points == spent
    assert plan.priced.money_minor == (10_000 - spent) * 100
    # The earmarks of the whole hold are dropped; what it did not spend is free again.
    after = apply_postings(apply_holds(before, plan.released, -1), plan.postings, EARNED_LOT)
    assert after.reserved == 0
    assert after.posted == 7000 - spent + earned
    assert available_points(after, NOW) == 7000 - spent + (0 if pending else earned)


def test_earning_on_money_only_never_on_the_part_paid_with_points() -> None:
    before, hold = held(account(lot(1, 10_000)), 5000)
    plan = paid(decide_paid_purchase(before, hold, auto_service, gold, TEN_THOUSAND, None, NOW))
    direct = calculate(auto_service, gold, TEN_THOUSAND, 5000, 5000)
    assert plan.priced == direct
    assert plan.priced.earned_points == 500  # 10 % of the 5,000 rubles paid in money


def test_a_receipt_that_shrank_below_the_held_points_is_refused_not_charged_less() -> None:
    before, hold = held(account(lot(1, 10_000)), 5000)
    smaller = receipt(line("oil", 4000), line("work", 2000))  # half of 6,000 is 3,000
    result = decide_paid_purchase(before, hold, auto_service, gold, smaller, None, NOW)
    assert rejection_of(result) is Rejection.redemption_exceeds_limit
    assert isinstance(result, Rejected)
    assert "at most 3000" in result.detail
    # Committing what the final receipt allows goes through and releases the rest of the hold.
    plan = paid(decide_paid_purchase(before, hold, auto_service, gold, smaller, 3000, NOW))
    assert plan.priced.redeemed_points == 3000
    assert plan.released == hold.allocations


def test_an_excluded_category_cannot_be_paid_with_points_at_commit() -> None:
    before, hold = held(account(lot(1, 10_000)), 1)
    parts_only = receipt(line("filter", 5000, category="parts"))
    result = decide_paid_purchase(before, hold, auto_service, gold, parts_only, None, NOW)
    assert rejection_of(result) is Rejection.redemption_exceeds_limit


@pytest.mark.parametrize(
    ("status", "expires_in", "points", "expected"),
    [
        pytest.param(HoldStatus.committed, DAY, None, Rejection.hold_already_committed),
        pytest.param(HoldStatus.cancelled, DAY, None, Rejection.hold_already_cancelled),
        pytest.param(HoldStatus.active, -DAY, None, Rejection.hold_expired),
        pytest.param(HoldStatus.active, DAY, 3001, Rejection.commit_exceeds_hold),
    ],
)
def test_a_hold_that_cannot_commit_is_refused_before_its_receipt_is_priced(
    status: HoldStatus, expires_in: timedelta, points: int | None, expected: Rejection
) -> None:
    before, hold = held(account(lot(1, 10_000)), 3000, expires_in=expires_in)
    hold = msgspec.structs.replace(hold, status=status)
    tiny = receipt(line("oil", 10))  # would also exceed the receipt's cap
    assert rejection_of(
        decide_paid_purchase(before, hold, auto_service, gold, tiny, points, NOW)
    ) is (expected)


def test_a_blocked_account_cannot_commit() -> None:
    before, hold = held(account(lot(1, 10_000)), 3000)
    blocked = msgspec.structs.replace(before, blocked=True)
    result = decide_paid_purchase(blocked, hold, auto_service, gold, TEN_THOUSAND, None, NOW)
    assert rejection_of(result) is Rejection.account_blocked


def test_a_receipt_that_earns_nothing_has_only_the_spending_leg() -> None:
    nothing = msgspec.structs.replace(auto_service, tiers=(), earning=Earning(base_bp=0))
    before, hold = held(account(lot(1, 10_000)), 3000)
    plan = paid(decide_paid_purchase(before, hold, nothing, None, TEN_THOUSAND, None, NOW))
    assert len(plan.postings) == 1
    assert plan.earned is None


def test_earnings_of_a_paid_purchase_repay_debt_first() -> None:
    before, hold = held(account(lot(1, 10_000)), 3000)
    owing = msgspec.structs.replace(before, debt=200)
    plan = paid(decide_paid_purchase(owing, hold, auto_service, gold, TEN_THOUSAND, None, NOW))
    assert plan.earned is not None
    assert (plan.earned.customer_delta, plan.earned.debt_delta) == (500, -200)


# --- returns of a purchase paid partly with points ------------------------------------------


def purchase_of(plan: PurchasePlan) -> Operation:
    """The purchase operation as a later return reads it."""
    spending = plan.postings[0]
    earning = plan.earned
    movements = spending.lot_deltas + (
        (Allocation(lot_id=EARNED_LOT, points=earning.new_lot.points),)
        if earning is not None and earning.new_lot is not None
        else ()
    )
    return Operation(
        id=uid(777),
        account_id=uid(999),
        type=OperationType.purchase,
        points=sum(posting.customer_delta for posting in plan.postings),
        refunded_points=0,
        lot_movements=movements,
        redeemed_points=plan.priced.redeemed_points,
    )


def bought(
    rules: Rules = auto_service, *, spend_first: int = 0
) -> tuple[Operation, Account, PurchasePlan]:
    """Lot 1 holds 10,000 points; a hold of 3,000 pays for the 10,000-ruble receipt at gold,
    earning 700; then the customer spends ``spend_first`` of whatever is left."""
    before, hold = held(account(lot(1, 10_000)), 3000)
    plan = paid(decide_paid_purchase(before, hold, rules, gold, TEN_THOUSAND, None, NOW))
    after = apply_postings(apply_holds(before, plan.released, -1), plan.postings, EARNED_LOT)
    if spend_first:
        take = []
        left = spend_first
        for item in sorted(after.lots, key=lambda lot_: lot_.id != EARNED_LOT):
            part = min(item.free, left)
            if part:
                take.append(Allocation(lot_id=item.id, points=-part))
                left -= part
        after = apply_postings(
            after,
            (Posting(lot_deltas=tuple(take), counter_account=SystemAccount.redeemed),),
            EARNED_LOT,
        )
    return purchase_of(plan), after, plan


def returned(result: object) -> LineReturn:
    assert isinstance(result, LineReturn), f"expected a line return, got {result!r}"
    return result


def plan_of(
    plan: PurchasePlan, *lines: tuple[str, int], before: dict[str, int] | None = None
) -> ReturnPlan:
    made = plan_return(plan.priced.lines, before or {}, lines)
    assert isinstance(made, ReturnPlan)
    return made


def test_returning_a_line_gives_back_its_points_and_claws_back_what_it_earned() -> None:
    original, acct, plan = bought()
    lots = {item.id: item for item in acct.lots}
    work = plan_of(plan, ("work", 1))  # 6,000 rubles: 1,800 points paid, 420 earned on 4,200
    decision = returned(decide_line_return(acct, original, lots, work, NEVER, REISSUED_LOT, NOW))
    assert (decision.points_returned, decision.points_clawed_back, decision.shortfall) == (
        1800,
        420,
        0,
    )
    giving, clawing = decision.postings
    assert giving.counter_account is SystemAccount.redeemed
    assert giving.customer_delta == 1800
    assert clawing.counter_account is SystemAccount.issued
    assert clawing.customer_delta == -420
    assert clawing.lot_deltas == (Allocation(lot_id=EARNED_LOT, points=-420),)  # own lot first


def test_points_given_back_cover_earnings_already_spent() -> None:
    # The customer spent everything, the earned 700 included; returning the work line gives
    # back 1,800 points that paid for it, and the 420 it earned come out of those.
    original, acct, plan = bought(spend_first=7700)
    assert available_points(acct, NOW) == 0
    lots = {item.id: item for item in acct.lots}
    decision = returned(
        decide_line_return(
            acct, original, lots, plan_of(plan, ("work", 1)), NEVER, REISSUED_LOT, NOW
        )
    )
    assert (decision.points_returned, decision.points_clawed_back, decision.shortfall) == (
        1800,
        420,
        0,
    )
    after = apply_postings(acct, decision.postings, REISSUED_LOT)
    assert available_points(after, NOW) == 1800 - 420


def test_partial_returns_add_up_to_the_purchase_exactly() -> None:
    done: dict[str, int] = {}
    given = clawed = 0
    three = receipt(line("oil", 4000), line("tyres", 6000, quantity=3))
    before, hold = held(account(lot(1, 10_000)), 2999)
    plan = paid(decide_paid_purchase(before, hold, auto_service, gold, three, None, NOW))
    acct = apply_postings(apply_holds(before, plan.released, -1), plan.postings, EARNED_LOT)
    original = purchase_of(plan)
    for _ in range(3):
        work = plan_of(plan, ("tyres", 1), before=done)
        lots = {item.id: item for item in acct.lots}
        decision = returned(
            decide_line_return(acct, original, lots, work, NEVER, REISSUED_LOT, NOW)
        )
        acct = apply_postings(acct, decision.postings, REISSUED_LOT)
        original = msgspec.structs.replace(
            original,
            refunded_points=original.refunded_points + decision.points_clawed_back,
            returned_points=original.returned_points + decision.points_returned,
        )
        done["tyres"] = done.get("tyres", 0) + 1
        given += decision.points_returned
        clawed += decision.points_clawed_back
    tyres = next(item for item in plan.priced.lines if item.line_id == "tyres")
    assert (given, clawed) == (tyres.redeemed_points, tyres.earned_points)
    assert original.returned_points <= original.redeemed_points


def test_points_whose_lot_expired_come_back_as_a_new_lot_the_claw_back_may_use() -> None:
    before, hold = held(account(lot(1, 3000, expires_in_days=2)), 3000)
    plan = paid(decide_paid_purchase(before, hold, auto_service, gold, TEN_THOUSAND, None, NOW))
    acct = apply_postings(apply_holds(before, plan.released, -1), plan.postings, EARNED_LOT)
    original = purchase_of(plan)
    acct = apply_postings(  # the earned 700 are spent
        acct,
        (
            Posting(
                lot_deltas=(Allocation(lot_id=EARNED_LOT, points=-700),),
                counter_account=SystemAccount.redeemed,
            ),
        ),
        EARNED_LOT,
    )
    later = NOW + 3 * DAY  # lot 1 has expired since
    lots = {item.id: item for item in acct.lots}
    decision = returned(
        decide_line_return(
            acct, original, lots, plan_of(plan, ("work", 1)), in_days(30), REISSUED_LOT, later
        )
    )
    giving, clawing = decision.postings
    assert giving.new_lot is not None
    assert giving.new_lot.points == 1800
    assert clawing.lot_deltas == (Allocation(lot_id=REISSUED_LOT, points=-420),)
    after = apply_postings(acct, decision.postings, REISSUED_LOT)
    reissued = next(item for item in after.lots if item.id == REISSUED_LOT)
    assert reissued.remaining == 1800 - 420


def test_a_purchase_paid_with_points_is_refunded_by_lines_only() -> None:
    original, acct, _ = bought()
    lots = {item.id: item for item in acct.lots}
    for points in (None, 10):
        result = decide_refund(acct, original, lots, points, NEVER, NOW)
        assert rejection_of(result) is Rejection.operation_not_refundable


def test_the_statement_points_of_a_paid_purchase_are_earned_less_redeemed() -> None:
    original, _, plan = bought()
    assert original.points == plan.priced.earned_points - plan.priced.redeemed_points
    assert original.refundable_points == plan.priced.earned_points


# --- cheques a till posts late, after letting points pay while offline -----------------------

offline = msgspec.structs.replace(
    auto_service,
    redemption=msgspec.structs.replace(auto_service.redemption, offline_cap_points=500),
)


def test_an_offline_redemption_within_the_cap_spends_and_earns_in_one_operation() -> None:
    acct = account(lot(1, 300, expires_in_days=10), lot(2, 1000))
    plan = decide_offline_purchase(acct, offline, gold, TEN_THOUSAND, 400, None, NOW)
    assert isinstance(plan, PurchasePlan)
    spending, earning = plan.postings
    assert spending.counter_account is SystemAccount.redeemed
    assert spending.lot_deltas == moves((1, -300), (2, -100))  # soonest-expiring first
    assert plan.earned is earning
    assert earning.customer_delta == 960  # 10 % of the 9,600 rubles paid in money
    assert plan.released == ()


@pytest.mark.parametrize(
    ("rules", "lots", "lines", "points", "expected"),
    [
        pytest.param(offline, (lot(1, 1000),), TEN_THOUSAND, 501, Rejection.reservation_required,
                     id="above-the-cap"),
        pytest.param(auto_service, (lot(1, 1000),), TEN_THOUSAND, 1, Rejection.reservation_required,
                     id="no-cap-no-offline-points"),
        pytest.param(offline, (lot(1, 100),), TEN_THOUSAND, 400, Rejection.insufficient_points,
                     id="not-enough-points-now"),
        pytest.param(offline, (lot(1, 1000),), (line("filter", 500, category="parts"),), 10,
                     Rejection.redemption_exceeds_limit, id="receipt-does-not-let-points-pay"),
    ],
)  # fmt: skip
def test_an_offline_redemption_is_refused_whole_when_it_cannot_be(
    rules: Rules, lots: tuple[Lot, ...], lines: tuple[Line, ...], points: int, expected: Rejection
) -> None:
    result = decide_offline_purchase(account(*lots), rules, gold, lines, points, None, NOW)
    assert rejection_of(result) is expected


def test_a_purchase_paid_in_money_has_only_its_earning_leg() -> None:
    plan = decide_purchase(account(lot(1, 10)), auto_service, gold, TEN_THOUSAND, None, NOW)
    assert isinstance(plan, PurchasePlan)
    assert [leg.counter_account for leg in plan.postings] == [SystemAccount.issued]
    assert plan.priced.redeemed_points == 0
    nothing = msgspec.structs.replace(auto_service, tiers=(), earning=Earning(base_bp=0))
    idle = decide_purchase(account(lot(1, 10)), nothing, None, TEN_THOUSAND, None, NOW)
    assert isinstance(idle, PurchasePlan)
    assert (idle.postings, idle.earned) == ((), None)
    blocked = decide_purchase(
        account(lot(1, 10), blocked=True), auto_service, gold, TEN_THOUSAND, None, NOW
    )
    assert rejection_of(blocked) is Rejection.account_blocked
