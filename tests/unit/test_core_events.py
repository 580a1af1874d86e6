"""Which outbox events each kind of operation tells, table by table."""

import pytest

from processing.core.events import EventType, operation_events
from processing.core.model import OperationType as Op

E = EventType


@pytest.mark.parametrize(
    ("type_", "points", "redeemed", "returned", "debt", "releases_hold", "told"),
    [
        pytest.param(Op.accrual, 50, 0, 0, 0, False, (E.points_accrued, E.balance_changed)),
        pytest.param(Op.commit, -30, 0, 0, 0, False, (E.points_redeemed, E.balance_changed)),
        pytest.param(
            Op.purchase, 45, 0, 0, 0, False,
            (E.purchase_recorded, E.points_accrued, E.balance_changed), id="purchase-earning",
        ),
        pytest.param(
            Op.purchase, -255, 300, 0, 0, False,
            (E.purchase_recorded, E.points_accrued, E.points_redeemed, E.balance_changed),
            id="purchase-paid-with-points",
        ),
        pytest.param(
            Op.purchase, -300, 300, 0, 0, False,
            (E.purchase_recorded, E.points_redeemed, E.balance_changed),
            id="purchase-paid-with-points-earning-nothing",
        ),
        pytest.param(
            Op.purchase, 0, 0, 0, 0, False, (E.purchase_recorded,), id="purchase-moving-nothing"
        ),
        pytest.param(
            Op.purchase, 0, 0, 0, -40, False, (E.purchase_recorded, E.balance_changed),
            id="purchase-earnings-all-repaid-debt",
        ),
        pytest.param(
            Op.purchase, 0, 50, 0, 0, False,
            (E.purchase_recorded, E.points_accrued, E.points_redeemed, E.balance_changed),
            id="purchase-earned-what-it-redeemed",
        ),
        pytest.param(Op.refund, 1590, 0, 1800, 0, False, (E.points_refunded, E.balance_changed)),
        pytest.param(Op.refund, 0, 0, 0, 0, False, (E.points_refunded,), id="refund-of-nothing"),
        pytest.param(Op.adjustment, -5, 0, 0, 0, False, (E.points_adjusted, E.balance_changed)),
        pytest.param(Op.reserve, 30, 0, 0, 0, False, (E.hold_reserved, E.balance_changed)),
        pytest.param(Op.cancel, 30, 0, 0, 0, False, (E.hold_cancelled, E.balance_changed)),
        pytest.param(Op.expire, 30, 0, 0, 0, True, (E.hold_expired, E.balance_changed)),
        pytest.param(Op.expire, -70, 0, 0, 0, False, (E.points_expired, E.balance_changed)),
    ],
)  # fmt: skip
def test_each_operation_tells_what_happened_then_that_the_balance_moved(
    type_: Op,
    points: int,
    redeemed: int,
    returned: int,
    debt: int,
    releases_hold: bool,
    told: tuple[EventType, ...],
) -> None:
    assert operation_events(type_, points, redeemed, returned, debt, releases_hold) == told


def test_every_operation_type_tells_something_but_an_opening_balance() -> None:
    for type_ in Op:
        if type_ is not Op.opening:
            assert operation_events(type_, 1), type_
    assert operation_events(Op.opening, 1) == ()
