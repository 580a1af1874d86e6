"""The console's reports page: the program's points (issued, redeemed, expired), liability at
each period's end, members and purchases as SVG charts drawn on the server
(``api/console/charts.py``), with the window's totals, a period picker and each report's CSV.

The figures come from the same service calls as the report routes (decisions 0025 and 0027).
The picker is a GET form: a date that is not one, a period that is none of ours or a window the
reports refuse is shown beside the field it names, and nothing is drawn. A chart draws at most
``chart_periods_max`` periods; the liability is read once per period's end.
"""

from collections.abc import Callable
from datetime import date, timedelta
from itertools import accumulate
from typing import Annotated, Any, Final, NamedTuple
from uuid import UUID

from litestar import Controller, Request, Response, get
from litestar.params import Parameter
from litestar.response import Redirect, Template

from api.console.charts import Chart, Series, bar_chart, line_chart
from api.console.operations import cursor_in, program_in, programs_page, refusal
from api.console.pages import (
    console_exception_handlers,
    page,
    security_headers,
    session_or_sign_in,
    when,
)
from api.console.rules import percent
from api.console.sessions import Signed
from api.console.words import words
from api.controllers.reports import csv_file
from processing.core.customer_reports import period_start, spans
from processing.core.reports import Grouping, Period
from processing.runtime import Runtime
from processing.service.records import (
    Accepted,
    MembersReport,
    Outcome,
    PointsReport,
    PurchasesReport,
    Refused,
)
from processing.service.reports.customers import members_csv, purchases_csv
from processing.service.reports.points import liability_csv, points_csv

AnyRequest = Request[Any, Any, Any]
First = Annotated[str | None, Parameter(query="from")]
Last = Annotated[str | None, Parameter(query="to")]
# The most periods one chart draws (a day's bars over two months, or five years by month).
chart_periods_max: Final = 62
# With nothing asked: the last twelve months, by month.
default_months: Final = 12
report_names: Final = ("points", "liability", "members", "purchases")


class Window(NamedTuple):
    first: date
    last: date
    period: Period


class Asked(NamedTuple):
    """The picker's fields as typed, shown again in the form."""

    first: str
    last: str
    period: str


class Wrong(NamedTuple):
    field: str
    message: str


def read_day(text: str) -> date | None:
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def read_window(asked: Asked, today: date, t: dict[str, str]) -> Window | Wrong:
    """The window the picker asks for, defaults filled in, or the first field that is wrong."""
    last = read_day(asked.last) if asked.last else today
    if last is None:
        return Wrong("to", t["report_bad_date"])
    first = read_day(asked.first) if asked.first else months_back(last, default_months)
    if first is None:
        return Wrong("from", t["report_bad_date"])
    if asked.period and asked.period not in Period.__members__:
        return Wrong("period", t["report_bad_period"])
    period = Period(asked.period) if asked.period else Period.month
    if first <= last and len(spans(first, last, period)) > chart_periods_max:
        return Wrong("period", t["report_too_many_periods"].format(max=chart_periods_max))
    return Window(first, last, period)


def months_back(last: date, months: int) -> date:
    """The first day of the month ``months - 1`` months before ``last``'s."""
    start = period_start(last, Period.month)
    for _ in range(months - 1):
        start = period_start(date.fromordinal(start.toordinal() - 1), Period.month)
    return start


def shown_percent(bp: int | None) -> str:
    return "—" if bp is None else percent(bp)


def label(day: date, period: Period) -> str:
    return day.strftime("%Y-%m") if period is Period.month else day.isoformat()


def charts(
    t: dict[str, str],
    window: Window,
    points: PointsReport,
    held: list[int],
    members: MembersReport,
    purchases: PurchasesReport,
) -> list[Any]:
    periods = [span.period for span in spans(window.first, window.last, window.period)]
    labels = tuple(label(day, window.period) for day in periods)

    def chart(key: str, title: str, series: list[tuple[str, Callable[[date], int]]]) -> Chart:
        return Chart(
            key=key,
            title=t[title],
            labels=labels,
            series=tuple(
                Series(name=t[name], values=tuple(figure(day) for day in periods))
                for name, figure in series
            ),
            no_data=t["chart_no_data"],
            period_word=t["chart_period"],
        )

    point_rows = {row.period: row for row in points.rows}
    member_rows = {row.period: row for row in members.rows}
    purchase_rows = {row.period: row for row in purchases.rows}
    held_at = dict(zip(periods, held, strict=True))

    def of(rows: dict[date, Any], name: str) -> Callable[[date], int]:
        return lambda day: getattr(rows[day], name) if day in rows else 0

    return [
        bar_chart(
            chart(
                "points",
                "chart_points",
                [
                    ("figure_issued", of(point_rows, "issued")),
                    ("figure_redeemed", of(point_rows, "redeemed")),
                    ("figure_expired", of(point_rows, "expired")),
                ],
            )
        ),
        line_chart(
            chart("liability", "chart_liability", [("figure_outstanding", held_at.__getitem__)])
        ),
        bar_chart(
            chart(
                "members",
                "chart_members",
                [
                    ("figure_new_members", of(member_rows, "new_members")),
                    ("figure_active_members", of(member_rows, "active_members")),
                ],
            )
        ),
        line_chart(
            chart(
                "members-total",
                "chart_members_total",
                [("figure_members", of(member_rows, "members"))],
            )
        ),
        bar_chart(
            chart(
                "purchases",
                "chart_purchases",
                [
                    ("figure_purchases", of(purchase_rows, "purchases")),
                    ("figure_returns", of(purchase_rows, "returns")),
                ],
            )
        ),
        bar_chart(
            chart(
                "money",
                "chart_money",
                [
                    ("figure_amount", of(purchase_rows, "amount_minor")),
                    ("figure_money", of(purchase_rows, "money_minor")),
                ],
            )
        ),
    ]


def refused_of(*outcomes: Outcome) -> Refused | None:
    return next((outcome for outcome in outcomes if isinstance(outcome, Refused)), None)


async def reports_page(
    runtime: Runtime, signed: Signed, program_id: UUID, asked: Asked
) -> Template:
    locale, actor = signed.session.locale, signed.actor
    t = words(locale)
    today = await runtime.reports.liability(actor, program_id, None)
    if isinstance(today, Refused):
        return page(
            "console/reports.html",
            locale,
            signed,
            404,
            program_id=program_id,
            asked=asked,
            message=refusal(locale, today),
        )
    window = read_window(asked, today.value.on, t)
    if isinstance(window, Wrong):
        return _wrong(signed, program_id, asked, window)
    first, last, period = window
    points = await runtime.reports.points(actor, program_id, first, last, period, Grouping.none)
    members = await runtime.customer_reports.members(actor, program_id, first, last, period)
    purchases = await runtime.customer_reports.purchases(
        actor, program_id, first, last, period, Grouping.none
    )
    certificates = await runtime.certificates.liability(actor, program_id)
    refused = refused_of(points, members, purchases)
    if refused is not None:
        field = refused.field or "from"
        return _wrong(
            signed, program_id, asked, Wrong(field, f"{t['report_refused']}: {refused.detail}")
        )
    if not (
        isinstance(points, Accepted)
        and isinstance(members, Accepted)
        and isinstance(purchases, Accepted)
    ):
        raise TypeError("a report neither accepted nor refused")
    # What customers held at each period's end: the liability before the window, plus each
    # period's net (the points figures add up to the change of what customers hold).
    before = await runtime.reports.liability(actor, program_id, first - timedelta(days=1))
    held_before = before.value.outstanding_points if isinstance(before, Accepted) else 0
    nets = {row.period: row.net for row in points.value.rows}
    held = list(
        accumulate(
            (nets.get(span.period, 0) for span in spans(first, last, period)), initial=held_before
        )
    )[1:]
    return page(
        "console/reports.html",
        locale,
        signed,
        program_id=program_id,
        asked=Asked(first.isoformat(), last.isoformat(), period.value),
        periods=tuple(Period),
        charts=charts(t, window, points.value, held, members.value, purchases.value),
        points=points.value,
        members=members.value,
        purchases=purchases.value,
        liability=today.value if last >= today.value.on else None,
        # Gift certificates' money as it stands now (decision 0033), whatever the window.
        certificates=certificates.value if isinstance(certificates, Accepted) else None,
        held_at_end=held[-1] if held else 0,
        report_names=report_names,
        percent=shown_percent,
        when=when,
    )


def _wrong(signed: Signed, program_id: UUID, asked: Asked, wrong: Wrong) -> Template:
    return page(
        "console/reports.html",
        signed.session.locale,
        signed,
        400,
        program_id=program_id,
        asked=asked,
        periods=tuple(Period),
        error_field=wrong.field,
        error_message=wrong.message,
    )


class ConsoleReportsController(Controller):
    path = "/console/reports"
    opt = {"public": True}  # noqa: RUF012  (Litestar reads it as configuration)
    include_in_schema = False
    response_headers = security_headers
    exception_handlers = console_exception_handlers

    @get("/", name="console_reports")
    async def reports(
        self,
        request: AnyRequest,
        runtime: Runtime,
        lang: str | None = None,
        program: str | None = None,
        cursor: str | None = None,
        first: First = None,
        last: Last = None,
        period: str | None = None,
    ) -> Response[Any]:
        signed = await session_or_sign_in(request, runtime, lang)
        if isinstance(signed, Redirect):
            return signed
        program_id = program_in(signed, program)
        if program_id is None:
            return await programs_page(runtime, signed, "/console/reports", cursor_in(cursor))
        asked = Asked(*((value or "").strip()[:32] for value in (first, last, period)))
        return await reports_page(runtime, signed, program_id, asked)

    @get("/export/{name:str}", name="console_report_csv")
    async def export(
        self,
        request: AnyRequest,
        runtime: Runtime,
        name: str,
        program: str | None = None,
        first: First = None,
        last: Last = None,
        period: str | None = None,
    ) -> Response[Any]:
        """A report as CSV through the session, as its ``/export`` route answers a key."""
        signed = await session_or_sign_in(request, runtime, None)
        if isinstance(signed, Redirect):
            return signed
        program_id = program_in(signed, program)
        locale, actor = signed.session.locale, signed.actor
        today = (
            None if program_id is None else await runtime.reports.liability(actor, program_id, None)
        )
        if program_id is None or name not in report_names or not isinstance(today, Accepted):
            return page(
                "console/refused.html", locale, signed, 404, message=words(locale)["nothing_found"]
            )
        window = read_window(
            Asked(first or "", last or "", period or ""), today.value.on, words(locale)
        )
        if isinstance(window, Wrong):
            return page("console/refused.html", locale, signed, 400, message=window.message)
        return await _export(runtime, signed, program_id, name, window)


async def _export(
    runtime: Runtime, signed: Signed, program_id: UUID, name: str, window: Window
) -> Response[Any]:
    actor, (first, last, period) = signed.actor, window
    stem = f"{name}-{program_id}-{first}-{last}.csv"
    if name == "points":
        outcome = await runtime.reports.points(
            actor, program_id, first, last, period, Grouping.none
        )
        render: Callable[[Any], bytes] = points_csv
    elif name == "liability":
        outcome = await runtime.reports.liability(actor, program_id, last)
        render, stem = liability_csv, f"liability-{program_id}-{last}.csv"
    elif name == "members":
        outcome = await runtime.customer_reports.members(actor, program_id, first, last, period)
        render = members_csv
    else:
        outcome = await runtime.customer_reports.purchases(
            actor, program_id, first, last, period, Grouping.none
        )
        render = purchases_csv
    if not isinstance(outcome, Accepted):
        locale = signed.session.locale
        return page("console/refused.html", locale, signed, 400, message=refusal(locale, outcome))
    return csv_file(render(outcome.value), stem)


__all__ = ["ConsoleReportsController"]
