"""Returns by line in the pure core: shares by cumulative floors, refusals, policy settlement."""

import pytest

from processing.core.checkout import LineResult
from processing.core.model import Rejected
from processing.core.rejections import Rejection
from processing.core.returns import ReturnPlan, everything_left, plan_return, settle
from processing.core.rules import ReturnPolicy


def priced(line_id: str, quantity: int, earned: int, money: int, redeemed: int = 0) -> LineResult:
    return LineResult(
        line_id=line_id,
        quantity=quantity,
        amount_minor=money + redeemed * 100,
        max_redeemable_points=redeemed,
        redeemed_points=redeemed,
        money_minor=money,
        earned_points=earned,
        earn_bp=0,
    )


receipt = (priced("a", 3, earned=100, money=1001, redeemed=10), priced("b", 1, 7, 700))


@pytest.mark.parametrize(
    ("before", "requested", "earned", "redeemed", "money"),
    [
        pytest.param({}, (("a", 1),), 33, 3, 333, id="first-third"),
        pytest.param({"a": 1}, (("a", 1),), 33, 3, 334, id="second-third"),
        pytest.param({"a": 2}, (("a", 1),), 34, 4, 334, id="last-third-takes-the-rest"),
        pytest.param({}, (("a", 3), ("b", 1)), 107, 10, 1701, id="everything"),
    ],
)
def test_shares_are_differences_of_cumulative_floors(
    before: dict[str, int],
    requested: tuple[tuple[str, int], ...],
    earned: int,
    redeemed: int,
    money: int,
) -> None:
    plan = plan_return(receipt, before, requested)
    assert isinstance(plan, ReturnPlan)
    assert (plan.earned_points, plan.redeemed_points, plan.money_minor) == (
        earned,
        redeemed,
        money,
    )


@pytest.mark.parametrize(
    ("before", "left"),
    [({}, (("a", 3), ("b", 1))), ({"a": 2}, (("a", 1), ("b", 1))), ({"a": 3, "b": 1}, ())],
)
def test_a_cancellation_returns_exactly_what_no_return_took(
    before: dict[str, int], left: tuple[tuple[str, int], ...]
) -> None:
    assert everything_left(receipt, before) == left
    plan = plan_return(receipt, before, left)
    assert isinstance(plan, ReturnPlan)
    # With what was returned before, the whole purchase has come back, to the last point.
    earlier = plan_return(receipt, {}, tuple(before.items()))
    assert isinstance(earlier, ReturnPlan)
    assert plan.earned_points + earlier.earned_points == 107
    assert plan.money_minor + earlier.money_minor == 1701


@pytest.mark.parametrize(
    ("before", "requested", "rejection"),
    [
        pytest.param({}, (("z", 1),), Rejection.validation_error, id="unknown-line"),
        pytest.param({}, (("a", 1), ("a", 1)), Rejection.validation_error, id="named-twice"),
        pytest.param({}, (("a", 4),), Rejection.refund_exceeds_original, id="more-than-bought"),
        pytest.param({"b": 1}, (("b", 1),), Rejection.refund_exceeds_original, id="already-back"),
    ],
)
def test_impossible_returns_are_refused_whole(
    before: dict[str, int], requested: tuple[tuple[str, int], ...], rejection: Rejection
) -> None:
    plan = plan_return(receipt, before, requested)
    assert isinstance(plan, Rejected)
    assert plan.rejection is rejection


@pytest.mark.parametrize(
    ("policy", "debt", "withhold"),
    [
        (ReturnPolicy.floor, 0, 0),
        (ReturnPolicy.debt, 80, 0),
        (ReturnPolicy.withhold, 0, 8000),
    ],
)
def test_the_policy_settles_the_shortfall(policy: ReturnPolicy, debt: int, withhold: int) -> None:
    settled = settle(policy, shortfall=80, point_value_minor=100)
    assert (settled.debt_points, settled.withhold_minor) == (debt, withhold)
