"""Reads: balance, statement, one hold, one operation. No locks, no writes."""

import base64
import binascii
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TypeVar
from uuid import UUID

import msgspec

from processing.core import limits
from processing.core.balances import balance_of
from processing.core.rejections import Rejection
from processing.service.ports import Database
from processing.service.records import (
    Accepted,
    Actor,
    OperationRecord,
    Outcome,
    StatementPage,
    refuse,
)

_no_cursor = 2**63 - 1
T = TypeVar("T")


def encode_cursor(seq: int) -> str:
    return base64.urlsafe_b64encode(f"seq:{seq}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int | None:
    """The statement cursor is opaque to clients; None here means it was not one of ours."""
    if cursor is None:
        return _no_cursor
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        kind, _, value = text.partition(":")
        seq = int(value)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    return seq if kind == "seq" and 0 < seq < _no_cursor else None


def as_seen_by(
    actor: Actor, item: OperationRecord, merchant_operations: set[UUID] | None = None
) -> OperationRecord:
    """A statement line as the caller may see it. A store's till sees another store's
    operations only as far as a statement needs (what moved, when, where, and the balance
    after): not the hold, the key, the operation refunded, the document or the reason, which
    would name another store's cheques and tills. A merchant's key sees so the operations of
    stores that were not its merchant's when they were made (``merchant_operations`` are the
    page's that were, decision 0026). Operations of no store (bonuses, expiry, an operator's
    adjustment, a web shop's or a CRM's) are the program's, and shown whole."""
    own_store = actor.store_id is None or item.store_id in (None, actor.store_id)
    own_merchant = (
        actor.merchant_id is None
        or item.store_id is None
        or item.id in (merchant_operations or set())
    )
    if own_store and own_merchant:
        return item
    return msgspec.structs.replace(
        item, hold_id=None, key_id=None, refund_of=None, document=None, reason=None
    )


def page_of(items: list[T], size: int, position: Callable[[T], int]) -> tuple[list[T], str | None]:
    """One page of ``items`` (read one past ``size``, to know whether more follow), and the
    cursor of the next page: the position of the page's last item."""
    page = items[:size]
    more = len(items) > size and bool(page)
    return page, encode_cursor(position(page[-1])) if more else None


class Reads:
    def __init__(self, database: Database) -> None:
        self.database = database

    async def balance(self, actor: Actor, customer_id: UUID) -> Outcome:
        async with self.database.reader() as store:
            locked = await store.read_account(customer_id, actor.program_id)
        if locked is None:
            return refuse(Rejection.not_found, "No customer with this id.")
        return Accepted(value=balance_of(locked.account, locked.now))

    async def lots(self, actor: Actor, customer_id: UUID) -> Outcome:
        """The customer's open lots: points not yet spent nor expired, pending ones too, in the
        order they are spent (the soonest to expire first)."""
        async with self.database.reader() as store:
            locked = await store.read_account(customer_id, actor.program_id)
        if locked is None:
            return refuse(Rejection.not_found, "No customer with this id.")
        now = locked.now
        open_lots = [
            lot for lot in locked.account.lots if lot.remaining > 0 and not lot.is_expired(now)
        ]
        never = datetime.max.replace(tzinfo=UTC)
        open_lots.sort(key=lambda lot: (lot.expires_at or never, lot.activates_at))
        return Accepted(value=open_lots)

    async def statement(
        self, actor: Actor, customer_id: UUID, limit: int, cursor: str | None
    ) -> Outcome:
        before = decode_cursor(cursor)
        if before is None:
            return refuse(Rejection.validation_error, "cursor is not valid.", field="cursor")
        async with self.database.reader() as store:
            accounts = await store.customer_accounts(customer_id, actor.program_id)
            if accounts is None:
                return refuse(Rejection.not_found, "No customer with this id.")
            size = min(limit, limits.page_size_max)
            # A customer others were merged into: their operations are this one's history too.
            items = await store.statement(accounts, before, size + 1)
            page, next_cursor = page_of(items, size, lambda item: item.seq)
            own: set[UUID] = set()
            if actor.merchant_id is not None:
                made = [item.id for item in page if item.store_id is not None]
                own = await store.merchant_operations(made, actor.merchant_id)
        shown = [as_seen_by(actor, item, own) for item in page]
        return Accepted(value=StatementPage(items=shown, next_cursor=next_cursor))

    async def active_holds(self, actor: Actor, customer_id: UUID) -> Outcome:
        """The customer's active holds, newest first, at most ``limits.active_holds_max``; a
        store's till sees only its own store's, as it sees one hold by id."""
        async with self.database.reader() as store:
            accounts = await store.customer_accounts(customer_id, actor.program_id)
            if accounts is None:
                return refuse(Rejection.not_found, "No customer with this id.")
            holds = await store.active_holds(
                accounts[0], actor.program_id, actor.store_id, limits.active_holds_max
            )
        return Accepted(value=holds)

    async def hold(self, actor: Actor, hold_id: UUID) -> Outcome:
        async with self.database.reader() as store:
            hold = await store.get_hold(hold_id, actor.program_id, actor.store_id)
        if hold is None:
            return refuse(Rejection.hold_not_found, "No hold with this id.")
        return Accepted(value=hold)

    async def operation(self, actor: Actor, operation_id: UUID) -> Outcome:
        async with self.database.reader() as store:
            account_id = await store.operation_account(
                operation_id, actor.program_id, actor.store_id, actor.merchant_id
            )
            found = await store.get_operation(operation_id) if account_id else None
        if found is None:
            return refuse(Rejection.not_found, "No operation with this id.")
        return Accepted(value=found)
