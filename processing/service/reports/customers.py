"""The members and purchases reports (decision 0027), read from the rollups the outbox relay
keeps beside the points rollups: purchases and returns summed by day, store and channel, and
customer sets (bitmaps by day, week and month) for the figures that count a customer once.
Members joining and leaving, their tiers and tier changes are read from the customers and the
tier.changed events themselves, through indexes."""

from collections.abc import Sequence
from datetime import date
from uuid import UUID

from msgspec.structs import asdict

from processing import telemetry
from processing.core import limits
from processing.core.customer_reports import (
    Span,
    average_half_up,
    cover,
    members_at_ends,
    points_share_bp,
    spans,
)
from processing.core.reports import Grouping, Period, rate_bp
from processing.service.ports import Database, Store
from processing.service.records import (
    Accepted,
    Actor,
    CustomerCounts,
    MemberFigures,
    MembersReport,
    MembersReportRow,
    Outcome,
    PurchaseFigures,
    PurchasesReport,
    PurchasesReportRow,
    PurchaseSumsRow,
    Refused,
    TierMembers,
)
from processing.service.reports.points import check_window, csv_bytes, program_clock
from processing.service.rules import current_rules


def purchase_figures(
    sums: Sequence[PurchaseSumsRow], counts: CustomerCounts | None
) -> PurchaseFigures:
    """A period's (or the window's) figures from its sums and, when known, its customers."""
    purchases = sum(row.purchases for row in sums)
    amount = sum(row.amount_minor for row in sums)
    money = sum(row.money_minor for row in sums)
    discount = sum(row.program_discount_minor for row in sums)
    return PurchaseFigures(
        purchases=purchases,
        amount_minor=amount,
        money_minor=money,
        average_check_minor=average_half_up(amount, purchases),
        points_share_bp=points_share_bp(amount - discount, money),
        returns=sum(row.returns for row in sums),
        returned_money_minor=sum(row.returned_money_minor for row in sums),
        program_discount_minor=discount,
        purchasing_customers=None if counts is None else counts.purchased,
        repeat_customers=None if counts is None else counts.repeated,
        repeat_rate_bp=None if counts is None else rate_bp(counts.repeated, counts.purchased),
    )


async def customer_counts(
    store: Store, program_id: UUID, windows: Sequence[tuple[date, date]]
) -> list[CustomerCounts]:
    """Distinct customers in each window (first and last day, inclusive), in order."""
    numbers: list[int] = []
    grains: list[str] = []
    periods: list[date] = []
    for n, (first, last) in enumerate(windows):
        for piece in cover(first, last):
            numbers.append(n)
            grains.append(piece.grain.value)
            periods.append(piece.period)
    found = {
        row.n: row
        for row in await store.report_customer_counts(program_id, numbers, grains, periods)
    }
    return [
        found.get(n, CustomerCounts(n=n, active=0, purchased=0, repeated=0))
        for n in range(len(windows))
    ]


def _tier_order(names: Sequence[str]) -> dict[str | None, int]:
    order: dict[str | None, int] = {name: at for at, name in enumerate(names)}
    order[None] = -1
    return order


class CustomerReports:
    def __init__(self, database: Database) -> None:
        self.database = database

    async def purchases(
        self,
        actor: Actor,
        program_id: UUID,
        first: date,
        last: date,
        period: Period,
        grouping: Grouping,
    ) -> Outcome:
        """Purchases, their money and returns per period (and store or channel), and the
        customers who bought and bought again, per period when not grouped and over the
        window."""
        refused = check_window(first, last)
        if refused is not None:
            return refused
        periods = spans(first, last, period)
        windows = [(span.first, span.last) for span in periods] if grouping is Grouping.none else []
        async with self.database.snapshot() as store:
            clock = await program_clock(store, actor, program_id)
            if isinstance(clock, Refused):
                return clock
            sums = await store.report_purchase_sums(program_id, first, last, period, grouping)
            counts = await customer_counts(store, program_id, [*windows, (first, last)])
        # Customers per period only when the rows are periods; a store's or channel's are not
        # kept (decision 0027).
        counted = [span.period for span in periods] if windows else []
        by_period = dict(zip(counted, counts[: len(windows)], strict=True))
        rows = [
            PurchasesReportRow(
                period=row.period,
                store_id=row.store_id or None,
                channel=row.channel,
                **asdict(purchase_figures([row], by_period.get(row.period))),
            )
            for row in sums
        ]
        return Accepted(
            value=PurchasesReport(
                program_id=program_id,
                first=first,
                last=last,
                period=period,
                grouping=grouping,
                complete_before=clock.complete_before,
                rows=rows,
                totals=purchase_figures(sums, counts[-1]),
            )
        )

    async def members(
        self, actor: Actor, program_id: UUID, first: date, last: date, period: Period
    ) -> Outcome:
        """Members joining, at each period's end and active in it; by tier at the window's end
        and the tier changes within it."""
        refused = check_window(first, last)
        if refused is not None:
            return refused
        periods = spans(first, last, period)
        async with self.database.snapshot() as store:
            clock = await program_clock(store, actor, program_id)
            if isinstance(clock, Refused):
                return clock
            days = await store.report_member_days(program_id, first, last)
            windows = [(span.first, span.last) for span in periods]
            counts = await customer_counts(store, program_id, [*windows, (first, last)])
            tiers = await store.report_member_tiers(program_id, last)
            moves = await store.report_tier_moves(program_id, first, last)
            rules = await current_rules(store, program_id)
        before = sum(row.joined - row.left for row in days if row.day is None)
        joined = {row.day: row.joined for row in days if row.day is not None}
        left = {row.day: row.left for row in days if row.day is not None}
        at_ends = members_at_ends(before, joined, left, [span.last for span in periods])
        rows = [
            _member_row(span, joined, total, active.active)
            for span, total, active in zip(periods, at_ends, counts, strict=False)
        ]
        members_now = at_ends[-1] if at_ends else before
        order = _tier_order([tier.name for tier in rules.rules.tiers])
        tiered = sorted(tiers, key=lambda row: (order.get(row.tier, len(order)), row.tier or ""))
        without = members_now - sum(row.members for row in tiered)
        return Accepted(
            value=MembersReport(
                program_id=program_id,
                first=first,
                last=last,
                period=period,
                complete_before=clock.complete_before,
                rows=rows,
                totals=MemberFigures(
                    new_members=sum(joined.values()),
                    members=members_now,
                    active_members=counts[-1].active,
                ),
                tiers=[TierMembers(tier=None, members=without), *tiered],
                tier_moves=moves,
            )
        )


def _member_row(span: Span, joined: dict[date, int], total: int, active: int) -> MembersReportRow:
    new = sum(count for day, count in joined.items() if span.first <= day <= span.last)
    return MembersReportRow(
        period=span.period, new_members=new, members=total, active_members=active
    )


purchase_columns = (
    "scope",
    "period",
    "store_id",
    "channel",
    *PurchaseFigures.__struct_fields__,
)
member_columns = (
    "scope",
    "period",
    "tier",
    "tier_before",
    "tier_after",
    *MemberFigures.__struct_fields__,
    "customers",
)


def purchases_csv(report: PurchasesReport) -> bytes:
    """The report's rows (scope ``period``) and its totals (scope ``total``)."""
    names = PurchaseFigures.__struct_fields__
    lines: list[list[object]] = [
        ["period", row.period.isoformat(), row.store_id, row.channel]
        + [getattr(row, name) for name in names]
        for row in report.rows
    ]
    lines.append(["total", None, None, None] + [getattr(report.totals, name) for name in names])
    return csv_bytes(purchase_columns, lines)


def members_csv(report: MembersReport) -> bytes:
    """Each period (scope ``period``), the window (``total``), the members by tier at its end
    (``tier``) and its tier changes (``tier_change``, with how many customers)."""
    names = MemberFigures.__struct_fields__
    lines: list[list[object]] = [
        ["period", row.period.isoformat(), None, None, None]
        + [getattr(row, name) for name in names]
        + [None]
        for row in report.rows
    ]
    lines.append(
        ["total", None, None, None, None] + [getattr(report.totals, n) for n in names] + [None]
    )
    blank = [None] * len(names)
    lines.extend(
        ["tier", None, tier.tier, None, None, *blank, tier.members] for tier in report.tiers
    )
    lines.extend(
        ["tier_change", None, None, move.tier_before, move.tier_after, *blank, move.customers]
        for move in report.tier_moves
    )
    return csv_bytes(member_columns, lines)


async def observe_programs(database: Database) -> None:
    """Sets each program's liability and active customers gauges from the rollups."""
    async with database.reader() as store:
        figures = await store.report_program_gauges(limits.active_customers_days)
    for program in figures:
        label = str(program.program_id)
        telemetry.program_liability_points.labels(program_id=label).set(program.outstanding_points)
        telemetry.program_active_customers.labels(program_id=label).set(program.active_customers)
