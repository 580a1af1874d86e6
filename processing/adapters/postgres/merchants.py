"""Merchants, their stores, settlement statements and the liability by merchant
(``sql/merchants.sql``, ``sql/settlement.sql``; decision 0026). Mixed into ``PostgresStore``."""

from datetime import date, datetime
from typing import Any
from uuid import UUID

import msgspec

from processing.adapters.postgres.named import NamedQueries
from processing.core.rules import Rules
from processing.core.settlement import PartyTotal, SettlementLine
from processing.service.ports import (
    Answer,
    MerchantFacts,
    SettlementFacts,
    StoreFacts,
    UnvaluedLine,
)
from processing.service.records import (
    MerchantRecord,
    MerchantStoreRecord,
    Position,
    SettlementLineRecord,
    SettlementRecord,
)

_store_taken = frozenset({"merchant_stores_open"})


def _settlement(row: Any) -> SettlementRecord:
    values = dict(row)
    values["totals"] = msgspec.json.decode(row["totals"], type=list[PartyTotal])
    return SettlementRecord(**values)


class MerchantQueries(NamedQueries):
    async def merchant_facts(self, program_id: UUID, scope: UUID | None) -> MerchantFacts | None:
        row = await self._fetchrow("merchant_facts", program_id, scope)
        return None if row is None else MerchantFacts(**dict(row))

    async def insert_merchant(self, merchant: MerchantRecord, key_id: UUID, answer: Answer) -> bool:
        row = await self._answered(
            "insert_merchant",
            answer,
            merchant.id,
            merchant.program_id,
            merchant.name,
            merchant.legal_name,
            merchant.tax_id,
            key_id,
            merchant.created_at,
        )
        return row is not None

    async def get_merchant(self, merchant_id: UUID, scope: UUID | None) -> MerchantRecord | None:
        row = await self._fetchrow("get_merchant", merchant_id, scope)
        return None if row is None else MerchantRecord(**dict(row))

    async def list_merchants(
        self, program_id: UUID, after: Position, limit: int
    ) -> list[MerchantRecord]:
        rows = await self._fetch("list_merchants", program_id, after.at, after.id, limit)
        return [MerchantRecord(**dict(row)) for row in rows]

    async def program_merchants(self, program_id: UUID) -> dict[UUID, str]:
        rows = await self._fetch("program_merchants", program_id)
        return {row["id"]: row["name"] for row in rows}

    async def store_facts(
        self, merchant_id: UUID, scope: UUID | None, store_id: str
    ) -> StoreFacts | None:
        row = await self._fetchrow("store_facts", merchant_id, scope, store_id)
        return None if row is None else StoreFacts(**dict(row))

    async def assign_store(
        self, assignment: MerchantStoreRecord, key_id: UUID, answer: Answer
    ) -> bool:
        row = await self._answered(
            "assign_store",
            answer,
            assignment.id,
            assignment.merchant_id,
            assignment.program_id,
            assignment.store_id,
            assignment.assigned_at,
            key_id,
            races=_store_taken,
        )
        return row is not None

    async def unassign_store(
        self, assignment_id: UUID, at: datetime, key_id: UUID, answer: Answer
    ) -> bool:
        row = await self._answered("unassign_store", answer, assignment_id, at, key_id)
        return row is not None

    async def merchant_stores(
        self, merchant_id: UUID, after: Position, limit: int
    ) -> list[MerchantStoreRecord]:
        rows = await self._fetch("merchant_stores", merchant_id, after.at, after.id, limit)
        return [MerchantStoreRecord(**dict(row)) for row in rows]

    async def lock_settlements(self, program_id: UUID) -> None:
        await self._execute("lock_settlements", program_id)

    async def settlement_facts(
        self, program_id: UUID, scope: UUID | None, start: date, end: date
    ) -> SettlementFacts | None:
        row = await self._fetchrow("settlement_facts", program_id, scope, start, end)
        return None if row is None else SettlementFacts(**dict(row))

    async def settlement_lines(
        self, program_id: UUID, starts_at: datetime, ends_at: datetime, limit: int
    ) -> list[UnvaluedLine]:
        rows = await self._fetch("settlement_lines", program_id, starts_at, ends_at, limit)
        return [UnvaluedLine(**dict(row)) for row in rows]

    async def rules_of_versions(self, program_id: UUID, versions: list[int]) -> dict[int, Rules]:
        rows = await self._fetch("rules_of_versions", program_id, versions)
        return {row["version"]: msgspec.json.decode(row["rules"], type=Rules) for row in rows}

    async def insert_settlement(
        self, statement: SettlementRecord, lines: list[SettlementLine], answer: Answer
    ) -> bool:
        totals = statement.totals
        row = await self._answered(
            "insert_settlement",
            answer,
            statement.id,
            statement.program_id,
            statement.period_from,
            statement.period_to,
            statement.time_zone,
            statement.starts_at,
            statement.ends_at,
            statement.currency,
            statement.lines,
            statement.key_id,
            statement.created_at,
            list(range(len(totals))),
            [total.merchant_id for total in totals],
            [total.merchant_name for total in totals],
            [total.receivable_points for total in totals],
            [total.payable_points for total in totals],
            [total.receivable_minor for total in totals],
            [total.payable_minor for total in totals],
            [total.net_minor for total in totals],
            list(range(len(lines))),
            [line.operation_id for line in lines],
            [line.operation_type for line in lines],
            [line.refund_of for line in lines],
            [line.created_at for line in lines],
            [line.store_id for line in lines],
            [line.merchant_id for line in lines],
            [line.earning_store_id for line in lines],
            [line.earning_merchant_id for line in lines],
            [line.points for line in lines],
            [line.point_value_minor for line in lines],
            [line.money_minor for line in lines],
        )
        return row is not None

    async def get_settlement(
        self, statement_id: UUID, scope: UUID | None
    ) -> SettlementRecord | None:
        row = await self._fetchrow("get_settlement", statement_id, scope)
        return None if row is None else _settlement(row)

    async def list_settlements(
        self, program_id: UUID, after: Position, limit: int
    ) -> list[SettlementRecord]:
        rows = await self._fetch("list_settlements", program_id, after.at, after.id, limit)
        return [_settlement(row) for row in rows]

    async def settlement_line_page(
        self, statement_id: UUID, after: int, limit: int, merchant_id: UUID | None
    ) -> list[SettlementLineRecord]:
        rows = await self._fetch("settlement_line_page", statement_id, after, limit, merchant_id)
        return [SettlementLineRecord(**dict(row)) for row in rows]

    async def merchant_operations(self, operation_ids: list[UUID], merchant_id: UUID) -> set[UUID]:
        rows = await self._fetch("merchant_operations", operation_ids, merchant_id)
        return {row["id"] for row in rows}

    async def liability_points(self, program_id: UUID) -> dict[UUID | None, int]:
        rows = await self._fetch("liability_points", program_id)
        return {row["merchant_id"]: int(row["points"]) for row in rows}


__all__ = ["MerchantQueries"]
