"""The purchase and member report rollups (``sql/customer_reports.sql``, decision 0027): read
by period, span and day, rebuilt from the ledger. Mixed into ``PostgresStore``."""

from datetime import date
from decimal import Decimal
from uuid import UUID

import msgspec

from processing.adapters.postgres.named import NamedQueries
from processing.adapters.postgres.rows import record_of
from processing.service.records import (
    CustomerCounts,
    MemberDayRow,
    ProgramGauges,
    PurchaseSumsRow,
    TierMembers,
    TierMove,
)

money_columns = ("amount_minor", "money_minor", "returned_money_minor", "program_discount_minor")


def exact(value: Decimal) -> int:
    """A numeric sum of integers as the integer it is."""
    whole = int(value)
    if whole != value:
        raise ValueError(f"a money sum is not whole: {value}")
    return whole


class CustomerReportQueries(NamedQueries):
    async def report_purchase_sums(
        self, program_id: UUID, first: date, last: date, period: str, grouping: str
    ) -> list[PurchaseSumsRow]:
        rows = await self._fetch("report_purchase_sums", program_id, first, last, period, grouping)
        return [
            msgspec.convert(
                {**dict(row), **{name: exact(row[name]) for name in money_columns}},
                PurchaseSumsRow,
            )
            for row in rows
        ]

    async def report_customer_counts(
        self, program_id: UUID, spans: list[int], grains: list[str], periods: list[date]
    ) -> list[CustomerCounts]:
        rows = await self._fetch("report_customer_counts", program_id, spans, grains, periods)
        return [record_of(row, CustomerCounts) for row in rows]

    async def report_member_days(
        self, program_id: UUID, first: date, last: date
    ) -> list[MemberDayRow]:
        rows = await self._fetch("report_member_days", program_id, first, last)
        return [
            MemberDayRow(day=row["day"], joined=row["joined"], left=row["left_"]) for row in rows
        ]

    async def report_member_tiers(self, program_id: UUID, on: date) -> list[TierMembers]:
        rows = await self._fetch("report_member_tiers", program_id, on)
        return [record_of(row, TierMembers) for row in rows]

    async def report_tier_moves(self, program_id: UUID, first: date, last: date) -> list[TierMove]:
        rows = await self._fetch("report_tier_moves", program_id, first, last)
        return [record_of(row, TierMove) for row in rows]

    async def report_program_gauges(self, active_days: int) -> list[ProgramGauges]:
        rows = await self._fetch("report_program_gauges", active_days)
        return [record_of(row, ProgramGauges) for row in rows]

    async def rebuild_customer_reports(self, program_id: UUID | None) -> int:
        """Under the rebuild's lock, which the caller takes: the rows cleared and written
        again from every rolled-up operation."""
        await self._execute("lock_customer_reports")
        await self._execute("clear_customer_reports", program_id)
        row = await self._fetchrow("rebuild_customer_reports", program_id)
        return 0 if row is None else int(row["operations"])
