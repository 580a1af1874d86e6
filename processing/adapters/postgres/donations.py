"""Charities and what they received (``sql/donations.sql``, decision 0034). A donation itself is
a ledger operation written by the plan writer; this is the admin's side and the reports.
Mixed into ``PostgresStore``."""

from datetime import datetime
from uuid import UUID

from processing.adapters.postgres.named import NamedQueries
from processing.service.ports import Answer
from processing.service.records import CharityRecord, CharityTotals, Position


class DonationQueries(NamedQueries):
    async def insert_charity(self, charity: CharityRecord, key_id: UUID, answer: Answer) -> bool:
        row = await self._answered(
            "insert_charity",
            answer,
            charity.id,
            charity.program_id,
            charity.name,
            charity.details,
            key_id,
            charity.created_at,
        )
        return row is not None

    async def get_charity(self, charity_id: UUID, program_id: UUID | None) -> CharityRecord | None:
        row = await self._fetchrow("get_charity", charity_id, program_id)
        return None if row is None else CharityRecord(**dict(row.items()))

    async def list_charities(
        self, program_id: UUID, after: Position, limit: int
    ) -> list[CharityRecord]:
        rows = await self._fetch("list_charities", program_id, after.at, after.id, limit)
        return [CharityRecord(**dict(row.items())) for row in rows]

    async def charity_totals(
        self, charity_id: UUID, starts: datetime, ends: datetime
    ) -> CharityTotals:
        rows = await self._fetch("charity_report", charity_id, starts, ends)
        row = rows[0]  # an aggregate answers one row
        return CharityTotals(points=row["points"], donors=row["donors"], donations=row["donations"])
