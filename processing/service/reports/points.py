"""The points report and the liability, read from the report rollups (decision 0025), which
the outbox relay keeps (an operation is in them once its first event is relayed) and
``bonus reports rebuild`` recomputes from the ledger. Each answer says up to when it is
complete: ``complete_before``, the time of the oldest event the relay has not reached."""

import csv
import io
from collections import defaultdict
from collections.abc import Sequence
from datetime import date
from uuid import UUID

from msgspec.structs import asdict

from processing.core import limits
from processing.core.rejections import Rejection
from processing.core.reports import (
    Grouping,
    Period,
    PointFigures,
    fold,
    outstanding_value_minor,
    rate_bp,
)
from processing.service.loyalty.segments import byte_order_mark, export_separator
from processing.service.ports import Database, Store
from processing.service.records import (
    Accepted,
    Actor,
    LiabilityFigures,
    LiabilityReport,
    LiabilityRow,
    Outcome,
    PointsReport,
    PointsReportRow,
    PointsTotals,
    Refused,
    ReportClock,
    ReportPointsRow,
    StoreLiability,
    refuse,
)
from processing.service.rules import current_rules


def check_window(first: date, last: date) -> Refused | None:
    """A window a report can cover: in order, within the years a client may send, and at most
    ``report_days_max`` days long."""
    for name, day in (("from", first), ("to", last)):
        if not limits.timestamp_year_min <= day.year <= limits.timestamp_year_max:
            return refuse(
                Rejection.validation_error,
                f"{name} must lie in the years {limits.timestamp_year_min} to "
                f"{limits.timestamp_year_max}.",
                field=name,
            )
    if last < first:
        return refuse(Rejection.validation_error, "to is before from.", field="to")
    if (last - first).days + 1 > limits.report_days_max:
        return refuse(
            Rejection.validation_error,
            f"A report covers at most {limits.report_days_max} days.",
            field="to",
        )
    return None


def _liability(rows: list[LiabilityRow], point_value_minor: int) -> list[StoreLiability]:
    return [
        StoreLiability(
            store_id=row.lot_store_id or None,
            outstanding_points=row.outstanding,
            pending_points=row.pending,
            available_points=row.outstanding - row.pending,
            outstanding_value_minor=outstanding_value_minor(row.outstanding, point_value_minor),
        )
        for row in rows
    ]


async def program_clock(store: Store, actor: Actor, program_id: UUID) -> ReportClock | Refused:
    """The report clock of a program the caller may read; another program's is not found, as
    in every read."""
    clock = await store.report_clock(program_id, actor.program_id)
    return refuse(Rejection.not_found, "No program with this id.") if clock is None else clock


class Reports:
    def __init__(self, database: Database) -> None:
        self.database = database

    async def points(
        self,
        actor: Actor,
        program_id: UUID,
        first: date,
        last: date,
        period: Period,
        grouping: Grouping,
    ) -> Outcome:
        """Points issued, redeemed, clawed back, returned, expired, adjusted and carried over,
        per period (and store or channel), with the window's totals and rates."""
        refused = check_window(first, last)
        if refused is not None:
            return refused
        async with self.database.snapshot() as store:
            clock = await program_clock(store, actor, program_id)
            if isinstance(clock, Refused):
                return clock
            rows = await store.report_points(program_id, first, last, period, grouping)
        groups: defaultdict[tuple[date, str | None, str | None], list[ReportPointsRow]]
        groups = defaultdict(list)
        for row in rows:
            groups[(row.period, row.store_id, row.channel)].append(row)
        report_rows = [
            PointsReportRow(period=day, store_id=store_id, channel=channel, **asdict(fold(sums)))
            for (day, store_id, channel), sums in groups.items()
        ]
        totals = fold(rows)
        return Accepted(
            value=PointsReport(
                program_id=program_id,
                first=first,
                last=last,
                period=period,
                grouping=grouping,
                complete_before=clock.complete_before,
                rows=report_rows,
                totals=PointsTotals(
                    **asdict(totals),
                    breakage_bp=rate_bp(totals.expired, totals.issued),
                    redemption_bp=rate_bp(totals.redeemed, totals.issued),
                ),
            )
        )

    async def liability(self, actor: Actor, program_id: UUID, on: date | None) -> Outcome:
        """The points customers hold at the end of ``on`` (today in the program's time zone
        when None), pending and available, and their worth at the program's point value, in
        all and by the store that earned them."""
        if on is not None and not limits.timestamp_year_min <= on.year <= limits.timestamp_year_max:
            return refuse(
                Rejection.validation_error,
                f"on must lie in the years {limits.timestamp_year_min} to "
                f"{limits.timestamp_year_max}.",
                field="on",
            )
        async with self.database.snapshot() as store:
            clock = await program_clock(store, actor, program_id)
            program = await store.get_program(program_id, actor.program_id)
            if isinstance(clock, Refused) or program is None:
                return refuse(Rejection.not_found, "No program with this id.")
            day = clock.today if on is None else on
            rules = await current_rules(store, program_id)
            rows = await store.report_liability(program_id, day)
        value = rules.rules.point_value_minor
        outstanding = sum(row.outstanding for row in rows)
        pending = sum(row.pending for row in rows)
        return Accepted(
            value=LiabilityReport(
                program_id=program_id,
                on=day,
                currency=program.currency,
                point_value_minor=value,
                complete_before=clock.complete_before,
                outstanding_points=outstanding,
                pending_points=pending,
                available_points=outstanding - pending,
                outstanding_value_minor=outstanding_value_minor(outstanding, value),
                stores=_liability(rows, value),
            )
        )

    async def rebuild(self, program_id: UUID | None) -> tuple[int, int]:
        """Recomputes the rollups of one program (None: every program) from the ledger."""
        async with self.database.transaction() as store:
            rebuilt = await store.rebuild_reports(program_id)
            # The purchase rollups and customer sets (decision 0027), after the points rollups:
            # the relay rolls up in this order too, so neither waits on the other's lock.
            await store.rebuild_customer_reports(program_id)
            await store.analyze_reports()
        return rebuilt


_figure_columns = tuple(PointFigures.__struct_fields__)
points_columns = ("scope", "period", "store_id", "channel", *_figure_columns)
liability_columns = (
    "scope",
    "on",
    "store_id",
    "outstanding_points",
    "pending_points",
    "available_points",
    "outstanding_value_minor",
)


def csv_bytes(header: Sequence[str], rows: list[list[object]]) -> bytes:
    """A report as CSV in docs/import-export.md's conventions: UTF-8 with a byte order mark,
    ';', CRLF, a header row, an empty cell for a missing value."""
    buffer = io.StringIO()
    buffer.write(byte_order_mark)
    writer = csv.writer(buffer, delimiter=export_separator, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(["" if value is None else value for value in row] for row in rows)
    return buffer.getvalue().encode("utf-8")


def points_csv(report: PointsReport) -> bytes:
    """The report's rows (scope ``period``) and its totals (scope ``total``)."""
    figures: list[list[object]] = [
        ["period", row.period.isoformat(), row.store_id, row.channel]
        + [getattr(row, name) for name in _figure_columns]
        for row in report.rows
    ]
    totals = ["total", None, None, None] + [
        getattr(report.totals, name) for name in _figure_columns
    ]
    return csv_bytes(points_columns, [*figures, totals])


def liability_csv(report: LiabilityReport) -> bytes:
    """The program's line (scope ``program``) and each earning store's (scope ``store``)."""

    def line(scope: str, store_id: str | None, figures: LiabilityFigures) -> list[object]:
        return [
            scope,
            report.on.isoformat(),
            store_id,
            figures.outstanding_points,
            figures.pending_points,
            figures.available_points,
            figures.outstanding_value_minor,
        ]

    lines = [line("program", None, report)]
    lines.extend(line("store", store.store_id, store) for store in report.stores)
    return csv_bytes(liability_columns, lines)
