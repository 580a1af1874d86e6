"""The Postgres store: named queries on one connection, rows turned into core values.

Every method runs on the connection it was built with; the service decides where transactions
begin and end. Program accounts never change, so their ids are cached per process.
"""

import json
from datetime import datetime
from typing import Any, TypeAlias, TypeVar
from uuid import UUID

import asyncpg
import msgspec
from asyncpg.pool import PoolConnectionProxy

from processing.adapters.postgres.channels import ChannelQueries
from processing.adapters.postgres.queries import QUERIES
from processing.adapters.postgres.sms import SmsQueries
from processing.adapters.postgres.turns import (
    TurnQueries,
    locked_account,
    lot_of,
    purchase_arguments,
    rules_record,
)
from processing.adapters.sealing import Keyring, sealed
from processing.core.checkout import Calculation
from processing.core.model import Allocation, Hold, HoldStatus, Line, Lot
from processing.core.rules import Rules
from processing.service.ports import LedgerWrite, LockedAccount, PurchaseChange
from processing.service.records import (
    ApiKeyRecord,
    CardEventRecord,
    CustomerRecord,
    DeliveryRecord,
    Document,
    DocumentHold,
    HoldRecord,
    LeasedDelivery,
    OperationRecord,
    ProgramRecord,
    ProgramSettings,
    RulesRecord,
    StoredResponse,
    WebhookRecord,
)

T = TypeVar("T")

_system_accounts: dict[tuple[UUID, str], UUID] = {}


def _rules_record(row: asyncpg.Record) -> RulesRecord:
    """A rules row; one that has its rules (a stored version) needs no program's expiry_days."""
    return rules_record(
        row["program_id"], row["version"], row["rules"], row["created_at"], row.get("expiry_days")
    )


def _record(row: asyncpg.Record | None, kind: type[T]) -> T:
    if row is None:
        raise LookupError(f"expected a {kind.__name__} row, the query returned none")
    return msgspec.convert(dict(row), kind, from_attributes=False)


def _lot(row: asyncpg.Record) -> Lot:
    return Lot(
        id=row["id"],
        points=row["points"],
        remaining=row["remaining"],
        held=row["held"],
        activates_at=row["activates_at"],
        expires_at=row["expires_at"],
    )


def _operation_record(row: asyncpg.Record) -> OperationRecord:
    document = None
    if row["document_id"] is not None:
        document = Document(
            id=row["document_id"], name=row["document_name"], comment=row["document_comment"]
        )
    fields = {key: value for key, value in row.items() if not key.startswith("document_")}
    fields.pop("program_id", None)
    return msgspec.convert({**fields, "document": document}, OperationRecord)


# A connection of its own (tests, the migration runner) or one lent by the pool.
Connection: TypeAlias = "asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]"


class PostgresStore(ChannelQueries, SmsQueries, TurnQueries):
    def __init__(self, connection: Connection, keyring: Keyring) -> None:
        self.connection = connection
        self.keyring = keyring  # seals secrets on the way in, opens them on the way out

    async def _fetchrow(self, name: str, *args: Any) -> asyncpg.Record | None:
        return await self.connection.fetchrow(QUERIES[name], *args)

    async def _fetch(self, name: str, *args: Any) -> list[asyncpg.Record]:
        return await self.connection.fetch(QUERIES[name], *args)

    async def _execute(self, name: str, *args: Any) -> str:
        return await self.connection.execute(QUERIES[name], *args)

    # Idempotency

    async def claim_key(self, key_id: UUID, key: str) -> bool:
        return bool(await self.connection.fetchval(QUERIES["claim_idempotency_key"], key_id, key))

    async def find_key(self, key_id: UUID, key: str) -> tuple[bytes, StoredResponse] | None:
        row = await self._fetchrow("find_idempotency_key", key_id, key)
        if row is None:
            return None
        stored = StoredResponse(
            status_code=row["status_code"], media_type=row["media_type"], body=row["body"]
        )
        return row["fingerprint"], stored

    async def save_key(
        self, key_id: UUID, key: str, fingerprint: bytes, response: StoredResponse
    ) -> None:
        await self._execute(
            "insert_idempotency_key",
            key_id,
            key,
            fingerprint,
            response.status_code,
            response.media_type,
            response.body if response.kept_body is None else response.kept_body,
        )

    async def purge_keys(self, retention_seconds: int) -> int:
        status = await self._execute("purge_idempotency_keys", float(retention_seconds))
        return int(status.split()[-1])

    # Accounts and lots

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
        lots = tuple(_lot(lot) for lot in await self._fetch("open_lots", row["id"]))
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
                await self._system_account(operation.program_id, posting.counter_account)
            )
            lots.append(None)
            points.append(-posting.customer_delta)
        return accounts, lots, points

    # Holds

    async def hold_account(
        self, hold_id: UUID, program_id: UUID | None, store_id: str | None
    ) -> UUID | None:
        value = await self.connection.fetchval(
            QUERIES["hold_account"], hold_id, program_id, store_id
        )
        return value  # type: ignore[no-any-return]

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

    async def insert_hold(
        self,
        hold: Hold,
        program_id: UUID,
        operation_id: UUID,
        store_id: str | None,
        document_id: str,
        created_at: datetime,
    ) -> None:
        await self._execute(
            "insert_hold",
            hold.id,
            program_id,
            hold.account_id,
            operation_id,
            hold.points,
            hold.expires_at,
            store_id,
            document_id,
            created_at,
            [item.lot_id for item in hold.allocations],
            [item.points for item in hold.allocations],
            None if hold.receipt is None else msgspec.json.encode(hold.receipt).decode(),
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
        return None if row is None else _record(row, HoldRecord)

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
        return [_record(row, DocumentHold) for row in rows]

    async def find_open_hold(
        self, program_id: UUID, store_id: str | None, document_id: str
    ) -> UUID | None:
        value = await self.connection.fetchval(
            QUERIES["find_open_hold"], program_id, store_id, document_id
        )
        return value  # type: ignore[no-any-return]

    # Operations

    async def operation_account(
        self, operation_id: UUID, program_id: UUID | None, store_id: str | None
    ) -> UUID | None:
        value = await self.connection.fetchval(
            QUERIES["operation_account"], operation_id, program_id, store_id
        )
        return value  # type: ignore[no-any-return]

    async def add_event(
        self, program_id: UUID, operation_id: UUID | None, type_: str, payload: dict[str, Any]
    ) -> None:
        await self._execute(
            "insert_event", program_id, operation_id, type_, json.dumps(payload, default=str)
        )

    async def find_document(
        self, program_id: UUID, store_id: str | None, type_: str, document_id: str
    ) -> UUID | None:
        value = await self.connection.fetchval(
            QUERIES["find_document"], program_id, store_id, type_, document_id
        )
        return value  # type: ignore[no-any-return]

    async def charge_key_points(
        self, key_id: UUID, at: datetime, points: int, per_day_max: int
    ) -> bool:
        row = await self._fetchrow("charge_key_points", key_id, at, points, per_day_max)
        return row is not None

    async def get_operation(self, operation_id: UUID) -> OperationRecord | None:
        row = await self._fetchrow("get_operation", operation_id)
        return None if row is None else _operation_record(row)

    async def statement(
        self, account_id: UUID, before_seq: int, limit: int
    ) -> list[OperationRecord]:
        rows = await self._fetch("statement", account_id, before_seq, limit)
        return [_operation_record(row) for row in rows]

    async def accounts_with_expired_lots(self, limit: int, program_id: UUID | None) -> list[UUID]:
        rows = await self._fetch("accounts_with_expired_lots", limit, program_id)
        return [row["account_id"] for row in rows]

    # Programs, keys, customers and cards

    async def insert_program(self, program_id: UUID, program: ProgramSettings) -> ProgramRecord:
        row = await self._fetchrow(
            "insert_program",
            program_id,
            program.name,
            program.currency,
            program.country,
            program.hold_ttl_seconds_default,
            program.hold_ttl_seconds_max,
            program.expiry_days,
            program.key_points_per_call_max,
            program.key_points_per_day_max,
        )
        return _record(row, ProgramRecord)

    async def get_program(self, program_id: UUID, scope: UUID | None) -> ProgramRecord | None:
        row = await self._fetchrow("get_program", program_id, scope)
        return None if row is None else _record(row, ProgramRecord)

    async def lock_program(self, program_id: UUID, scope: UUID | None) -> bool:
        return await self._fetchrow("lock_program", program_id, scope) is not None

    async def insert_rules(self, program_id: UUID, rules: Rules, key_id: UUID) -> RulesRecord:
        row = await self._fetchrow(
            "insert_rules", program_id, msgspec.json.encode(rules).decode(), key_id
        )
        if row is None:  # an insert from an aggregate always returns its one row
            raise RuntimeError("insert_rules returned no row")
        return _rules_record(row)

    async def current_rules(self, program_id: UUID) -> RulesRecord | None:
        row = await self._fetchrow("current_rules", program_id)
        return None if row is None else _rules_record(row)

    async def set_referrer(self, customer_id: UUID, referrer_id: UUID) -> bool:
        return await self._fetchrow("set_referrer", customer_id, referrer_id) is not None

    async def referral_due(self, customer_id: UUID) -> UUID | None:
        value = await self.connection.fetchval(QUERIES["referral_due"], customer_id)
        return value  # type: ignore[no-any-return]

    async def bonus_granted(self, account_id: UUID, kind: str, period: str) -> bool:
        return await self._fetchrow("bonus_granted", account_id, kind, period) is not None

    async def insert_bonus_grant(
        self, account_id: UUID, kind: str, period: str, operation_id: UUID
    ) -> bool:
        row = await self._fetchrow("insert_bonus_grant", account_id, kind, period, operation_id)
        return row is not None

    async def tier_inputs(self, account_id: UUID, since: datetime) -> tuple[int, str | None]:
        row = await self._fetchrow("tier_inputs", account_id, since)
        if row is None:  # a select of two scalar subqueries always returns its row
            raise RuntimeError("tier_inputs returned no row")
        return int(row["spend"]), row["tier_floor"]

    async def set_tier_floor(self, customer_id: UUID, tier: str | None, scope: UUID | None) -> bool:
        return await self._fetchrow("set_tier_floor", customer_id, tier, scope) is not None

    async def insert_purchase(
        self,
        operation_id: UUID,
        locked: LockedAccount,
        priced: Calculation,
        fiscal: dict[str, Any] | None = None,
    ) -> None:
        amount, money, tier, lines, fiscal_data = purchase_arguments(
            PurchaseChange(priced=priced, fiscal=fiscal)
        )
        await self._execute(
            "insert_purchase",
            *(operation_id, locked.program_id, locked.account.id, amount, money, tier, lines),
            *(locked.now, fiscal_data),
        )

    async def find_program_by_name(self, name: str) -> ProgramRecord | None:
        row = await self._fetchrow("find_program_by_name", name)
        return None if row is None else _record(row, ProgramRecord)

    async def insert_api_key(
        self,
        key_id: UUID,
        program_id: UUID | None,
        name: str,
        scopes: list[str],
        store_id: str | None,
        secret_sha256: bytes,
        created_by: UUID | None = None,
        expires_at: datetime | None = None,
    ) -> ApiKeyRecord:
        row = await self._fetchrow(
            "insert_api_key",
            key_id,
            program_id,
            name,
            scopes,
            store_id,
            secret_sha256,
            created_by,
            expires_at,
        )
        return _record(row, ApiKeyRecord)

    async def rotate_api_key(
        self, key_id: UUID, scope: UUID | None, secret_sha256: bytes, grace_seconds: int
    ) -> ApiKeyRecord | None:
        row = await self._fetchrow(
            "rotate_api_key", key_id, scope, secret_sha256, float(grace_seconds)
        )
        return None if row is None else _record(row, ApiKeyRecord)

    async def revoke_minted_keys(self, key_id: UUID) -> list[UUID]:
        return [row["id"] for row in await self._fetch("revoke_minted_keys", key_id)]

    async def ensure_operator_key(self, key_id: UUID, name: str, secret_sha256: bytes) -> UUID:
        value = await self.connection.fetchval(
            QUERIES["ensure_api_key"], key_id, name, secret_sha256
        )
        return value  # type: ignore[no-any-return]

    async def authenticate(self, secret_sha256: bytes) -> asyncpg.Record | None:
        return await self._fetchrow("authenticate", secret_sha256)

    async def revoke_api_key(self, key_id: UUID, scope: UUID | None) -> ApiKeyRecord | None:
        row = await self._fetchrow("revoke_api_key", key_id, scope)
        return None if row is None else _record(row, ApiKeyRecord)

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
        return [_record(row, CardEventRecord) for row in rows]

    async def set_account_block(self, account_id: UUID, reason: str | None) -> None:
        await self._execute("set_account_block", account_id, reason)

    async def fetch_named(self, name: str, *args: Any) -> list[asyncpg.Record]:
        return await self._fetch(name, *args)

    # Webhooks

    async def insert_webhook(
        self, webhook_id: UUID, program_id: UUID, url: str, secret: str, event_types: list[str]
    ) -> WebhookRecord:
        sealed = self.keyring.seal(secret, f"webhook:{webhook_id}")
        row = await self._fetchrow(
            "insert_webhook", webhook_id, program_id, url, sealed, event_types
        )
        return _record(row, WebhookRecord)

    async def list_webhooks(self, program_id: UUID) -> list[WebhookRecord]:
        return [
            _record(row, WebhookRecord) for row in await self._fetch("list_webhooks", program_id)
        ]

    async def disable_webhook(self, webhook_id: UUID, scope: UUID | None) -> WebhookRecord | None:
        row = await self._fetchrow("disable_webhook", webhook_id, scope)
        return None if row is None else _record(row, WebhookRecord)

    async def webhook_program(self, webhook_id: UUID, scope: UUID | None) -> UUID | None:
        value = await self.connection.fetchval(QUERIES["webhook_program"], webhook_id, scope)
        return value  # type: ignore[no-any-return]

    async def seal_secrets(self, rotate: bool) -> dict[str, int]:
        """Seals every secret still in clear; with ``rotate``, also re-seals every one sealed
        under an older key with the current one. Returns how many of each it wrote."""
        webhooks = connections = 0
        for row in await self._fetch("webhook_secrets_for_sealing"):
            stored, context = row["secret"], f"webhook:{row['id']}"
            if sealed(stored) and (self.keyring.current(stored) or not rotate):
                continue
            clear = self.keyring.open(stored, context) if sealed(stored) else stored
            await self._execute("seal_webhook_secret", row["id"], self.keyring.seal(clear, context))
            webhooks += 1
        for row in await self._fetch("connection_secrets_for_sealing"):
            stored, context = row["secrets_sealed"], f"connection:{row['id']}"
            if stored is not None and (self.keyring.current(stored) or not rotate):
                continue
            clear = row["secrets"] if stored is None else self.keyring.open(stored, context)
            await self._execute(
                "seal_connection_secrets", row["id"], self.keyring.seal(clear, context)
            )
            connections += 1
        return {"webhook_secrets": webhooks, "connection_secrets": connections}

    async def count_active_webhooks(self, program_id: UUID) -> int:
        await self.connection.execute(QUERIES["lock_program_for_webhooks"], program_id)
        value = await self.connection.fetchval(QUERIES["count_active_webhooks"], program_id)
        return int(value)

    async def webhook_deliveries(
        self, webhook_id: UUID, before_id: int, status: str | None, limit: int
    ) -> list[DeliveryRecord]:
        rows = await self._fetch("webhook_deliveries", webhook_id, before_id, status, limit)
        return [_record(row, DeliveryRecord) for row in rows]

    async def redeliver_webhook(self, delivery_id: int, scope: UUID | None) -> bool:
        return await self._fetchrow("redeliver_webhook", delivery_id, scope) is not None

    async def fan_out(self, limit: int) -> tuple[int, int]:
        rows = await self._fetch("fan_out", limit)
        return len(rows), int(rows[0]["deliveries"]) if rows else 0

    async def lease_deliveries(self, limit: int, lease_seconds: float) -> list[LeasedDelivery]:
        rows = await self._fetch("lease_deliveries", limit, lease_seconds)
        return [
            _record(row, LeasedDelivery)
            if not sealed(row["secret"])  # a row from before sealing, sealed at the next start
            else msgspec.structs.replace(
                _record(row, LeasedDelivery),
                secret=self.keyring.open(row["secret"], f"webhook:{row['subscription_id']}"),
            )
            for row in rows
        ]

    async def relay_backlog(self) -> dict[str, int]:
        row = await self._fetchrow("relay_backlog")
        return {} if row is None else {name: int(value) for name, value in row.items()}

    async def delivery_succeeded(self, delivery_id: int, status_code: int) -> None:
        await self._execute("delivery_succeeded", delivery_id, status_code)

    async def delivery_failed(
        self,
        delivery_id: int,
        delay_seconds: float,
        max_attempts: int,
        status_code: int | None,
        error: str,
    ) -> str | None:
        row = await self._fetchrow(
            "delivery_failed", delivery_id, delay_seconds, max_attempts, status_code, error
        )
        return None if row is None else str(row["status"])
