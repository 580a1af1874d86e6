"""The ledger's queries on the store's connection (named queries in ``sql/accounts.sql``,
``holds.sql``, ``operations.sql``, ``idempotency.sql``): idempotency keys, accounts and their
lots, holds and operations, as the locked path and the reads use them. Program accounts never
change, so their ids are cached per process. Mixed into ``PostgresStore``."""

import json
from typing import Any
from uuid import UUID

import asyncpg
import msgspec

from processing.adapters.postgres.named import NamedQueries
from processing.adapters.postgres.queries import QUERIES
from processing.adapters.postgres.rows import lot_row, operation_row, record_of
from processing.adapters.postgres.turns import (
    locked_account,
    lot_of,
    stored_answer,
)
from processing.core.model import Allocation, Hold, HoldStatus, Line
from processing.service.ports import LedgerWrite, LockedAccount
from processing.service.records import (
    ActiveHold,
    DocumentHold,
    HoldRecord,
    OperationRecord,
    StoredResponse,
)

# Program accounts never change: their ids, by program and kind, for this process.
_system_accounts: dict[tuple[UUID, str], UUID] = {}


class LedgerQueries(NamedQueries):
    async def claim_key(self, key_id: UUID, key: str) -> bool:
        return bool(await self.connection.fetchval(QUERIES["claim_idempotency_key"], key_id, key))

    async def find_key(self, key_id: UUID, key: str) -> tuple[bytes, StoredResponse] | None:
        row = await self._fetchrow("find_idempotency_key", key_id, key)
        return None if row is None else stored_answer(row)

    async def purge_keys(self, retention_seconds: int) -> int:
        status = await self._execute("purge_idempotency_keys", float(retention_seconds))
        return int(status.split()[-1])

    async def lock_account(
        self, account_id: UUID, program_id: UUID | None, *, skip_if_busy: bool = False
    ) -> LockedAccount | None:
        if skip_if_busy:
            row = await self._fetchrow("lock_account_unless_busy", account_id)
        else:
            row = await self._fetchrow("lock_account", account_id, program_id)
        return None if row is None else await self._with_lots(row)

    async def read_account(self, account_id: UUID, program_id: UUID | None) -> LockedAccount | None:
        row = await self._fetchrow("read_account", account_id, program_id)
        if row is None:
            return None
        return locked_account(row, tuple(lot_of(lot) for lot in row["lots"]))

    async def _with_lots(self, row: asyncpg.Record) -> LockedAccount:
        """The open lots, read by a statement of their own after the row lock was granted."""
        lots = tuple(lot_row(lot) for lot in await self._fetch("open_lots", row["id"]))
        return locked_account(row, lots)

    async def _system_account(self, program_id: UUID, kind: str) -> UUID:
        cached = _system_accounts.get((program_id, kind))
        if cached is None:
            cached = await self.connection.fetchval(QUERIES["system_account"], program_id, kind)
            if cached is None:
                raise LookupError(f"program {program_id} has no {kind} account")
            _system_accounts[(program_id, kind)] = cached
        return cached

    async def write(self, change: LedgerWrite) -> None:
        """Writes an operation with everything it changed (its new lot, changed lots, entries,
        the account's totals and its outbox events) in one statement, in the caller's
        transaction."""
        await self._execute("write_operation", *await self._write_arguments(change))

    async def _write_arguments(self, change: LedgerWrite) -> tuple[Any, ...]:
        """``write_operation``'s parameters, $1 to $36 (``apply_plan`` shares them)."""
        operation = change.operation
        document = operation.document
        new_lot = next((p.new_lot for p in change.postings if p.new_lot is not None), None)
        # A later leg may already have taken from the new lot: it is written as it ends up.
        new_lot_remaining = next(
            (lot.remaining for lot in change.after.lots if lot.id == change.new_lot_id), None
        )
        old = {lot.id: lot for lot in change.before.lots}
        changed = [
            lot
            for lot in change.after.lots
            if lot.id in old
            and (old[lot.id].remaining, old[lot.id].held) != (lot.remaining, lot.held)
        ]
        accounts, lots, points = await self._entries(change)
        return (
            operation.id,
            operation.program_id,
            operation.account_id,
            operation.type,
            operation.points,
            operation.hold_id,
            operation.refund_of,
            document.id if document else None,
            document.name if document else None,
            document.comment if document else None,
            operation.reason,
            operation.channel,
            operation.key_id,
            operation.store_id,
            operation.available_after,
            operation.created_at,
            change.new_lot_id if new_lot is not None else None,
            new_lot.points if new_lot is not None else None,
            new_lot.activates_at if new_lot is not None else None,
            new_lot.expires_at if new_lot is not None else None,
            [lot.id for lot in changed],
            [lot.remaining for lot in changed],
            [lot.held for lot in changed],
            accounts,
            lots,
            points,
            change.after.posted,
            change.after.reserved,
            list(change.event_types),
            json.dumps(change.event, default=str),
            operation.rules_version,
            operation.debt_delta,
            change.after.debt,
            new_lot_remaining,
            operation.redeemed_points,
            operation.returned_points,
        )

    async def _entries(
        self, change: LedgerWrite
    ) -> tuple[list[UUID], list[UUID | None], list[int]]:
        """The postings' entries as three columns: each leg's lot deltas (and new lot) against
        its counter account, leg by leg. A hold, a cancel or a purchase that earned nothing
        posts none."""
        operation = change.operation
        accounts: list[UUID] = []
        lots: list[UUID | None] = []
        points: list[int] = []
        for posting in change.postings:
            if not posting.lot_deltas and posting.new_lot is None:
                continue
            for delta in posting.lot_deltas:
                accounts.append(operation.account_id)
                lots.append(delta.lot_id)
                points.append(delta.points)
            if posting.new_lot is not None:
                accounts.append(operation.account_id)
                lots.append(change.new_lot_id)
                points.append(posting.new_lot.points)
            accounts.append(
                posting.counter_account_id
                or await self._system_account(operation.program_id, posting.counter_account)
            )
            lots.append(None)
            points.append(-posting.customer_delta)
        return accounts, lots, points

    async def lock_hold(
        self, hold_id: UUID, program_id: UUID | None, store_id: str | None
    ) -> Hold | None:
        row = await self._fetchrow("lock_hold", hold_id, program_id, store_id)
        if row is None:
            return None
        allocations = tuple(
            Allocation(lot_id=item["lot_id"], points=item["points"])
            for item in await self._fetch("hold_allocations", hold_id)
        )
        return Hold(
            id=row["id"],
            account_id=row["account_id"],
            points=row["points"],
            status=HoldStatus(row["status"]),
            expires_at=row["expires_at"],
            allocations=allocations,
            document_id=row["document_id"],
            receipt=None
            if row["receipt"] is None
            else msgspec.json.decode(row["receipt"], type=tuple[Line, ...]),
        )

    async def resolve_hold(
        self, hold_id: UUID, status: HoldStatus, committed: int | None, operation_id: UUID
    ) -> bool:
        result = await self._execute("resolve_hold", hold_id, status, committed, operation_id)
        return result == "UPDATE 1"

    async def get_hold(
        self, hold_id: UUID, program_id: UUID | None, store_id: str | None
    ) -> HoldRecord | None:
        row = await self._fetchrow("get_hold", hold_id, program_id, store_id)
        return None if row is None else record_of(row, HoldRecord)

    async def active_holds(
        self, customer_id: UUID, program_id: UUID | None, store_id: str | None, limit: int
    ) -> list[ActiveHold]:
        rows = await self._fetch("active_holds", customer_id, program_id, store_id, limit)
        return [record_of(row, ActiveHold) for row in rows]

    async def due_holds(self, limit: int, program_id: UUID | None) -> list[tuple[UUID, UUID]]:
        rows = await self._fetch("due_holds", limit, program_id)
        return [(row["id"], row["account_id"]) for row in rows]

    async def cheque_hold(
        self, program_id: UUID, store_id: str | None, document_id: str
    ) -> tuple[UUID, UUID] | None:
        row = await self._fetchrow("cheque_hold", program_id, store_id, document_id)
        return None if row is None else (row["id"], row["account_id"])

    async def document_holds(self, program_id: UUID, pattern: str) -> list[DocumentHold]:
        rows = await self._fetch("document_holds", program_id, pattern)
        return [record_of(row, DocumentHold) for row in rows]

    async def operation_account(
        self,
        operation_id: UUID,
        program_id: UUID | None,
        store_id: str | None,
        merchant_id: UUID | None = None,
    ) -> UUID | None:
        value = await self.connection.fetchval(
            QUERIES["operation_account"], operation_id, program_id, store_id, merchant_id
        )
        return value  # type: ignore[no-any-return]

    async def find_document(
        self, program_id: UUID, store_id: str | None, type_: str, document_id: str
    ) -> UUID | None:
        value = await self.connection.fetchval(
            QUERIES["find_document"], program_id, store_id, type_, document_id
        )
        return value  # type: ignore[no-any-return]

    async def get_operation(self, operation_id: UUID) -> OperationRecord | None:
        row = await self._fetchrow("get_operation", operation_id)
        return None if row is None else operation_row(row)

    async def statement(
        self, accounts: tuple[UUID, ...], before_seq: int, limit: int
    ) -> list[OperationRecord]:
        if len(accounts) == 1:  # the index reads one account's operations in order
            rows = await self._fetch("statement", accounts[0], before_seq, limit)
        else:
            rows = await self._fetch("merged_statement", list(accounts), before_seq, limit)
        return [operation_row(row) for row in rows]

    async def accounts_with_expired_lots(self, limit: int, program_id: UUID | None) -> list[UUID]:
        rows = await self._fetch("accounts_with_expired_lots", limit, program_id)
        return [row["account_id"] for row in rows]
