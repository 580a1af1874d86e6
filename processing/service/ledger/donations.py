"""Donations (decision 0034): the program's charities and the points customers give them.

A charity is written with its account in one statement (``runner.change``). A donation is a
ledger write in the customer's turn, decided by ``decide_donate`` as a commit would take the
points: the charity is read first (one statement, a charity is never removed), then the turn
loads the account, decides and applies, so a donation racing a purchase on one account is
decided again on a fresh load or under the row lock and never spends a point twice."""

from datetime import datetime
from uuid import UUID, uuid4

import msgspec

from processing.core.donations import decide_donate
from processing.core.model import OperationType, Rejected
from processing.core.rejections import Rejection
from processing.service.ledger.decisions import movements, posting_change, refused_by
from processing.service.mutations import (
    Change,
    Decided,
    Decision,
    Mutation,
    MutationRunner,
    Render,
    Target,
)
from processing.service.paging import Position, by_creation, paged
from processing.service.ports import Answer, Database, Snapshot, Store
from processing.service.records import (
    Accepted,
    Actor,
    CharityRecord,
    CharityReport,
    DonationRecord,
    Outcome,
    Refused,
    StoredResponse,
    refuse,
)


class CharityCommand(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    details: str | None = None


class DonationCommand(msgspec.Struct, frozen=True, kw_only=True):
    charity_id: UUID
    points: int


_no_program = refuse(Rejection.not_found, "No such program.")


def _no_charity(field: str | None = None) -> Refused:
    return refuse(Rejection.charity_not_found, "No charity with this id.", field=field)


def donate_in_turn(
    snapshot: Snapshot, actor: Actor, charity: CharityRecord | None, command: DonationCommand
) -> Decided | Outcome:
    """A donation on its snapshot: the customer, the charity of the same program, then the
    core's checks (blocked, enough available points)."""
    locked = snapshot.locked
    if locked is None:
        return refuse(Rejection.not_found, "No customer with this id.")
    if charity is None or charity.program_id != locked.program_id:
        return _no_charity("charity_id")
    decision = decide_donate(locked.account, charity.id, command.points, locked.now)
    if isinstance(decision, Rejected):
        return refused_by(decision)
    operation, change = posting_change(locked, actor, OperationType.donation, decision)
    told = msgspec.structs.replace(change, event={**change.event, "charity_id": str(charity.id)})
    donation = DonationRecord(
        operation_id=operation.id,
        customer_id=operation.account_id,
        charity_id=charity.id,
        points=-operation.points,
        available_after=operation.available_after,
        created_at=operation.created_at,
    )
    outcome = msgspec.structs.replace(movements(decision), value=donation, created=True)
    return Decided(change=told, outcome=outcome)


class Donations:
    def __init__(self, database: Database, runner: MutationRunner) -> None:
        self.database = database
        self.runner = runner

    async def create_charity(
        self, mutation: Mutation, program_id: UUID, command: CharityCommand, render: Render
    ) -> StoredResponse:
        actor = mutation.actor

        async def load(store: Store) -> datetime | None:
            if await store.get_program(program_id, actor.program_id) is None:
                return None
            return await store.clock_now()

        def decide(now: datetime | None) -> Change | Outcome:
            if now is None:
                return _no_program
            charity = CharityRecord(
                id=uuid4(),
                program_id=program_id,
                name=command.name,
                details=command.details,
                created_at=now,
            )

            async def write(store: Store, answer: Answer) -> bool:
                return await store.insert_charity(charity, actor.key_id, answer)

            return Change(outcome=Accepted(value=charity, created=True), write=write)

        return await self.runner.change(mutation, Decision(load, decide), render)

    async def get_charity(self, actor: Actor, program_id: UUID, charity_id: UUID) -> Outcome:
        async with self.database.reader() as store:
            charity = await self._charity(store, actor, program_id, charity_id)
        return charity if isinstance(charity, Refused) else Accepted(value=charity)

    async def page(self, actor: Actor, program_id: UUID, limit: int, cursor: str | None) -> Outcome:
        async def read(store: Store, after: Position, count: int) -> list[CharityRecord] | Refused:
            if await store.get_program(program_id, actor.program_id) is None:
                return _no_program
            return await store.list_charities(program_id, after, count)

        return await paged(self.database, cursor, limit, read, by_creation)

    async def report(
        self,
        actor: Actor,
        program_id: UUID,
        charity_id: UUID,
        starts_at: datetime,
        ends_at: datetime,
    ) -> Outcome:
        """What the charity received from ``starts_at`` (inclusive) to ``ends_at``
        (exclusive): points, distinct donors, donations."""
        if ends_at <= starts_at:
            return refuse(Rejection.validation_error, "to must follow from.", field="to")
        async with self.database.reader() as store:
            charity = await self._charity(store, actor, program_id, charity_id)
            if isinstance(charity, Refused):
                return charity
            totals = await store.charity_totals(charity_id, starts_at, ends_at)
        return Accepted(
            value=CharityReport(
                charity_id=charity.id,
                name=charity.name,
                starts_at=starts_at,
                ends_at=ends_at,
                points=totals.points,
                donors=totals.donors,
                donations=totals.donations,
            )
        )

    async def _charity(
        self, store: Store, actor: Actor, program_id: UUID, charity_id: UUID
    ) -> CharityRecord | Refused:
        if await store.get_program(program_id, actor.program_id) is None:
            return _no_program
        charity = await store.get_charity(charity_id, program_id)
        return _no_charity() if charity is None else charity

    async def donate(
        self, mutation: Mutation, customer_id: UUID, command: DonationCommand, render: Render
    ) -> StoredResponse:
        """Gives the customer's points to the charity: one read of the charity, then the
        customer's turn."""
        async with self.database.reader() as store:
            charity = await store.get_charity(command.charity_id, mutation.actor.program_id)

        def decide(snapshot: Snapshot) -> Decided | Outcome:
            return donate_in_turn(snapshot, mutation.actor, charity, command)

        target = Target(account_id=customer_id)
        return await self.runner.in_turn(mutation, target, decide, render)
