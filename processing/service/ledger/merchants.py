"""Merchants of a program and the stores assigned to them (decision 0026).

A store belongs to at most one merchant at a time: an assignment runs from when it was made
until it is ended, and is never changed otherwise, so a statement of a past period reads each
store as it was assigned then. A store with no open assignment belongs to the program itself.
A store is known to a program once one of the program's keys names it (tills are keyed per
store); assigning a store no key names is refused, since it is most likely a typo."""

from datetime import datetime
from uuid import UUID, uuid4

import msgspec

from processing.core.rejections import Rejection
from processing.service.mutations import Change, Decision, Mutation, MutationRunner, Render
from processing.service.paging import Position, by_creation, paged
from processing.service.ports import Database, MerchantFacts, Store, StoreFacts
from processing.service.records import (
    Accepted,
    Actor,
    MerchantRecord,
    MerchantStoreRecord,
    Outcome,
    Refused,
    StoredResponse,
    refuse,
)


class MerchantCommand(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    legal_name: str | None = None
    tax_id: str | None = None


_no_merchant = refuse(Rejection.not_found, "No merchant with this id.")


def by_assignment(item: MerchantStoreRecord) -> Position:
    return Position(at=item.assigned_at, id=item.id)


class Merchants:
    def __init__(self, database: Database, runner: MutationRunner) -> None:
        self.database = database
        self.runner = runner

    async def create(
        self, mutation: Mutation, program_id: UUID, command: MerchantCommand, render: Render
    ) -> StoredResponse:
        actor = mutation.actor

        async def load(store: Store) -> MerchantFacts | None:
            return await store.merchant_facts(program_id, actor.program_id)

        def decide(facts: MerchantFacts | None) -> Change | Outcome:
            if facts is None:
                return refuse(Rejection.not_found, "No program with this id.")
            merchant = MerchantRecord(
                id=uuid4(),
                program_id=facts.program_id,
                name=command.name,
                legal_name=command.legal_name,
                tax_id=command.tax_id,
                created_at=facts.now,
            )
            return Change(
                outcome=Accepted(value=merchant, created=True),
                write=lambda store, answer: store.insert_merchant(merchant, actor.key_id, answer),
            )

        return await self.runner.change(mutation, Decision(load, decide), render)

    async def get(self, actor: Actor, merchant_id: UUID) -> Outcome:
        if actor.merchant_id not in (None, merchant_id):
            return _no_merchant  # a merchant's key finds its own merchant only
        async with self.database.reader() as store:
            merchant = await store.get_merchant(merchant_id, actor.program_id)
        return _no_merchant if merchant is None else Accepted(value=merchant)

    async def page(self, actor: Actor, program_id: UUID, limit: int, cursor: str | None) -> Outcome:
        """The program's merchants, newest first."""

        async def read(store: Store, after: Position, count: int) -> list[MerchantRecord] | Refused:
            if await store.get_program(program_id, actor.program_id) is None:
                return refuse(Rejection.not_found, "No program with this id.")
            return await store.list_merchants(program_id, after, count)

        return await paged(self.database, cursor, limit, read, by_creation)

    async def stores(
        self, actor: Actor, merchant_id: UUID, limit: int, cursor: str | None
    ) -> Outcome:
        """The stores assigned to the merchant now, newest assignment first."""

        async def read(
            store: Store, after: Position, count: int
        ) -> list[MerchantStoreRecord] | Refused:
            if await store.get_merchant(merchant_id, actor.program_id) is None:
                return _no_merchant
            return await store.merchant_stores(merchant_id, after, count)

        return await paged(self.database, cursor, limit, read, by_assignment)

    async def assign(
        self, mutation: Mutation, merchant_id: UUID, store_id: str, render: Render
    ) -> StoredResponse:
        """Assigns a store to the merchant from now. Assigned to it already: the assignment in
        force (200). Assigned to another merchant: refused; that one is ended first."""
        actor = mutation.actor

        async def load(store: Store) -> StoreFacts | None:
            return await store.store_facts(merchant_id, actor.program_id, store_id)

        def decide(facts: StoreFacts | None) -> Change | Outcome:
            return assignment(actor, store_id, facts)

        return await self.runner.change(mutation, Decision(load, decide), render)

    async def unassign(
        self, mutation: Mutation, merchant_id: UUID, store_id: str, render: Render
    ) -> StoredResponse:
        """Ends the store's assignment to the merchant now: from then on it belongs to the
        program itself until it is assigned again."""
        actor = mutation.actor

        async def load(store: Store) -> StoreFacts | None:
            return await store.store_facts(merchant_id, actor.program_id, store_id)

        def decide(facts: StoreFacts | None) -> Change | Outcome:
            return ending(actor, store_id, facts)

        return await self.runner.change(mutation, Decision(load, decide), render)


def assignment(actor: Actor, store_id: str, facts: StoreFacts | None) -> Change | Outcome:
    if facts is None:
        return _no_merchant
    if not facts.store_known:
        return refuse(
            Rejection.not_found,
            f"No key of this program names store {store_id!r}: a store is known once a "
            "till's key is made for it.",
            field="store_id",
        )
    if facts.assignment_id is not None and facts.assigned_at is not None:
        if facts.assigned_to != facts.merchant_id:
            return refuse(
                Rejection.store_assigned_elsewhere,
                f"Store {store_id!r} belongs to merchant {facts.assigned_to}; end that "
                "assignment first.",
                field="store_id",
            )
        current = _record(facts, facts.assignment_id, store_id, facts.assigned_at)
        return Accepted(value=current)
    made = _record(facts, uuid4(), store_id, facts.now)
    return Change(
        outcome=Accepted(value=made, created=True),
        write=lambda store, answer: store.assign_store(made, actor.key_id, answer),
    )


def ending(actor: Actor, store_id: str, facts: StoreFacts | None) -> Change | Outcome:
    if facts is None:
        return _no_merchant
    if (
        facts.assignment_id is None
        or facts.assigned_at is None
        or facts.assigned_to != facts.merchant_id
    ):
        return refuse(
            Rejection.not_found,
            f"Store {store_id!r} is not assigned to this merchant.",
            field="store_id",
        )
    assignment_id = facts.assignment_id
    ended = msgspec.structs.replace(
        _record(facts, assignment_id, store_id, facts.assigned_at), unassigned_at=facts.now
    )
    return Change(
        outcome=Accepted(value=ended),
        write=lambda store, answer: store.unassign_store(
            assignment_id, facts.now, actor.key_id, answer
        ),
    )


def _record(
    facts: StoreFacts, assignment_id: UUID, store_id: str, assigned_at: datetime
) -> MerchantStoreRecord:
    return MerchantStoreRecord(
        id=assignment_id,
        merchant_id=facts.merchant_id,
        program_id=facts.program_id,
        store_id=store_id,
        assigned_at=assigned_at,
        unassigned_at=None,
    )
