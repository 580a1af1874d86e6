"""The live check's decision: an account whose cached figures agree with its rows has no
difference, and each disagreement is named by its kind with the figures that disagree."""

from uuid import UUID

import msgspec
import pytest

from processing.core.live_check import (
    AccountFigures,
    DifferenceKind,
    LotFigures,
    OperationTotal,
    RefundFigures,
    differences,
)

account = UUID("00000000-0000-4000-8000-000000000001")
lot = UUID("00000000-0000-4000-8000-000000000002")
operation = UUID("00000000-0000-4000-8000-000000000003")
clean = AccountFigures(
    account_id=account,
    posted=100,
    entries=100,
    lots=100,
    reserved=10,
    held=10,
    active_holds=10,
    debt=5,
    recorded=5,
)


def test_an_account_that_agrees_has_no_difference() -> None:
    assert differences(clean) == []


@pytest.mark.parametrize(
    ("changes", "kind", "figures"),
    [
        ({"entries": 99}, "posted", {"posted": 100, "entries": 99, "lots": 100}),
        ({"lots": 101}, "posted", {"posted": 100, "entries": 100, "lots": 101}),
        ({"held": 9}, "reserved", {"reserved": 10, "held": 9, "active_holds": 10}),
        ({"active_holds": 0}, "reserved", {"reserved": 10, "held": 10, "active_holds": 0}),
        ({"recorded": 0}, "debt", {"debt": 5, "recorded": 0}),
        (
            {"lot_differences": [LotFigures(lot=lot, remaining=3, entries=4, held=0, allocated=0)]},
            "lot_entries",
            {"lot": str(lot), "remaining": 3, "entries": 4},
        ),
        (
            {"lot_differences": [LotFigures(lot=lot, remaining=3, entries=3, held=1, allocated=0)]},
            "lot_holds",
            {"lot": str(lot), "held": 1, "allocated": 0},
        ),
        (
            {
                "refund_differences": [
                    RefundFigures(
                        operation=operation, refunded_points=2, refunds=0, returned_points=0,
                        returns=0,
                    )
                ]
            },
            "refunds",
            {
                "operation": str(operation),
                "refunded_points": 2,
                "refunds": 0,
                "returned_points": 0,
                "returns": 0,
            },
        ),
        (
            {"unbalanced_operations": [OperationTotal(operation=operation, total=3)]},
            "unbalanced_operations",
            {"operation": str(operation), "total": 3},
        ),
    ],
)  # fmt: skip
def test_each_disagreement_is_named_with_its_figures(
    changes: dict[str, object], kind: str, figures: dict[str, object]
) -> None:
    [found] = differences(msgspec.structs.replace(clean, **changes))
    assert (found.account_id, found.kind, found.figures) == (account, DifferenceKind(kind), figures)


def test_a_lot_can_differ_both_ways_and_kinds_come_in_order() -> None:
    broken = msgspec.structs.replace(
        clean,
        posted=101,
        debt=0,
        lot_differences=[LotFigures(lot=lot, remaining=1, entries=2, held=1, allocated=2)],
    )
    assert [d.kind for d in differences(broken)] == [
        DifferenceKind.posted,
        DifferenceKind.debt,
        DifferenceKind.lot_entries,
        DifferenceKind.lot_holds,
    ]
