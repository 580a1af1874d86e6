"""Paid membership (decision 0035): the program's levels and a customer's membership bought,
renewed and cancelled with money. Each write is load (one ``membership_facts`` read) → decide
(the core's periods and refund) → apply (one statement that writes the membership, its payment
record, its outbox event and the answer, only at the membership's version it was decided on).
The sweep (``sweep``) moves memberships into grace and to lapse, telling each once."""

from datetime import datetime
from typing import Literal
from uuid import UUID, uuid4

import msgspec

from processing.core import limits
from processing.core.membership import (
    Cancellation,
    EarnMode,
    Level,
    Membership,
    Period,
    Privileges,
    State,
    current_period,
    ends_at,
    grace_ends_at,
    period_end,
    period_start,
    refund_minor,
    renewed,
    state_at,
)
from processing.core.rejections import Rejection
from processing.service.loyalty.customers import program_of
from processing.service.mutations import Change, Decision, Mutation, MutationRunner, Render
from processing.service.ports import (
    Answer,
    Database,
    LevelRecord,
    MembershipFacts,
    MembershipPaymentRecord,
    MembershipWrite,
    Store,
    StoredMembership,
)
from processing.service.records import (
    Accepted,
    Actor,
    Document,
    Outcome,
    Refused,
    StoredResponse,
    refuse,
)


class LevelCommand(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    price_minor: int
    currency: str
    period: Period
    grace_days: int = 0
    privileges: Privileges = Privileges()
    cancellation: Cancellation = Cancellation.no_refund


class PaymentCommand(msgspec.Struct, frozen=True, kw_only=True):
    """A purchase (with its level), a renewal, or a cancellation (no money: its document)."""

    document: Document
    level_id: UUID | None = None
    amount_minor: int = 0
    currency: str | None = None


class LevelView(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    program_id: UUID
    name: str
    price_minor: int
    currency: str
    period: Period
    grace_days: int
    privileges: Privileges
    cancellation: Cancellation
    created_at: datetime


class LevelList(msgspec.Struct, frozen=True, kw_only=True):
    items: list[LevelView]


class PaymentView(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    type: str
    amount_minor: int
    currency: str
    period_starts_at: datetime
    period_ends_at: datetime
    channel: str
    store_id: str | None
    document: Document
    created_at: datetime


class MembershipView(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    customer_id: UUID
    level_id: UUID
    level: str
    state: State
    privileges: Privileges
    currency: str
    anchor_at: datetime
    periods: int
    period_starts_at: datetime
    ends_at: datetime
    grace_ends_at: datetime
    cancelled_at: datetime | None = None
    refund_minor: int | None = None
    payment: PaymentView | None = None


def level_view(record: LevelRecord) -> LevelView:
    level = record.level
    return LevelView(
        id=level.id,
        program_id=record.program_id,
        name=level.name,
        price_minor=level.price_minor,
        currency=level.currency,
        period=level.period,
        grace_days=level.grace_days,
        privileges=level.privileges,
        cancellation=level.cancellation,
        created_at=record.created_at,
    )


def membership_view(
    membership: Membership,
    now: datetime,
    refund: int | None = None,
    payment: MembershipPaymentRecord | None = None,
) -> MembershipView:
    level = membership.level
    return MembershipView(
        id=membership.id,
        customer_id=membership.customer_id,
        level_id=level.id,
        level=level.name,
        state=state_at(membership, now),
        privileges=level.privileges,
        currency=level.currency,
        anchor_at=membership.anchor_at,
        periods=membership.periods,
        period_starts_at=period_start(membership.anchor_at, level.period, membership.periods),
        ends_at=ends_at(membership),
        grace_ends_at=grace_ends_at(membership),
        cancelled_at=membership.cancelled_at,
        refund_minor=refund,
        payment=None
        if payment is None
        else PaymentView(
            id=payment.id,
            type=payment.type,
            amount_minor=payment.amount_minor,
            currency=payment.currency,
            period_starts_at=payment.period_starts_at,
            period_ends_at=payment.period_ends_at,
            channel=payment.channel,
            store_id=payment.store_id,
            document=Document(id=payment.document_id),
            created_at=payment.created_at,
        ),
    )


def _invalid(detail: str, field: str) -> Refused:
    return refuse(Rejection.validation_error, detail, field=field)


def level_refusal(
    command: LevelCommand, currency: str, names: list[str], levels: int
) -> Refused | None:
    """A level's own fields beyond the wire's bounds, checked before anything is written."""
    if not command.name.strip():
        return _invalid("A level's name is 1 to 200 characters, not only spaces.", "name")
    if command.currency != currency:
        return _invalid(f"The program's money is {currency}; a level is priced in it.", "currency")
    if command.grace_days > limits.membership_grace_days_max:
        bound = limits.membership_grace_days_max
        return _invalid(f"A grace period is 0 to {bound} days.", "grace_days")
    if command.name in names:
        return refuse(
            Rejection.membership_level_exists,
            f"The program has a level named {command.name!r}.",
            field="name",
        )
    if levels >= limits.membership_levels_per_program_max:
        bound = limits.membership_levels_per_program_max
        return _invalid(f"A program has at most {bound} membership levels.", "name")
    return None


def money_refusal(command: PaymentCommand, level: Level) -> Refused | None:
    """The money paid is the level's price in the program's currency, no more and no less."""
    if command.currency != level.currency:
        return _invalid(
            f"The level is priced in {level.currency}; paid in {command.currency}.", "currency"
        )
    if command.amount_minor != level.price_minor:
        return _invalid(
            f"A period of {level.name!r} costs {level.price_minor}; paid {command.amount_minor}.",
            "amount_minor",
        )
    return None


def taken_refusal(facts: MembershipFacts, command: PaymentCommand) -> Refused | None:
    if facts.document_taken:
        return refuse(
            Rejection.duplicate_document,
            f"Document {command.document.id!r} already paid for a membership operation.",
            field="document.id",
        )
    return None


def in_force(facts: MembershipFacts) -> StoredMembership | None:
    """The customer's membership while it is active or in grace (by its dates, whatever the
    sweep last wrote)."""
    stored = facts.membership
    if stored is None or state_at(stored.membership, facts.now) not in (State.active, State.grace):
        return None
    return stored


def payment_record(
    actor: Actor,
    command: PaymentCommand,
    kind: str,
    amount: int,
    currency: str,
    period: tuple[datetime, datetime],
    now: datetime,
) -> MembershipPaymentRecord:
    return MembershipPaymentRecord(
        id=uuid4(),
        type=kind,
        amount_minor=amount,
        currency=currency,
        period_starts_at=period[0],
        period_ends_at=period[1],
        channel=actor.channel,
        store_id=actor.store_id,
        document_id=command.document.id,
        key_id=actor.key_id,
        created_at=now,
    )


def event_payload(membership: Membership, payment: MembershipPaymentRecord) -> str:
    told = {
        "membership_id": str(membership.id),
        "customer_id": str(membership.customer_id),
        "level_id": str(membership.level.id),
        "level": membership.level.name,
        "periods": membership.periods,
        "ends_at": ends_at(membership).isoformat(),
        "grace_ends_at": grace_ends_at(membership).isoformat(),
        "payment_type": payment.type,
        "amount_minor": payment.amount_minor,
        "currency": payment.currency,
        "document_id": payment.document_id,
    }
    return msgspec.json.encode(told).decode()


def decide_purchase(
    facts: MembershipFacts,
    actor: Actor,
    program_id: UUID,
    customer_id: UUID,
    command: PaymentCommand,
) -> Change | Outcome:
    if not facts.customer_found:
        return refuse(Rejection.not_found, "No customer with this id.")
    level = facts.level
    if level is None:
        return refuse(Rejection.not_found, "No membership level with this id.", field="level_id")
    refused = money_refusal(command, level) or taken_refusal(facts, command)
    if refused is not None:
        return refused
    if in_force(facts) is not None:
        return refuse(
            Rejection.membership_exists,
            "The customer's membership is in force: renew it, or cancel it first.",
        )
    membership = Membership(
        id=uuid4(), customer_id=customer_id, level=level, anchor_at=facts.now, periods=1
    )
    period = (facts.now, period_end(facts.now, level.period, 1))
    payment = payment_record(
        actor, command, "purchase", command.amount_minor, level.currency, period, facts.now
    )
    write = MembershipWrite(
        membership=membership,
        program_id=program_id,
        version=0,
        status=State.active.value,
        refund_minor=None,
        payment=payment,
        event_type="membership.started",
        event_payload=event_payload(membership, payment),
    )
    view = membership_view(membership, facts.now, payment=payment)

    async def apply(store: Store, answer: Answer) -> bool:
        return await store.start_membership(write, answer)

    return Change(outcome=Accepted(value=view, created=True), write=apply)


def decide_renewal(
    facts: MembershipFacts, actor: Actor, program_id: UUID, command: PaymentCommand
) -> Change | Outcome:
    if not facts.customer_found:
        return refuse(Rejection.not_found, "No customer with this id.")
    stored = in_force(facts)
    if stored is None:
        return refuse(
            Rejection.membership_not_active,
            "The customer has no membership active or in grace to renew: buy one.",
        )
    level = stored.membership.level
    refused = money_refusal(command, level) or taken_refusal(facts, command)
    if refused is not None:
        return refused
    before = stored.membership
    after = renewed(before)
    period = (ends_at(before), ends_at(after))
    payment = payment_record(
        actor, command, "renewal", command.amount_minor, level.currency, period, facts.now
    )
    return _changed(stored, after, program_id, payment, "membership.renewed", None, facts.now)


def decide_cancellation(
    facts: MembershipFacts, actor: Actor, program_id: UUID, command: PaymentCommand
) -> Change | Outcome:
    if not facts.customer_found:
        return refuse(Rejection.not_found, "No customer with this id.")
    stored = in_force(facts)
    if stored is None:
        return refuse(
            Rejection.membership_not_active,
            "The customer has no membership active or in grace to cancel.",
        )
    refused = taken_refusal(facts, command)
    if refused is not None:
        return refused
    before, now = stored.membership, facts.now
    refund = refund_minor(before, stored.paid_minor, now)
    after = msgspec.structs.replace(before, cancelled_at=now)
    level = before.level
    current = current_period(before, now)
    period = (period_start(before.anchor_at, level.period, current), ends_at(before))
    payment = payment_record(actor, command, "refund", refund, level.currency, period, now)
    return _changed(stored, after, program_id, payment, "membership.cancelled", refund, now)


def _changed(
    stored: StoredMembership,
    after: Membership,
    program_id: UUID,
    payment: MembershipPaymentRecord,
    event_type: str,
    refund: int | None,
    now: datetime,
) -> Change:
    write = MembershipWrite(
        membership=after,
        program_id=program_id,
        version=stored.version,
        status=state_at(after, now).value,
        refund_minor=refund,
        payment=payment,
        event_type=event_type,
        event_payload=event_payload(after, payment),
    )
    view = membership_view(after, now, refund, payment)

    async def apply(store: Store, answer: Answer) -> bool:
        return await store.change_membership(write, answer)

    return Change(outcome=Accepted(value=view), write=apply)


class Memberships:
    def __init__(self, database: Database, runner: MutationRunner) -> None:
        self.database = database
        self.runner = runner

    async def create_level(
        self, mutation: Mutation, program_id: UUID, command: LevelCommand, render: Render
    ) -> StoredResponse:
        actor = mutation.actor

        async def load(store: Store) -> tuple[str, list[LevelRecord], datetime] | None:
            program = await store.get_program(program_id, actor.program_id)
            if program is None:
                return None
            levels = await store.membership_levels(program_id)
            return program.currency, levels, await store.clock_now()

        def decide(facts: tuple[str, list[LevelRecord], datetime] | None) -> Change | Outcome:
            if facts is None:
                return refuse(Rejection.not_found, "No such program.")
            currency, levels, now = facts
            names = [record.level.name for record in levels]
            refused = level_refusal(command, currency, names, len(levels))
            if refused is not None:
                return refused
            level = Level(
                id=uuid4(),
                name=command.name,
                price_minor=command.price_minor,
                currency=command.currency,
                period=command.period,
                grace_days=command.grace_days,
                privileges=command.privileges,
                cancellation=command.cancellation,
            )
            record = LevelRecord(
                level=level, program_id=program_id, key_id=actor.key_id, created_at=now
            )

            async def write(store: Store, answer: Answer) -> bool:
                return await store.insert_membership_level(record, answer)

            return Change(outcome=Accepted(value=level_view(record), created=True), write=write)

        return await self.runner.change(mutation, Decision(load, decide), render)

    async def levels(self, actor: Actor, program_id: UUID) -> Outcome:
        async with self.database.reader() as store:
            if await store.get_program(program_id, actor.program_id) is None:
                return refuse(Rejection.not_found, "No such program.")
            records = await store.membership_levels(program_id)
        return Accepted(value=LevelList(items=[level_view(record) for record in records]))

    async def _facts(
        self,
        store: Store,
        program_id: UUID,
        customer_id: UUID,
        command: PaymentCommand,
        kind: str,
    ) -> MembershipFacts:
        return await store.membership_facts(
            customer_id, program_id, command.level_id, command.document.id, kind
        )

    async def purchase(
        self, mutation: Mutation, customer_id: UUID, command: PaymentCommand, render: Render
    ) -> StoredResponse:
        """Buys a level's first period. A membership found past its grace but not swept yet is
        lapsed first, as the sweep would lapse it (the same statement and event)."""
        actor = mutation.actor
        program_id = program_of(actor)
        if isinstance(program_id, Refused):
            return render(program_id)

        async def load(store: Store) -> MembershipFacts:
            facts = await self._facts(store, program_id, customer_id, command, "purchase")
            stale = facts.membership
            if stale is not None and state_at(stale.membership, facts.now) is State.lapsed:
                await store.sweep_memberships(facts.now, 1, customer_id)
                facts = await self._facts(store, program_id, customer_id, command, "purchase")
            return facts

        def decide(facts: MembershipFacts) -> Change | Outcome:
            return decide_purchase(facts, actor, program_id, customer_id, command)

        # The customer's turn: their membership's writes one at a time, and after two lost
        # races decided under the account's row lock.
        return await self.runner.change(mutation, Decision(load, decide), render, customer_id)

    async def renew(
        self, mutation: Mutation, customer_id: UUID, command: PaymentCommand, render: Render
    ) -> StoredResponse:
        """Pays one more period of the membership in force: it continues the same chain."""
        return await self._pay(mutation, customer_id, command, "renewal", render)

    async def cancel(
        self, mutation: Mutation, customer_id: UUID, command: PaymentCommand, render: Render
    ) -> StoredResponse:
        """Cancels the membership in force at once, refunding by the level's rule."""
        return await self._pay(mutation, customer_id, command, "refund", render)

    async def _pay(
        self,
        mutation: Mutation,
        customer_id: UUID,
        command: PaymentCommand,
        kind: Literal["renewal", "refund"],
        render: Render,
    ) -> StoredResponse:
        """A renewal or a cancellation's refund of the membership in force, decided on its
        facts in the customer's turn: their membership's writes one at a time, and after two
        lost races decided under the account's row lock."""
        actor = mutation.actor
        program_id = program_of(actor)
        if isinstance(program_id, Refused):
            return render(program_id)

        async def load(store: Store) -> MembershipFacts:
            return await self._facts(store, program_id, customer_id, command, kind)

        def decide(facts: MembershipFacts) -> Change | Outcome:
            if kind == "renewal":
                return decide_renewal(facts, actor, program_id, command)
            return decide_cancellation(facts, actor, program_id, command)

        return await self.runner.change(mutation, Decision(load, decide), render, customer_id)

    async def get(self, actor: Actor, customer_id: UUID) -> Outcome:
        """The customer's newest membership with its state now."""
        program_id = program_of(actor)
        if isinstance(program_id, Refused):
            return program_id
        async with self.database.reader() as store:
            stored = await store.customer_membership(customer_id, program_id)
            now = await store.clock_now()
        if stored is None:
            return refuse(Rejection.not_found, "The customer has no membership.")
        return Accepted(value=membership_view(stored.membership, now, stored.refund_minor))


async def sweep_memberships(database: Database, now: datetime | None = None) -> dict[str, int]:
    """Moves memberships whose period ended into grace and those whose grace ended to lapse, a
    batch a transaction until a batch comes back short, each once (two sweeps at once skip
    each other's rows); how many of each it moved, by event type."""
    moved: dict[str, int] = {}
    batch = limits.membership_sweep_batch_max
    while True:
        async with database.transaction() as store:
            at = now or await store.clock_now()
            counts = await store.sweep_memberships(at, batch)
        for kind, count in counts.items():
            moved[kind] = moved.get(kind, 0) + count
        if all(count < batch for count in counts.values()):
            return moved


__all__ = ["EarnMode", "LevelCommand", "Memberships", "PaymentCommand"]
