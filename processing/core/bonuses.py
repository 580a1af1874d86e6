"""When a bonus may be granted: the period a grant falls in (one grant per period) and the
birthday week.

A bonus granted ``every`` period may be granted once in each: ``once`` ever, or once per UTC
day, ISO week, month or year. The birthday week is the seven days from three days before the
birthday to three days after it (UTC dates); 29 February counts as 28 February in other years.
"""

from datetime import date, datetime, timedelta

from processing.core.rules import Every

birthday_days_around = 3


def period_of(every: Every, now: datetime) -> str:
    day = now.date()
    if every is Every.once:
        return "once"
    if every is Every.day:
        return day.isoformat()
    if every is Every.week:
        year, week, _ = day.isocalendar()
        return f"{year}-W{week:02d}"
    if every is Every.month:
        return f"{day.year}-{day.month:02d}"
    return str(day.year)


def birthday_in(birthday: date, year: int) -> date:
    if (birthday.month, birthday.day) == (2, 29):
        try:
            return date(year, 2, 29)
        except ValueError:
            return date(year, 2, 28)
    return birthday.replace(year=year)


def birthday_year(birthday: date, today: date) -> int | None:
    """The year of the birthday whose week ``today`` falls in, or None outside every one (the
    week of a birthday on 30 December reaches into January)."""
    window = timedelta(days=birthday_days_around)
    for year in (today.year - 1, today.year, today.year + 1):
        if abs(birthday_in(birthday, year) - today) <= window:
            return year
    return None
