"""Report rollups (``sql/reports.sql``, decision 0025): read by period and day, rebuilt from
the ledger. Mixed into ``PostgresStore``."""

from datetime import date
from uuid import UUID

from processing.adapters.postgres.named import NamedQueries
from processing.adapters.postgres.rows import record_of
from processing.core import limits
from processing.service.records import LiabilityRow, ReportClock, ReportPointsRow


class ReportQueries(NamedQueries):
    async def report_points(
        self, program_id: UUID, first: date, last: date, period: str, grouping: str
    ) -> list[ReportPointsRow]:
        rows = await self._fetch("report_points", program_id, first, last, period, grouping)
        return [record_of(row, ReportPointsRow) for row in rows]

    async def report_liability(self, program_id: UUID, on: date) -> list[LiabilityRow]:
        rows = await self._fetch("report_liability", program_id, on)
        return [record_of(row, LiabilityRow) for row in rows]

    async def report_clock(self, program_id: UUID, scope: UUID | None) -> ReportClock | None:
        row = await self._fetchrow("report_clock", program_id, scope)
        return None if row is None else record_of(row, ReportClock)

    async def rebuild_reports(self, program_id: UUID | None) -> tuple[int, int]:
        await self._fetch("allow_ledger_pass", f"{limits.ledger_pass_statement_seconds_max}s")
        await self._execute("lock_report_rollups")
        await self._execute("clear_report_rollups", program_id)
        points = await self._execute("rebuild_report_points", program_id)
        liability = await self._execute("rebuild_report_liability", program_id)
        return _inserted(points), _inserted(liability)

    async def analyze_reports(self) -> None:
        await self._execute("analyze_report_rollups")


def _inserted(status: str) -> int:
    """The row count of an ``INSERT 0 n`` command status."""
    return int(status.rsplit(" ", 1)[-1])
