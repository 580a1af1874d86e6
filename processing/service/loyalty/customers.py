"""Customers and cards: enrollment, lookup, cards with their journal, and account blocks."""

from collections.abc import Callable
from datetime import date, datetime
from typing import Any
from uuid import UUID, uuid4

import msgspec
import structlog

from processing.core.events import operation_events
from processing.core.merges import decide_merge
from processing.core.model import OperationType, Rejected
from processing.core.promoters import normalized_code
from processing.core.rejections import Rejection
from processing.service.loyalty.bonuses import welcome_grant
from processing.service.loyalty.phones import normalize_phone
from processing.service.mutations import (
    Change,
    Decision,
    Mutation,
    MutationRunner,
    Render,
    plan_of,
)
from processing.service.paging import by_creation, paged
from processing.service.ports import (
    Answer,
    CardChange,
    CardStatus,
    CustomerChange,
    CustomerEdit,
    CustomerStore,
    Database,
    Enrollment,
    Erasure,
    LoyaltyStore,
    Merge,
    MergeFacts,
    NewCustomer,
    Store,
)
from processing.service.records import (
    Accepted,
    Actor,
    CardEventRecord,
    CardJournal,
    CardRecord,
    ConsentPage,
    ConsentRecord,
    CustomerChangePage,
    CustomerChangeRecord,
    CustomerFilter,
    CustomerListItem,
    CustomerPage,
    CustomerRecord,
    MergeRecord,
    Outcome,
    Position,
    ProgramRecord,
    Refused,
    RulesRecord,
    StoredResponse,
    TierBand,
    refuse,
)
from processing.service.rules import current_rules

log = structlog.get_logger(__name__)
issued = "issued"  # the reason of a card's first status
any_region = "ZZ"  # reads only numbers given in international form (+7...), as every region does


class EnrollCommand(msgspec.Struct, frozen=True, kw_only=True):
    phone: str
    card_number: str | None = None
    name: str | None = None
    email: str | None = None
    birthday: date | None = None
    attributes: dict[str, Any] = msgspec.field(default_factory=dict)
    referred_by: UUID | None = None
    locale: str | None = None  # their messages' language; None: the program's default
    promoter_code: str | None = None  # the promoter who brought them (decision 0034)


class EditCommand(msgspec.Struct, frozen=True, kw_only=True):
    """A change of a customer's personal data: a field left out stays, ``None`` clears it
    (the phone cannot be cleared), and ``attributes`` replaces them all."""

    phone: str | msgspec.UnsetType = msgspec.UNSET
    name: str | msgspec.UnsetType | None = msgspec.UNSET
    email: str | msgspec.UnsetType | None = msgspec.UNSET
    birthday: date | msgspec.UnsetType | None = msgspec.UNSET
    attributes: dict[str, Any] | msgspec.UnsetType = msgspec.UNSET
    locale: str | msgspec.UnsetType | None = msgspec.UNSET
    reason: str | None = None


class MergeCommand(msgspec.Struct, frozen=True, kw_only=True):
    """A duplicate record of the customer, merged into them for ``reason``."""

    from_customer_id: UUID
    reason: str


class ConsentCommand(msgspec.Struct, frozen=True, kw_only=True):
    """Marketing consent on one channel given or withdrawn, through ``source`` (a till, a web
    form, the CRM), to the ``wording`` the customer saw."""

    channel: str
    granted: bool
    source: str
    wording: str | None = None


def program_of(actor: Actor) -> UUID | Refused:
    """The program a call acts in: the key's own. Operator keys belong to no program."""
    if actor.program_id is None:
        return refuse(
            Rejection.program_key_required,
            "This call acts inside one program; use a key that belongs to a program.",
        )
    return actor.program_id


async def program_or_refusal(store: LoyaltyStore, actor: Actor) -> ProgramRecord | Refused:
    program_id = program_of(actor)
    if isinstance(program_id, Refused):
        return program_id
    program = await store.get_program(program_id, None)
    return program or refuse(Rejection.not_found, "The key's program is gone.")


async def customer_or_refusal(
    store: CustomerStore, actor: Actor, customer_id: UUID
) -> CustomerRecord | Refused:
    customer = await store.get_customer(customer_id, actor.program_id)
    if customer is None:
        return refuse(Rejection.not_found, "No customer with this id.")
    return customer


async def find_customer_id(
    store: CustomerStore, program_id: UUID, country: str, phone: str | None, card: str | None
) -> UUID | Refused:
    if card is not None:
        row = await store.find_card(program_id, card)
        if row is None:
            return refuse(Rejection.not_found, "No customer has this card.")
        if row["status"] != "active":
            return refuse(Rejection.card_blocked, f"The card is {row['status']}.")
        return row["customer_id"]  # type: ignore[no-any-return]
    normalized = normalize_phone(phone or "", country)
    if normalized is None:
        return refuse(Rejection.validation_error, "phone is not a valid number.", field="phone")
    found = await store.find_customer_by_phone(program_id, normalized)
    return found if found is not None else refuse(Rejection.not_found, "No such customer.")


async def look_up(
    store: Store, actor: Actor, phone: str | None, card: str | None
) -> CustomerRecord | Refused:
    """The customer of the key's program with this phone, or with this live card."""
    program = await program_or_refusal(store, actor)
    if isinstance(program, Refused):
        return program
    customer_id = await find_customer_id(store, program.id, program.country, phone, card)
    if isinstance(customer_id, Refused):
        return customer_id
    return await customer_or_refusal(store, actor, customer_id)


class Customers:
    def __init__(self, database: Database, runner: MutationRunner) -> None:
        self.database = database
        self.runner = runner

    async def enroll(
        self, mutation: Mutation, command: EnrollCommand, render: Render
    ) -> StoredResponse:
        """Enrolls a customer with their card and referrer, and the welcome bonus when the
        rules grant one: decided on what the program has, written in one statement (with the
        bonus, in one transaction of two)."""
        actor = mutation.actor
        customer_id = uuid4()

        async def load(store: Store) -> tuple[Enrollment, str | None, UUID | None] | Refused:
            program_id = program_of(actor)
            if isinstance(program_id, Refused):
                return program_id
            # A number in international form reads the same in any program's country: it is
            # looked up by the same statement; a local one needs the country read first.
            international = normalize_phone(command.phone, any_region)
            enrollment = await store.enrollment(
                program_id,
                customer_id,
                command.card_number,
                command.referred_by,
                international,
                None if command.promoter_code is None else normalized_code(command.promoter_code),
            )
            if enrollment is None:
                return refuse(Rejection.not_found, "The key's program is gone.")
            if international is not None:
                return enrollment, international, enrollment.holder
            phone = normalize_phone(command.phone, enrollment.country)
            holder = (
                None if phone is None else await store.find_customer_by_phone(program_id, phone)
            )
            return enrollment, phone, holder

        def decide(facts: tuple[Enrollment, str | None, UUID | None] | Refused) -> Change | Outcome:
            if isinstance(facts, Refused):
                return facts
            return enrollment_change(actor, customer_id, command, *facts)

        return await self.runner.change(mutation, Decision(load, decide), render)

    async def page(
        self,
        actor: Actor,
        program_id: UUID,
        narrowed: CustomerFilter,
        limit: int,
        cursor: str | None,
    ) -> Outcome:
        """A page of the program's customers, newest first, narrowed by the filter (a phone in
        any form the program's country reads; a name prefix matched case-insensitively)."""
        refused = filter_refusal(narrowed)

        async def read(
            store: Store, after: Position, count: int
        ) -> list[CustomerListItem] | Refused:
            if refused is not None:
                return refused
            program = await store.get_program(program_id, actor.program_id)
            if program is None:
                return refuse(Rejection.not_found, "No program with this id.")
            found = narrowed
            if narrowed.phone is not None:
                phone = normalize_phone(narrowed.phone, program.country)
                if phone is None:
                    return refuse(
                        Rejection.validation_error,
                        f"phone is not a valid number for region {program.country}.",
                        field="phone",
                    )
                found = msgspec.structs.replace(narrowed, phone=phone)
            band: TierBand | None = None
            if narrowed.tier is not None:
                banded = tier_band(await current_rules(store, program.id), narrowed.tier)
                if isinstance(banded, Refused):
                    return banded
                band = banded
            return await store.list_customers(program.id, found, band, after, count)

        return await paged(self.database, cursor, limit, read, by_creation, CustomerPage)

    async def edit(
        self, mutation: Mutation, customer_id: UUID, command: EditCommand, render: Render
    ) -> StoredResponse:
        """Changes a customer's personal data (a new phone must be free in the program) and
        records what moved in the customer's history, in one statement at the version the
        change was decided on."""
        actor, change_id = mutation.actor, uuid4()

        async def load(
            store: CustomerStore,
        ) -> tuple[CustomerChange | None, str | None, UUID | None]:
            found = await store.customer_change(customer_id, actor.program_id, None)
            if found is None or isinstance(command.phone, msgspec.UnsetType):
                return found, None, None
            phone = normalize_phone(command.phone, found.country)
            program_id = found.customer.program_id
            holder = (
                None if phone is None else await store.find_customer_by_phone(program_id, phone)
            )
            return found, phone, holder

        def decide(
            facts: tuple[CustomerChange | None, str | None, UUID | None],
        ) -> Change | Outcome:
            found, phone, holder = facts
            if found is None:
                return refuse(Rejection.not_found, "No customer with this id.")
            return edit_change(actor, change_id, command, found, phone, holder)

        return await self.runner.change(mutation, Decision(load, decide), render)

    async def record_consent(
        self, mutation: Mutation, customer_id: UUID, command: ConsentCommand, render: Render
    ) -> StoredResponse:
        """Records marketing consent on one channel, given or withdrawn; the log only grows."""
        actor, consent_id = mutation.actor, uuid4()

        def decide(found: CustomerChange) -> Change | Outcome:
            consent = ConsentRecord(
                id=consent_id,
                channel=command.channel,
                granted=command.granted,
                source=command.source,
                wording=command.wording,
                key_id=actor.key_id,
                recorded_at=found.now,
            )
            customer = found.customer
            return Change(
                outcome=Accepted(value=consent, created=True),
                write=lambda store, answer: store.record_consent(
                    customer.program_id, customer.id, consent, answer
                ),
            )

        return await self.runner.change(mutation, on_customer(actor, customer_id, decide), render)

    async def consents(
        self, actor: Actor, customer_id: UUID, limit: int, cursor: str | None
    ) -> Outcome:
        """The consent in force on each channel, and the log a page at a time, newest first."""
        in_force: list[ConsentRecord] = []

        async def read(store: Store, after: Position, count: int) -> list[ConsentRecord] | Refused:
            accounts = await store.customer_accounts(customer_id, actor.program_id)
            if accounts is None:
                return refuse(Rejection.not_found, "No customer with this id.")
            in_force.extend(await store.consents_in_force(accounts[0]))
            return await store.consent_history(accounts[0], after, count)

        def page(items: list[ConsentRecord], next_cursor: str | None) -> ConsentPage:
            return ConsentPage(in_force=in_force, items=items, next_cursor=next_cursor)

        def recorded(item: ConsentRecord) -> Position:
            return Position(at=item.recorded_at, id=item.id)

        return await paged(self.database, cursor, limit, read, recorded, page)

    async def erase(
        self, mutation: Mutation, customer_id: UUID, reason: str, render: Render
    ) -> StoredResponse:
        """Erases the customer's personal data (152-FZ): phone, name, e-mail, locale, birthday
        and attributes go, the history keeps only which fields moved when, cards are deleted,
        consents withdrawn, the account blocked. The ledger stays as it is and reconciles."""
        actor, change_id = mutation.actor, uuid4()

        def decide(found: CustomerChange) -> Change | Outcome:
            erasure = Erasure(
                customer_id=found.customer.id,
                version=found.customer_version,
                at=found.now,
                key_id=actor.key_id,
                reason=reason,
                change_id=change_id,
            )
            return Change(
                outcome=Accepted(value=erased(found.customer, found.now)),
                write=lambda store, answer: store.erase_customer(erasure, answer),
            )

        stored = await self.runner.change(
            mutation, on_customer(actor, customer_id, decide), render, customer_id
        )
        if stored.status_code == 200 and not stored.replayed:
            log.info(
                "customer_erased",
                customer_id=str(customer_id),
                reason=reason,
                key_id=str(actor.key_id),
            )
        return stored

    async def merge(
        self, mutation: Mutation, customer_id: UUID, command: MergeCommand, render: Render
    ) -> StoredResponse:
        """Merges customer ``command.from_customer_id`` into ``customer_id``: the merged
        customer's open lots (each with its activation and expiry), debt, cards, purchases and
        bonus periods go to the survivor in one operation on the survivor's account, written in
        one statement at both accounts' versions; the merged customer's id, phone and
        operations resolve to the survivor from then on."""
        actor, operation_id = mutation.actor, uuid4()
        change_ids = (uuid4(), uuid4())

        async def load(store: CustomerStore) -> MergeFacts:
            return await store.merge_facts(customer_id, command.from_customer_id, actor.program_id)

        def decide(facts: MergeFacts) -> Change | Outcome:
            if command.from_customer_id == customer_id:
                return refuse(
                    Rejection.validation_error,
                    "from_customer_id names the customer merged into: name another.",
                    field="from_customer_id",
                )
            return merge_change(actor, operation_id, change_ids, command, facts)

        stored = await self.runner.change(
            mutation, Decision(load, decide), render, account_id=customer_id
        )
        if stored.status_code == 200 and not stored.replayed:
            log.info(
                "customers_merged",
                customer_id=str(customer_id),
                merged_customer_id=str(command.from_customer_id),
                reason=command.reason,
                key_id=str(actor.key_id),
            )
        return stored

    async def changes(
        self, actor: Actor, customer_id: UUID, limit: int, cursor: str | None
    ) -> Outcome:
        """The history of the customer's personal data, newest first, a page at a time."""

        async def read(
            store: Store, after: Position, count: int
        ) -> list[CustomerChangeRecord] | Refused:
            accounts = await store.customer_accounts(customer_id, actor.program_id)
            if accounts is None:
                return refuse(Rejection.not_found, "No customer with this id.")
            return await store.customer_changes(accounts[0], after, count)

        return await paged(self.database, cursor, limit, read, by_creation, CustomerChangePage)

    async def get(self, actor: Actor, customer_id: UUID) -> Outcome:
        async with self.database.reader() as store:
            found = await customer_or_refusal(store, actor, customer_id)
        return found if isinstance(found, Refused) else Accepted(value=found)

    async def find(self, actor: Actor, phone: str | None, card: str | None) -> Outcome:
        async with self.database.reader() as store:
            found = await look_up(store, actor, phone, card)
        return found if isinstance(found, Refused) else Accepted(value=found)

    async def add_card(
        self, mutation: Mutation, customer_id: UUID, number: str, render: Render
    ) -> StoredResponse:
        actor = mutation.actor

        def decide(found: CustomerChange) -> Change | Outcome:
            if found.card_taken:
                return refuse(Rejection.card_exists, "This card number is already in use.")
            customer = found.customer
            card = CardRecord(number=number, status="active", reason=issued)
            return Change(
                outcome=Accepted(
                    value=msgspec.structs.replace(customer, cards=[*customer.cards, card]),
                    created=True,
                ),
                write=lambda store, answer: store.issue_card(
                    customer.program_id, number, customer.id, actor.key_id, found.now, answer
                ),
            )

        return await self.runner.change(
            mutation, on_customer(actor, customer_id, decide, number), render
        )

    async def set_card_status(
        self, mutation: Mutation, number: str, blocked: bool, reason: str, render: Render
    ) -> StoredResponse:
        actor = mutation.actor

        async def load(store: CustomerStore) -> CardChange | Refused | None:
            program_id = program_of(actor)
            if isinstance(program_id, Refused):
                return program_id
            return await store.card_change(program_id, number)

        def decide(card: CardChange | Refused | None) -> Change | Outcome:
            if isinstance(card, Refused):
                return card
            if card is None:
                return refuse(Rejection.card_not_found, "No card with this number.")
            if blocked and card.status == "blocked":
                return refuse(Rejection.card_blocked, "The card is already blocked.")
            if not blocked and card.status != "blocked":
                return refuse(Rejection.card_not_blocked, "The card is not blocked.")
            status = "blocked" if blocked else "active"
            event = CardEventRecord(
                status=status, reason=reason, key_id=actor.key_id, created_at=card.now
            )
            journal = CardJournal(
                number=number,
                customer_id=card.customer_id,
                status=status,
                reason=reason,
                events=[*card.events, event],
            )
            change = CardStatus(
                program_id=card.program_id,
                number=number,
                was=card.status,
                status=status,
                reason=reason,
                key_id=actor.key_id,
                at=card.now,
            )
            return Change(
                outcome=Accepted(value=journal),
                write=lambda store, answer: store.set_card_status(change, answer),
            )

        return await self.runner.change(mutation, Decision(load, decide), render)

    async def card(self, actor: Actor, number: str) -> Outcome:
        async with self.database.reader() as store:
            program_id = program_of(actor)
            if isinstance(program_id, Refused):
                return program_id
            card = await store.find_card(program_id, number)
            if card is None:
                return refuse(Rejection.card_not_found, "No card with this number.")
            return Accepted(value=await journal(store, program_id, number))

    async def set_account_block(
        self, mutation: Mutation, customer_id: UUID, blocked: bool, reason: str, render: Render
    ) -> StoredResponse:
        """Blocks the account with ``reason`` (shown as ``blocked_reason``) or unblocks it. The
        account keeps only its current state, so every change, the unblock's reason included,
        is also logged with the key that made it (once: a replay does not log it again)."""
        actor = mutation.actor

        def decide(found: CustomerChange) -> Change | Outcome:
            kept = reason if blocked else None
            customer = msgspec.structs.replace(found.customer, blocked=blocked, blocked_reason=kept)
            return Change(
                outcome=Accepted(value=customer),
                write=lambda store, answer: store.set_account_block(
                    found.customer.id, found.version, kept, answer
                ),
            )

        stored = await self.runner.change(
            mutation, on_customer(actor, customer_id, decide), render, customer_id
        )
        if stored.status_code == 200 and not stored.replayed:
            log.info(
                "account_block_changed",
                customer_id=str(customer_id),
                blocked=blocked,
                reason=reason,
                key_id=str(actor.key_id),
            )
        return stored


def on_customer(
    actor: Actor,
    customer_id: UUID,
    decide: Callable[[CustomerChange], Change | Outcome],
    card_number: str | None = None,
) -> Decision[CustomerChange | None]:
    """How a change of one customer's record is decided: loaded with ``customer_change`` (and
    whether ``card_number`` is taken); an unknown or erased customer is refused before
    ``decide`` sees it."""

    async def load(store: Store) -> CustomerChange | None:
        return await store.customer_change(customer_id, actor.program_id, card_number)

    def decided(loaded: CustomerChange | None) -> Change | Outcome:
        found = still_there(loaded)
        return found if isinstance(found, Refused) else decide(found)

    return Decision(load, decided)


def still_there(found: CustomerChange | None) -> CustomerChange | Refused:
    """A change needs the customer, with their personal data: refused when there is none, or
    when it was erased."""
    if found is None:
        return refuse(Rejection.not_found, "No customer with this id.")
    if found.customer.erased_at is not None:
        return refuse(
            Rejection.customer_erased, "The customer's personal data was erased; nothing to change."
        )
    return found


def merge_change(
    actor: Actor,
    operation_id: UUID,
    change_ids: tuple[UUID, UUID],
    command: MergeCommand,
    facts: MergeFacts,
) -> Change | Outcome:
    """A merge decided on both customers as loaded (``decide_merge``), with the survivor's
    record as it will read after it: the merged customer's cards added, their manual tier kept
    when the survivor has none."""
    survivor, merged, now = facts.survivor, facts.merged, facts.now
    if survivor is None or now is None:
        return refuse(Rejection.not_found, "No customer with this id.")
    if merged is None:
        return refuse(
            Rejection.not_found, "No customer with from_customer_id.", field="from_customer_id"
        )
    plan = decide_merge(survivor.side, merged.side)
    if isinstance(plan, Rejected):
        return refuse(plan.rejection, plan.detail, field=plan.field)
    customer = msgspec.structs.replace(
        survivor.customer, cards=survivor.customer.cards + merged.customer.cards
    )
    available_after = plan.available_after(now)
    record = MergeRecord(
        operation_id=operation_id,
        customer=customer,
        merged_customer_id=merged.customer.id,
        points=plan.points,
        debt=plan.debt,
        lots=len(plan.lots),
        created_at=now,
    )
    event = {
        "operation_id": str(operation_id),
        "type": OperationType.merge,
        "customer_id": str(customer.id),
        "merged_customer_id": str(merged.customer.id),
        "points": plan.points,
        "debt": plan.debt,
        "available_after": available_after,
        "created_at": now.isoformat(),
    }
    merge = Merge(
        operation_id=operation_id,
        program_id=customer.program_id,
        survivor_id=customer.id,
        survivor_version=survivor.version,
        merged_id=merged.customer.id,
        merged_version=merged.version,
        lot_ids=tuple(lot.id for lot in plan.lots),
        lot_points=tuple(lot.remaining for lot in plan.lots),
        points=plan.points,
        debt=plan.debt,
        posted_after=plan.survivor.posted,
        debt_after=plan.survivor.debt,
        available_after=available_after,
        tier_floor=survivor.tier_floor or merged.tier_floor,
        reason=command.reason,
        channel=actor.channel,
        key_id=actor.key_id,
        at=now,
        change_ids=change_ids,
        event=event,
        event_types=operation_events(OperationType.merge, plan.points, debt_delta=plan.debt),
    )
    return Change(
        outcome=Accepted(value=record, movement="merged", points=plan.points),
        write=lambda store, answer: store.merge_customers(merge, answer),
    )


def erased(customer: CustomerRecord, at: datetime) -> CustomerRecord:
    """The customer as an erasure leaves them: an id, a ledger, nothing personal."""
    return msgspec.structs.replace(
        customer,
        phone=f"erased:{customer.id}",
        name=None,
        email=None,
        birthday=None,
        attributes={},
        locale=None,
        cards=[
            CardRecord(number=card.number, status="deleted", reason="erased")
            if card.status != "deleted"
            else card
            for card in customer.cards
        ],
        blocked=True,
        blocked_reason="erased",
        erased_at=at,
    )


def edit_change(
    actor: Actor,
    change_id: UUID,
    command: EditCommand,
    found: CustomerChange,
    phone: str | None,
    holder: UUID | None,
) -> Change | Outcome:
    """A change of personal data decided on the customer as loaded: each field given and
    different moves, and the history says from what to what. Nothing moved: the customer as
    they are, and no history."""
    if isinstance(live := still_there(found), Refused):
        return live
    customer = found.customer
    if not isinstance(command.phone, msgspec.UnsetType):
        if phone is None:
            return refuse(
                Rejection.validation_error,
                f"phone is not a valid number for region {found.country}.",
                field="phone",
            )
        if holder is not None and holder != customer.id:
            return refuse(
                Rejection.customer_exists,
                "Another customer of the program has this phone.",
                customer_id=str(holder),
                field="phone",
            )
        if holder == customer.id and phone != customer.phone:
            # The phone of a record merged into this customer: it keeps resolving here, and
            # stays that record's.
            return refuse(
                Rejection.customer_exists,
                "A record merged into this customer has this phone; it already finds them.",
                customer_id=str(holder),
                field="phone",
            )
    given = {
        "phone": phone if phone is not None else msgspec.UNSET,
        "name": command.name,
        "email": command.email,
        "birthday": command.birthday,
        "attributes": command.attributes,
        "locale": command.locale,
    }
    moved = {
        field: value
        for field, value in given.items()
        if not isinstance(value, msgspec.UnsetType) and value != getattr(customer, field)
    }
    if not moved:
        return Accepted(value=customer)
    edited = msgspec.structs.replace(customer, **moved)
    edit = CustomerEdit(
        customer_id=customer.id,
        version=found.customer_version,
        phone=edited.phone,
        name=edited.name,
        email=edited.email,
        birthday=edited.birthday,
        attributes=edited.attributes,
        locale=edited.locale,
        change_id=change_id,
        key_id=actor.key_id,
        reason=command.reason,
        changes={
            field: {"from": getattr(customer, field), "to": value} for field, value in moved.items()
        },
        at=found.now,
    )
    return Change(
        outcome=Accepted(value=edited),
        write=lambda store, answer: store.update_customer(edit, answer),
    )


def tier_band(record: RulesRecord, name: str) -> TierBand | Refused:
    """What a tier spans under the rules in force; a name they do not have is refused."""
    tiers = sorted(record.rules.tiers, key=lambda tier: tier.threshold_minor)
    names = [tier.name for tier in tiers]
    if name not in names:
        return refuse(
            Rejection.validation_error,
            f"The program's rules have no tier {name!r}; they have {names}.",
            field="tier",
        )
    at = names.index(name)
    return TierBand(
        low_minor=tiers[at].threshold_minor,
        high_minor=tiers[at + 1].threshold_minor if at + 1 < len(tiers) else None,
        window_days=record.rules.tier_window_days,
        names=names,
        thresholds_minor=[tier.threshold_minor for tier in tiers],
    )


def filter_refusal(narrowed: CustomerFilter) -> Refused | None:
    """A filter whose bounds cross narrows to nothing: refused, so a swapped pair is seen."""
    low, high = narrowed.available_min, narrowed.available_max
    if low is not None and high is not None and low > high:
        return refuse(
            Rejection.validation_error,
            "available_min may not exceed available_max.",
            field="available_min",
        )
    start, end = narrowed.created_from, narrowed.created_to
    for name, moment in (("created_from", start), ("created_to", end)):
        if moment is not None and moment.tzinfo is None:
            return refuse(
                Rejection.validation_error, f"{name} needs a zone (RFC 3339).", field=name
            )
    if start is not None and end is not None and start >= end:
        return refuse(
            Rejection.validation_error,
            "created_from must be before created_to.",
            field="created_from",
        )
    return None


def enrollment_change(
    actor: Actor,
    customer_id: UUID,
    command: EnrollCommand,
    enrollment: Enrollment,
    phone: str | None,
    holder: UUID | None,
) -> Change | Outcome:
    """An enrollment decided on what its program has: the customer with their card and
    referrer, and the welcome bonus when the rules grant one (the first operation of the new
    account, decided as any bonus is)."""
    if phone is None:
        return refuse(
            Rejection.validation_error,
            f"phone is not a valid number for region {enrollment.country}.",
            field="phone",
        )
    if enrollment.card_taken:
        return refuse(Rejection.card_exists, "This card number is already in use.")
    if not enrollment.referrer_found:
        return refuse(
            Rejection.not_found,
            "referred_by is not a customer of this program.",
            field="referred_by",
        )
    if command.promoter_code is not None and enrollment.promoter_id is None:
        return refuse(
            Rejection.promoter_not_found,
            "promoter_code is not the code of a promoter of this program.",
            field="promoter_code",
        )
    if holder is not None:
        return refuse(
            Rejection.customer_exists,
            "A customer with this phone is already enrolled.",
            customer_id=str(holder),
        )
    locked = enrollment.locked
    customer = NewCustomer(
        id=customer_id,
        program_id=locked.program_id,
        phone=phone,
        name=command.name,
        email=command.email,
        birthday=command.birthday,
        attributes=command.attributes,
        referred_by=command.referred_by,
        created_at=locked.now,
        card_number=command.card_number,
        key_id=actor.key_id,
        locale=command.locale,
        promoter_id=enrollment.promoter_id,
    )
    welcome = welcome_grant(locked, enrollment.rules)
    record = CustomerRecord(
        id=customer_id,
        program_id=locked.program_id,
        phone=phone,
        name=command.name,
        birthday=command.birthday,
        attributes=command.attributes,
        cards=[]
        if command.card_number is None
        else [CardRecord(number=command.card_number, status="active", reason=issued)],
        blocked=False,
        blocked_reason=None,
        created_at=locked.now,
        email=command.email,
        locale=command.locale,
    )

    async def write(store: Store, answer: Answer) -> bool:
        plan = None if welcome is None else plan_of(welcome, 0, answer)  # at the new version
        return await store.enroll(customer, plan, answer)

    return Change(outcome=Accepted(value=record, created=True), write=write)


async def journal(store: CustomerStore, program_id: UUID, number: str) -> CardJournal:
    card = await store.find_card(program_id, number)
    events = await store.card_journal(program_id, number)
    last = events[-1]
    return CardJournal(
        number=number,
        customer_id=card["customer_id"],
        status=last.status,
        reason=last.reason,
        events=events,
    )
