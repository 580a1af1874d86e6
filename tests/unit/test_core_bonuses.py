"""When a bonus may be granted: its period, and the birthday week."""

from datetime import UTC, date, datetime

import pytest

from processing.core.bonuses import birthday_year, period_of
from processing.core.rules import Every

now = datetime(2026, 12, 31, 23, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("every", "period"),
    [
        (Every.once, "once"),
        (Every.day, "2026-12-31"),
        (Every.week, "2026-W53"),
        (Every.month, "2026-12"),
        (Every.year, "2026"),
    ],
)
def test_each_grant_falls_in_one_period(every: Every, period: str) -> None:
    assert period_of(every, now) == period


@pytest.mark.parametrize(
    ("born", "today", "year"),
    [
        pytest.param(date(1990, 6, 10), date(2026, 6, 10), 2026, id="on-the-day"),
        pytest.param(date(1990, 6, 10), date(2026, 6, 7), 2026, id="three-days-before"),
        pytest.param(date(1990, 6, 10), date(2026, 6, 13), 2026, id="three-days-after"),
        pytest.param(date(1990, 6, 10), date(2026, 6, 6), None, id="four-days-before"),
        pytest.param(date(1990, 6, 10), date(2026, 6, 14), None, id="four-days-after"),
        pytest.param(date(1990, 12, 30), date(2027, 1, 2), 2026, id="week-crosses-new-year"),
        pytest.param(date(1990, 1, 1), date(2026, 12, 29), 2027, id="next-years-birthday"),
        pytest.param(date(1992, 2, 29), date(2027, 2, 28), 2027, id="leap-day-in-a-common-year"),
        pytest.param(date(1992, 2, 29), date(2028, 2, 29), 2028, id="leap-day-in-a-leap-year"),
    ],
)
def test_the_birthday_week_is_three_days_either_side(
    born: date, today: date, year: int | None
) -> None:
    assert birthday_year(born, today) == year
