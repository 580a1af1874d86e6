"""The members and purchases reports' arithmetic: periods cut to the window, the disjoint cover
of whole months, weeks and days a distinct count reads, averages and shares rounded half up,
and members at each period's end."""

from datetime import date, timedelta

import pytest

from processing.core.customer_reports import (
    Piece,
    Span,
    average_half_up,
    cover,
    members_at_ends,
    points_share_bp,
    spans,
)
from processing.core.reports import Period


def test_periods_are_cut_to_the_window_and_labelled_by_their_first_day() -> None:
    assert spans(date(2026, 1, 15), date(2026, 3, 3), Period.month) == [
        Span(date(2026, 1, 1), date(2026, 1, 15), date(2026, 1, 31)),
        Span(date(2026, 2, 1), date(2026, 2, 1), date(2026, 2, 28)),
        Span(date(2026, 3, 1), date(2026, 3, 1), date(2026, 3, 3)),
    ]
    # 2026-01-01 is a Thursday: its ISO week began on Monday 2025-12-29.
    assert spans(date(2026, 1, 1), date(2026, 1, 12), Period.week) == [
        Span(date(2025, 12, 29), date(2026, 1, 1), date(2026, 1, 4)),
        Span(date(2026, 1, 5), date(2026, 1, 5), date(2026, 1, 11)),
        Span(date(2026, 1, 12), date(2026, 1, 12), date(2026, 1, 12)),
    ]
    assert spans(date(2024, 12, 31), date(2025, 1, 1), Period.day) == [
        Span(date(2024, 12, 31), date(2024, 12, 31), date(2024, 12, 31)),
        Span(date(2025, 1, 1), date(2025, 1, 1), date(2025, 1, 1)),
    ]


def days_of(pieces: list[Piece]) -> list[date]:
    days = []
    for piece in pieces:
        if piece.grain is Period.day:
            days.append(piece.period)
        elif piece.grain is Period.week:
            days.extend(piece.period + timedelta(days=n) for n in range(7))
        else:
            day = piece.period
            while day.month == piece.period.month:
                days.append(day)
                day += timedelta(days=1)
    return days


@pytest.mark.parametrize(
    ("first", "last"),
    [
        (date(2026, 1, 1), date(2026, 12, 31)),
        (date(2026, 1, 15), date(2026, 12, 20)),
        (date(2024, 2, 3), date(2024, 2, 27)),
        (date(2026, 3, 9), date(2026, 3, 9)),
        (date(2025, 12, 29), date(2026, 2, 2)),
    ],
)
def test_the_cover_holds_every_day_of_the_window_once(first: date, last: date) -> None:
    pieces = cover(first, last)
    expected = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    assert sorted(days_of(pieces)) == expected


def test_a_year_is_twelve_months_and_a_ragged_one_a_few_more_pieces() -> None:
    assert cover(date(2026, 1, 1), date(2026, 12, 31)) == [
        Piece(Period.month, date(2026, month, 1)) for month in range(1, 13)
    ]
    ragged = cover(date(2026, 1, 15), date(2026, 12, 20))
    # January: 4 days, the week of the 19th, 6 days; February to November; December: 6 days
    # and the weeks of the 7th and 14th.
    assert len(ragged) == 11 + 10 + 8
    assert Piece(Period.week, date(2026, 1, 19)) in ragged
    assert Piece(Period.month, date(2026, 2, 1)) in ragged


def test_averages_and_shares_round_half_up_and_say_none_for_nothing() -> None:
    assert average_half_up(5, 2) == 3
    assert average_half_up(7, 3) == 2
    assert average_half_up(10**15, 3) == 333_333_333_333_333
    assert average_half_up(100, 0) is None
    assert points_share_bp(10_000, 7_500) == 2_500
    assert points_share_bp(3, 2) == 3_333
    assert points_share_bp(0, 0) is None


def test_members_at_each_end_add_joiners_and_take_leavers() -> None:
    joined = {date(2026, 1, 2): 3, date(2026, 1, 9): 1}
    left = {date(2026, 1, 9): 2, date(2026, 1, 20): 1}
    ends = [date(2026, 1, 1), date(2026, 1, 8), date(2026, 1, 15), date(2026, 1, 31)]
    assert members_at_ends(10, joined, left, ends) == [10, 13, 12, 11]
