"""The members and purchases reports' arithmetic (decision 0027): the spans a window's periods
cover, averages and shares in integers with their rounding named, and the members counted at a
period's end from what joined and left by day. Pure: no I/O, no clock."""

from collections.abc import Iterable, Mapping
from datetime import date, timedelta
from typing import NamedTuple

from processing.core.reports import Period, rate_bp


class Span(NamedTuple):
    """A period of a report: labelled by its first day (which may lie before the window), and
    the days of it inside the window, ``first`` to ``last`` inclusive."""

    period: date
    first: date
    last: date


def period_start(day: date, period: Period) -> date:
    if period is Period.day:
        return day
    if period is Period.week:
        return day - timedelta(days=day.weekday())
    return day.replace(day=1)


def next_period(start: date, period: Period) -> date:
    if period is Period.day:
        return start + timedelta(days=1)
    if period is Period.week:
        return start + timedelta(days=7)
    return (start.replace(day=28) + timedelta(days=4)).replace(day=1)


def spans(first: date, last: date, period: Period) -> list[Span]:
    """The periods from ``first`` to ``last``, each cut to the window."""
    found = []
    start = period_start(first, period)
    while start <= last:
        following = next_period(start, period)
        found.append(Span(start, max(start, first), min(following - timedelta(days=1), last)))
        start = following
    return found


def average_half_up(total: int, count: int) -> int | None:
    """``total`` / ``count`` rounded half up (a kopeck and a half is two); None for no count."""
    if count <= 0:
        return None
    return (2 * total + count) // (2 * count)


def points_share_bp(amount_minor: int, money_minor: int) -> int | None:
    """The part of the receipts' total not paid in money (paid with points), in basis points,
    rounded half up; None when nothing was bought. The total is after the program's discount
    (decision 0036): what the customer was asked to pay, in points or money."""
    return rate_bp(amount_minor - money_minor, amount_minor)


def members_at_ends(
    before: int, joined: Mapping[date, int], left: Mapping[date, int], ends: Iterable[date]
) -> list[int]:
    """The members at the end of each of ``ends`` (ascending days): ``before`` the first, plus
    every day's joiners, less its leavers, up to and including it."""
    days = sorted(set(joined) | set(left))
    counts, total, at = [], before, 0
    for end in ends:
        while at < len(days) and days[at] <= end:
            total += joined.get(days[at], 0) - left.get(days[at], 0)
            at += 1
        counts.append(total)
    return counts


class Piece(NamedTuple):
    """A whole day, ISO week or month whose customer sets a span's count reads."""

    grain: Period
    period: date


def _weeks_and_days(first: date, last: date) -> list[Piece]:
    pieces = []
    day = first
    while day <= last:
        week_end = day + timedelta(days=6)
        if day.weekday() == 0 and week_end <= last:
            pieces.append(Piece(Period.week, day))
            day = week_end + timedelta(days=1)
        else:
            pieces.append(Piece(Period.day, day))
            day += timedelta(days=1)
    return pieces


def cover(first: date, last: date) -> list[Piece]:
    """The fewest whole months, then weeks, then days that cover ``first`` to ``last`` without
    overlapping: a customer counted twice over them made two purchases, not one counted twice."""
    month = first if first.day == 1 else next_period(first.replace(day=1), Period.month)
    months = []
    while next_period(month, Period.month) - timedelta(days=1) <= last:
        months.append(Piece(Period.month, month))
        month = next_period(month, Period.month)
    if not months:
        return _weeks_and_days(first, last)
    head = _weeks_and_days(first, months[0].period - timedelta(days=1))
    return [*head, *months, *_weeks_and_days(month, last)]
