"""The report's figures (decision 0025): each operation type's credit and debit lands in one
figure, and whatever the mix the figures add up to the net change of what customers hold."""

import random

import pytest

from processing.core.model import OperationType
from processing.core.reports import PointFigures, TypeSums, fold, rate_bp


def sums(kind: str, credited: int = 0, debited: int = 0, operations: int = 1) -> TypeSums:
    return TypeSums(type=kind, operations=operations, credited=credited, debited=debited)


def test_a_purchase_issues_what_it_credits_and_redeems_what_it_debits() -> None:
    assert fold([sums("purchase", credited=95, debited=-50)]) == PointFigures(
        issued=95, redeemed=50, net=45, operations=1
    )


def test_a_refund_gives_back_and_claws_back_apart() -> None:
    assert fold([sums("refund", credited=50, debited=-95)]) == PointFigures(
        returned=50, clawed_back=95, net=-45, operations=1
    )


def test_a_merge_and_a_hold_move_nothing_over_the_program() -> None:
    folded = fold([sums("merge", 130, -130), sums("reserve"), sums("cancel", operations=2)])
    assert folded == PointFigures(operations=4)


def test_an_unknown_type_is_counted_as_other_so_the_net_still_adds_up() -> None:
    assert fold([sums("bartered", debited=-10)]) == PointFigures(other=-10, net=-10, operations=1)


def test_a_donation_is_its_own_figure_taken_off_the_net() -> None:
    assert fold([sums("donation", debited=-10, operations=2)]) == PointFigures(
        donated=10, net=-10, operations=2
    )


@pytest.mark.parametrize("seed", range(50))
def test_the_figures_always_add_up_to_the_net(seed: int) -> None:
    draw = random.Random(seed)
    kinds = [*OperationType, "bartered"]
    rows = [
        (draw.choice(kinds), draw.randrange(10**12), draw.randrange(10**12), draw.randrange(1, 9))
        for _ in range(draw.randrange(30))
    ]
    folded = fold(sums(kind, credit, -debit, count) for kind, credit, debit, count in rows)
    assert folded.net == sum(credit - debit for _, credit, debit, _ in rows)
    assert folded.net == (
        folded.issued
        - folded.redeemed
        - folded.clawed_back
        + folded.returned
        - folded.expired
        + folded.adjusted
        + folded.opening
        + folded.transferred
        - folded.donated
        + folded.other
    )
    assert folded.operations == sum(count for *_, count in rows)


def test_rates_are_basis_points_rounded_half_up_and_none_without_a_whole() -> None:
    assert rate_bp(150, 435) == 3448  # 34.4827…%
    assert rate_bp(1, 20_000) == 1  # 0.5 bp rounds up
    assert rate_bp(1, 20_001) == 0
    assert rate_bp(5, 0) is None
