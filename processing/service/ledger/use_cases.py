"""Use cases that move points: accrue, adjust, reserve, commit, cancel and refund.

Each runs as load → decide → apply (``MutationRunner.in_turn``) with its decision in
``decisions``: under the account's turn one statement loads the snapshot, the pure decision
returns the plan, and one statement applies it; an account that keeps changing in between gets
the same three steps in one transaction under its row lock. A reserve that brings a receipt
loads the rules in force and the customer's standing with its snapshot, which cap it.

The Store-based helpers below serve the use cases not yet decided on a snapshot, which run on
the locked path (one transaction that locks the account row, reads, decides and writes):
purchases, returns, bonuses, the expiry sweep.
"""

from typing import Any
from uuid import UUID

from processing.core.invariants import invariant
from processing.core.model import (
    Account,
    Allocation,
    Hold,
    HoldStatus,
    OperationType,
    Posting,
)
from processing.service.ledger.decisions import (
    AccrualCommand,
    AdjustmentCommand,
    RefundCommand,
    ReserveCommand,
    accrue_in_turn,
    adjust_in_turn,
    cancel_in_turn,
    posting_change,
    refund_in_turn,
    release_change,
    reserve_in_turn,
)
from processing.service.mutations import Decided, Mutation, MutationRunner, Render, Target
from processing.service.ports import (
    Database,
    LedgerStore,
    LockedAccount,
    NewOperation,
    Snapshot,
)
from processing.service.records import Actor, Outcome, StoredResponse


async def write_posting(
    store: LedgerStore,
    locked: LockedAccount,
    actor: Actor | None,
    type_: OperationType,
    *postings: Posting,
    stored: Account | None = None,
    released: tuple[Allocation, ...] = (),
    new_lot_id: UUID | None = None,
    **fields: Any,
) -> NewOperation:
    """Writes what ``posting_change`` computes. ``stored`` is the account as the database
    holds it now, when it is more than the locked account's open lots; ``new_lot_id`` names the
    lot a posting creates when the decision already used it."""
    operation, change = posting_change(
        locked,
        actor,
        type_,
        *postings,
        stored=stored,
        released=released,
        new_lot_id=new_lot_id,
        **fields,
    )
    await store.write(change)
    return operation


class Ledger:
    def __init__(self, database: Database, runner: MutationRunner) -> None:
        self.database = database
        self.runner = runner

    async def accrue(
        self, mutation: Mutation, customer_id: UUID, command: AccrualCommand, render: Render
    ) -> StoredResponse:
        def decide(snapshot: Snapshot) -> Decided | Outcome:
            return accrue_in_turn(snapshot, mutation.actor, command)

        target = Target(
            account_id=customer_id,
            document_id=command.document.id,
            document_type=OperationType.accrual,
            card_number=command.card_number,
        )
        return await self.runner.in_turn(mutation, target, decide, render)

    async def adjust(
        self, mutation: Mutation, customer_id: UUID, command: AdjustmentCommand, render: Render
    ) -> StoredResponse:
        def decide(snapshot: Snapshot) -> Decided | Outcome:
            return adjust_in_turn(snapshot, mutation.actor, command)

        target = Target(
            account_id=customer_id,
            document_id=None if command.document is None else command.document.id,
            document_type=OperationType.adjustment,
        )
        return await self.runner.in_turn(mutation, target, decide, render)

    async def reserve(
        self, mutation: Mutation, customer_id: UUID, command: ReserveCommand, render: Render
    ) -> StoredResponse:
        def decide(snapshot: Snapshot) -> Decided | Outcome:
            return reserve_in_turn(snapshot, mutation.actor, command)

        # A reserve that brings a receipt is checked as the purchase it will become.
        receipt = command.lines is not None
        target = Target(
            account_id=customer_id,
            document_id=command.document.id,
            document_type=OperationType.purchase if receipt else None,
            card_number=command.card_number,
            priced=receipt,
        )
        return await self.runner.in_turn(mutation, target, decide, render)

    async def cancel(self, mutation: Mutation, hold_id: UUID, render: Render) -> StoredResponse:
        def decide(snapshot: Snapshot) -> Decided | Outcome | None:
            return cancel_in_turn(snapshot, mutation.actor)

        return await self.runner.in_turn(mutation, Target(hold_id=hold_id), decide, render)

    async def refund(
        self, mutation: Mutation, operation_id: UUID, command: RefundCommand, render: Render
    ) -> StoredResponse:
        def decide(snapshot: Snapshot) -> Decided | Outcome:
            return refund_in_turn(snapshot, mutation.actor, command)

        target = Target(
            operation_id=operation_id,
            document_id=command.document.id,
            document_type=OperationType.refund,
        )
        return await self.runner.in_turn(mutation, target, decide, render)


async def release_hold(
    store: LedgerStore,
    locked: LockedAccount,
    actor: Actor | None,
    hold: Hold,
    released: tuple[Allocation, ...],
    status: HoldStatus,
) -> NewOperation:
    """Cancel and TTL expiry: drop the hold's earmarks and record why, moving no points."""
    operation, change = release_change(locked, actor, hold, released, status)
    await store.write(change)
    resolved = await store.resolve_hold(hold.id, status, None, operation.id)
    invariant(resolved, "a hold read as active under the account lock resolves once")
    return operation
