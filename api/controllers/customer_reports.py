"""The members and purchases reports (decision 0027), as JSON and as CSV, beside the points
report (``api/controllers/reports.py``) and with its conventions: admin scope, a window of
days in the program's time zone, a period, and a CSV export at ``.../export``."""

from typing import Any
from uuid import UUID

from litestar import Controller, Request, Response, get

from api.auth import admin_scopes
from api.controllers.reports import (
    First,
    GroupingParameter,
    Last,
    PeriodParameter,
    csv_description,
    csv_file,
    csv_media_type,
)
from api.http import accepted, answer
from processing.core.reports import Grouping, Period
from processing.service.records import Actor, MembersReport, PurchasesReport
from processing.service.reports.customers import CustomerReports, members_csv, purchases_csv
from schemas.customer_reports import MembersReport as MembersReply
from schemas.customer_reports import PurchasesReport as PurchasesReply

AnyRequest = Request[Any, Any, Any]


class CustomerReportsController(Controller):
    path = "/v1/programs/{program_id:uuid}/reports"
    opt = {"scopes": admin_scopes}
    tags = ["reports"]

    @get("/members", name="members_report")
    async def members_report(
        self,
        request: AnyRequest,
        program_id: UUID,
        customer_reports: CustomerReports,
        actor: Actor,
        first: First,
        last: Last,
        period: PeriodParameter = Period.day,
    ) -> Response[MembersReply]:
        """Members per period: enrolled in it, at its end (not merged into another, not
        erased) and active in it (an operation of their own: not an expiry, a merge or an
        import); the window's totals; members by the tier last announced for them at the
        window's end (``tier`` null: none) and the tier changes within it."""
        outcome = await customer_reports.members(actor, program_id, first, last, period)
        return answer(request, outcome, MembersReply)

    @get(
        "/members/export",
        name="export_members_report",
        media_type=csv_media_type,
        response_description=f"The report as CSV: {csv_description}",
    )
    async def export_members_report(
        self,
        program_id: UUID,
        customer_reports: CustomerReports,
        actor: Actor,
        first: First,
        last: Last,
        period: PeriodParameter = Period.day,
    ) -> Response[bytes]:
        """The members report as CSV: scope (period, total, tier or tier_change), then its
        columns."""
        outcome = await customer_reports.members(actor, program_id, first, last, period)
        report = accepted(outcome, MembersReport)
        return csv_file(members_csv(report), f"members-{program_id}-{first}-{last}.csv")

    @get("/purchases", name="purchases_report")
    async def purchases_report(
        self,
        request: AnyRequest,
        program_id: UUID,
        customer_reports: CustomerReports,
        actor: Actor,
        first: First,
        last: Last,
        period: PeriodParameter = Period.day,
        grouping: GroupingParameter = Grouping.none,
    ) -> Response[PurchasesReply]:
        """Purchases per period (and store or channel): how many, the receipts' total, the
        money paid, the average check (total / purchases, half up), the share paid with points
        ((total - money) / total, basis points), returns and the money they gave back; the
        customers who bought and who bought twice or more, with the repeat rate, per period
        when not grouped and for the window."""
        outcome = await customer_reports.purchases(actor, program_id, first, last, period, grouping)
        return answer(request, outcome, PurchasesReply)

    @get(
        "/purchases/export",
        name="export_purchases_report",
        media_type=csv_media_type,
        response_description=f"The report as CSV: {csv_description}",
    )
    async def export_purchases_report(
        self,
        program_id: UUID,
        customer_reports: CustomerReports,
        actor: Actor,
        first: First,
        last: Last,
        period: PeriodParameter = Period.day,
        grouping: GroupingParameter = Grouping.none,
    ) -> Response[bytes]:
        """The purchases report as CSV: scope (period or total), period, store_id, channel and
        the figures."""
        outcome = await customer_reports.purchases(actor, program_id, first, last, period, grouping)
        report = accepted(outcome, PurchasesReport)
        return csv_file(purchases_csv(report), f"purchases-{program_id}-{first}-{last}.csv")


__all__ = ["CustomerReportsController"]
