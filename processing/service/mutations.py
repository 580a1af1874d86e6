"""One path for every mutating request: idempotency, then the account's lock, then one database
transaction that reads, decides, writes and stores the answer under the idempotency key.

Same key and same body: the stored answer, byte for byte, rejections included. Same key and
another body: ``idempotency_key_reused``. Same key while the first is in flight:
``idempotency_request_in_progress``. Neither of these two is stored.
"""

import asyncio
import hashlib
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager, nullcontext
from uuid import UUID

import msgspec

from processing import telemetry
from processing.core.model import Hold, Operation
from processing.core.rejections import Rejection
from processing.service.ports import (
    AccountLocks,
    Database,
    DatabaseUnavailable,
    LockedAccount,
    RetryTransaction,
    Store,
)
from processing.service.records import (
    Accepted,
    Actor,
    Outcome,
    Refused,
    StoredResponse,
    refuse,
)

Render = Callable[[Outcome], StoredResponse]
CustomerWork = Callable[[Store, LockedAccount], Awaitable[Outcome]]
OperationWork = Callable[[Store, LockedAccount, Operation], Awaitable[Outcome]]
HoldWork = Callable[[Store, LockedAccount, Hold], Awaitable[Outcome]]
# After Postgres restarts, the pool's idle connections are dead: the first use of each fails.
# One more try on a fresh connection hides that from the caller, and is safe even when the
# failure came at COMMIT: the retry finds the stored answer under the idempotency key.
unavailable_retry_pause_seconds = 0.05
Work = Callable[[Store], Awaitable[Outcome]]


class Mutation(msgspec.Struct, frozen=True, kw_only=True):
    actor: Actor
    idempotency_key: str
    fingerprint: bytes


def fingerprint(operation: str, *parts: str | bytes) -> bytes:
    digest = hashlib.sha256(operation.encode())
    for part in parts:
        digest.update(b"\x00")
        digest.update(part.encode() if isinstance(part, str) else part)
    return digest.digest()


class MutationRunner:
    def __init__(self, database: Database, locks: AccountLocks) -> None:
        self.database = database
        self.locks = locks

    async def run(
        self, mutation: Mutation, account_id: UUID | None, work: Work, render: Render
    ) -> StoredResponse:
        lock: AbstractAsyncContextManager[None] = (
            nullcontext() if account_id is None else self.locks.around(account_id)
        )
        async with lock:
            try:
                return await self._transaction(mutation, work, render)
            except RetryTransaction:
                # Lost a race on a unique document; run once more, where the winner is seen.
                return await self._transaction(mutation, work, render)
            except DatabaseUnavailable:
                await asyncio.sleep(unavailable_retry_pause_seconds)
                return await self._transaction(mutation, work, render)

    async def on_customer(
        self, mutation: Mutation, customer_id: UUID, work: CustomerWork, render: Render
    ) -> StoredResponse:
        """``run`` for a call on one customer: ``work`` gets the account under its row lock; an
        unknown customer, or another program's, is ``not_found``."""
        program_id = mutation.actor.program_id

        async def locked_work(store: Store) -> Outcome:
            locked = await store.lock_account(customer_id, program_id)
            if locked is None:
                return refuse(Rejection.not_found, "No customer with this id.")
            return await work(store, locked)

        return await self.run(mutation, customer_id, locked_work, render)

    async def on_operation(
        self, mutation: Mutation, operation_id: UUID, work: OperationWork, render: Render
    ) -> StoredResponse:
        """``run`` for a call on an earlier operation (a refund, a return): its account is
        looked up first, so that account's lock is taken before the transaction; ``work`` gets
        the account under its row lock and the operation as read under it."""
        program_id, store_id = mutation.actor.program_id, mutation.actor.store_id
        async with self.database.reader() as reader:
            account_id = await reader.operation_account(operation_id, program_id, store_id)

        async def locked_work(store: Store) -> Outcome:
            locked = await store.lock_account(account_id, program_id) if account_id else None
            original = (
                await store.operation_for_refund(operation_id, program_id, store_id)
                if locked
                else None
            )
            if locked is None or original is None:
                return refuse(Rejection.not_found, "No operation with this id.")
            return await work(store, locked, original)

        return await self.run(mutation, account_id, locked_work, render)

    async def on_hold(
        self, mutation: Mutation, hold_id: UUID, work: HoldWork, render: Render
    ) -> StoredResponse:
        """``run`` for a commit or cancel: the hold's account is looked up first, so its lock is
        taken before the transaction; ``work`` gets the account under its row lock and the hold
        as read under it."""
        program_id, store_id = mutation.actor.program_id, mutation.actor.store_id
        async with self.database.reader() as reader:
            account_id = await reader.hold_account(hold_id, program_id, store_id)

        async def locked_work(store: Store) -> Outcome:
            locked = await store.lock_account(account_id, program_id) if account_id else None
            hold = await store.lock_hold(hold_id, program_id, store_id) if locked else None
            if locked is None or hold is None:
                return refuse(Rejection.hold_not_found, "No hold with this id.")
            return await work(store, locked, hold)

        return await self.run(mutation, account_id, locked_work, render)

    async def _transaction(self, mutation: Mutation, work: Work, render: Render) -> StoredResponse:
        key_id, key = mutation.actor.key_id, mutation.idempotency_key
        async with self.database.transaction() as store:
            if not await store.claim_key(key_id, key):
                return render(
                    Refused(
                        rejection=Rejection.idempotency_request_in_progress,
                        detail="A request with this Idempotency-Key is still being processed.",
                    )
                )
            found = await store.find_key(key_id, key)
            if found is not None:
                return self._replay(mutation, *found, render)
            outcome = await work(store)
            response = render(outcome)
            await store.save_key(key_id, key, mutation.fingerprint, response)
        if isinstance(outcome, Accepted):
            moved = ((outcome.movement, outcome.points),) if outcome.movement else ()
            for movement, points in moved + outcome.more_movements:
                telemetry.points_moved_total.labels(movement=movement).inc(points)
        elif outcome.rejection is Rejection.points_limit_exceeded and outcome.extra:
            telemetry.points_limit_refusals_total.labels(limit=outcome.extra["limit"]).inc()
        return response

    def _replay(
        self, mutation: Mutation, stored_fingerprint: bytes, stored: StoredResponse, render: Render
    ) -> StoredResponse:
        if stored_fingerprint != mutation.fingerprint:
            return render(
                Refused(
                    rejection=Rejection.idempotency_key_reused,
                    detail="This Idempotency-Key was used with a different request.",
                )
            )
        telemetry.idempotent_replays_total.inc()
        return msgspec.structs.replace(stored, replayed=True)
