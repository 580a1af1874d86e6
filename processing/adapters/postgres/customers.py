"""Customers, their cards and blocks (named queries in ``sql/customers.sql``). Mixed into
``PostgresStore``."""

import json
from typing import Any
from uuid import UUID

import asyncpg
import msgspec

from processing.adapters.postgres.named import NamedQueries
from processing.adapters.postgres.queries import QUERIES
from processing.adapters.postgres.rows import record_of
from processing.service.records import CardEventRecord, CustomerRecord


class CustomerQueries(NamedQueries):
    async def insert_customer(
        self,
        customer_id: UUID,
        program_id: UUID,
        phone: str,
        name: str | None,
        birthday: Any,
        attributes: dict[str, Any],
    ) -> bool:
        inserted = await self.connection.fetchval(
            QUERIES["insert_customer"],
            customer_id,
            program_id,
            phone,
            name,
            birthday,
            json.dumps(attributes),
        )
        if inserted is None:
            return False
        await self._execute("insert_customer_account", customer_id, program_id)
        return True

    async def find_customer_by_phone(self, program_id: UUID, phone: str) -> UUID | None:
        value = await self.connection.fetchval(QUERIES["find_customer_by_phone"], program_id, phone)
        return value  # type: ignore[no-any-return]

    async def get_customer(self, customer_id: UUID, scope: UUID | None) -> CustomerRecord | None:
        row = await self._fetchrow("get_customer", customer_id, scope)
        if row is None:
            return None
        fields = dict(row)
        fields["attributes"] = json.loads(fields["attributes"])
        fields["cards"] = json.loads(fields["cards"])
        fields["blocked"] = fields["blocked_reason"] is not None
        return msgspec.convert(fields, CustomerRecord)

    async def customer_program(self, customer_id: UUID, scope: UUID | None) -> UUID | None:
        value = await self.connection.fetchval(QUERIES["customer_exists"], customer_id, scope)
        return value  # type: ignore[no-any-return]

    async def insert_card(self, program_id: UUID, number: str, customer_id: UUID) -> bool:
        inserted = await self.connection.fetchval(
            QUERIES["insert_card"], program_id, number, customer_id
        )
        return inserted is not None

    async def lock_card(self, program_id: UUID, number: str) -> asyncpg.Record | None:
        return await self._fetchrow("lock_card", number, program_id)

    async def find_card(self, program_id: UUID, number: str) -> asyncpg.Record | None:
        return await self._fetchrow("find_card", program_id, number)

    async def set_card_status(
        self, program_id: UUID, number: str, status: str, reason: str | None, key_id: UUID | None
    ) -> None:
        await self._execute("set_card_status", program_id, number, status, reason)
        await self._execute("insert_card_event", program_id, number, status, reason, key_id)

    async def card_journal(self, program_id: UUID, number: str) -> list[CardEventRecord]:
        rows = await self._fetch("card_journal", program_id, number)
        return [record_of(row, CardEventRecord) for row in rows]

    async def set_account_block(self, account_id: UUID, reason: str | None) -> None:
        await self._execute("set_account_block", account_id, reason)
