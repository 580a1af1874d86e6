"""Reports on what the ledger moved (decision 0025): points by period, store and channel, and
the liability on a day, as JSON and as CSV. Admin scope: a program's own admin key or an
operator's key."""

from datetime import date
from typing import Annotated, Any
from uuid import UUID

from litestar import Controller, Request, Response, get
from litestar.params import Parameter

from api.auth import admin_scopes
from api.http import accepted, answer, attachment
from processing.core.reports import Grouping, Period
from processing.service.records import Actor, LiabilityReport, PointsReport
from processing.service.reports.points import Reports, liability_csv, points_csv
from schemas.reports import Liability
from schemas.reports import PointsReport as PointsReply

AnyRequest = Request[Any, Any, Any]
csv_media_type = "text/csv"
csv_description = "UTF-8 with a byte order mark, ';', CRLF; a header row first."

First = Annotated[
    date, Parameter(query="from", description="The first day (the program's time zone).")
]
Last = Annotated[date, Parameter(query="to", description="The last day, included.")]
PeriodParameter = Annotated[
    Period, Parameter(query="period", description="day, week (Monday first) or month.")
]
GroupingParameter = Annotated[
    Grouping, Parameter(query="by", description="none, store (where it happened) or channel.")
]
On = Annotated[
    date | None,
    Parameter(query="on", description="The day whose end it is as of; today when left out."),
]


class ReportsController(Controller):
    path = "/v1/programs/{program_id:uuid}/reports"
    opt = {"scopes": admin_scopes}
    tags = ["reports"]

    @get("/points", name="points_report")
    async def points_report(
        self,
        request: AnyRequest,
        program_id: UUID,
        reports: Reports,
        actor: Actor,
        first: First,
        last: Last,
        period: PeriodParameter = Period.day,
        grouping: GroupingParameter = Grouping.none,
    ) -> Response[PointsReply]:
        """Points issued, redeemed, clawed back and given back by returns, expired, adjusted
        and carried over by imports, per period (and store or channel), from the report
        rollups; with the window's totals, breakage (expired / issued) and redemption
        (redeemed / issued) in basis points. Complete for operations before
        ``complete_before``: later ones join as the outbox relay reaches them."""
        outcome = await reports.points(actor, program_id, first, last, period, grouping)
        return answer(request, outcome, PointsReply)

    @get(
        "/points/export",
        name="export_points_report",
        media_type=csv_media_type,
        response_description=f"The report as CSV: {csv_description}",
    )
    async def export_points_report(
        self,
        program_id: UUID,
        reports: Reports,
        actor: Actor,
        first: First,
        last: Last,
        period: PeriodParameter = Period.day,
        grouping: GroupingParameter = Grouping.none,
    ) -> Response[bytes]:
        """The points report as CSV: scope (period or total), period, store_id, channel and
        the figures."""
        outcome = await reports.points(actor, program_id, first, last, period, grouping)
        report = accepted(outcome, PointsReport)
        return csv_file(points_csv(report), f"points-{program_id}-{first}-{last}.csv")

    @get("/liability", name="liability_report")
    async def liability_report(
        self, request: AnyRequest, program_id: UUID, reports: Reports, actor: Actor, on: On = None
    ) -> Response[Liability]:
        """The points customers hold at the end of a day (the program's time zone): pending
        (not active yet) and available, and their worth at the program's point value, in all
        and by the store where they were earned."""
        return answer(request, await reports.liability(actor, program_id, on), Liability)

    @get(
        "/liability/export",
        name="export_liability_report",
        media_type=csv_media_type,
        response_description=f"The liability as CSV: {csv_description}",
    )
    async def export_liability_report(
        self, program_id: UUID, reports: Reports, actor: Actor, on: On = None
    ) -> Response[bytes]:
        """The liability as CSV: the program's line first, then each earning store's."""
        report = accepted(await reports.liability(actor, program_id, on), LiabilityReport)
        return csv_file(liability_csv(report), f"liability-{program_id}-{report.on}.csv")


def csv_file(body: bytes, filename: str) -> Response[bytes]:
    """A report's CSV, saved by a browser as ``filename``."""
    return Response(content=body, media_type=csv_media_type, headers=attachment(filename))


__all__ = ["ReportsController"]
