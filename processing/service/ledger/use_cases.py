"""Use cases that move points: accrue, adjust, reserve, commit, cancel and refund.

Each runs as load → decide → apply (``MutationRunner.in_turn``) with its decision in
``decisions``: under the account's turn one statement loads the snapshot, the pure decision
returns the plan, and one statement applies it; an account that keeps changing in between gets
the same three steps in one transaction under its row lock. A reserve that brings a receipt
loads the rules in force with its snapshot, which cap it. (Purchases, returns and bonus events,
decided the same way, are the loyalty area's.)
"""

from uuid import UUID

from processing.core.model import (
    OperationType,
)
from processing.service.ledger.decisions import (
    AccrualCommand,
    AdjustmentCommand,
    RefundCommand,
    ReserveCommand,
    accrue_in_turn,
    adjust_in_turn,
    cancel_in_turn,
    refund_in_turn,
    reserve_in_turn,
)
from processing.service.mutations import Decided, Mutation, MutationRunner, Render, Target
from processing.service.ports import (
    Database,
    Snapshot,
)
from processing.service.records import Outcome, StoredResponse


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
