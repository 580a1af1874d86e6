"""Customers and cards: enrollment, lookup, cards with their journal, and account blocks."""

from datetime import date
from typing import Any
from uuid import UUID, uuid4

import msgspec
import structlog

from processing.core.invariants import invariant
from processing.core.rejections import Rejection
from processing.service.loyalty.bonuses import grant_welcome
from processing.service.loyalty.phones import normalize_phone
from processing.service.mutations import Mutation, MutationRunner, Render
from processing.service.ports import (
    CustomerStore,
    Database,
    LockedAccount,
    LoyaltyStore,
    RetryTransaction,
    Store,
)
from processing.service.records import (
    Accepted,
    Actor,
    CardJournal,
    CustomerRecord,
    Outcome,
    ProgramRecord,
    Refused,
    StoredResponse,
    refuse,
)

log = structlog.get_logger(__name__)


class EnrollCommand(msgspec.Struct, frozen=True, kw_only=True):
    phone: str
    card_number: str | None = None
    name: str | None = None
    birthday: date | None = None
    attributes: dict[str, Any] = msgspec.field(default_factory=dict)
    referred_by: UUID | None = None


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
        actor = mutation.actor

        async def work(store: Store) -> Outcome:
            program = await program_or_refusal(store, actor)
            if isinstance(program, Refused):
                return program
            phone = normalize_phone(command.phone, program.country)
            if phone is None:
                return refuse(
                    Rejection.validation_error,
                    f"phone is not a valid number for region {program.country}.",
                    field="phone",
                )
            if command.card_number and await store.find_card(program.id, command.card_number):
                return refuse(Rejection.card_exists, "This card number is already in use.")
            if command.referred_by is not None and not await store.customer_program(
                command.referred_by, program.id
            ):
                return refuse(
                    Rejection.not_found,
                    "referred_by is not a customer of this program.",
                    field="referred_by",
                )
            customer_id = uuid4()
            created = await store.insert_customer(
                customer_id, program.id, phone, command.name, command.birthday, command.attributes
            )
            if not created:
                existing = await store.find_customer_by_phone(program.id, phone)
                return refuse(
                    Rejection.customer_exists,
                    "A customer with this phone is already enrolled.",
                    customer_id=str(existing),
                )
            if command.card_number and not await issue_card(
                store, program.id, command.card_number, customer_id, actor
            ):
                raise RetryTransaction  # another enrollment took the card after our check
            if command.referred_by is not None:
                referred = await store.set_referrer(customer_id, command.referred_by)
                invariant(referred, "a referrer checked in this transaction can be recorded")
            await grant_welcome(store, customer_id, program.id)
            return Accepted(value=await store.get_customer(customer_id, None), created=True)

        return await self.runner.run(mutation, None, work, render)

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

        async def work(store: Store) -> Outcome:
            customer = await customer_or_refusal(store, actor, customer_id)
            if isinstance(customer, Refused):
                return customer
            if not await issue_card(store, customer.program_id, number, customer_id, actor):
                return refuse(Rejection.card_exists, "This card number is already in use.")
            return Accepted(value=await store.get_customer(customer_id, None), created=True)

        return await self.runner.run(mutation, None, work, render)

    async def set_card_status(
        self, mutation: Mutation, number: str, blocked: bool, reason: str, render: Render
    ) -> StoredResponse:
        actor = mutation.actor

        async def work(store: Store) -> Outcome:
            program_id = program_of(actor)
            if isinstance(program_id, Refused):
                return program_id
            card = await store.lock_card(program_id, number)
            if card is None:
                return refuse(Rejection.card_not_found, "No card with this number.")
            if blocked and card["status"] == "blocked":
                return refuse(Rejection.card_blocked, "The card is already blocked.")
            if not blocked and card["status"] != "blocked":
                return refuse(Rejection.card_not_blocked, "The card is not blocked.")
            status = "blocked" if blocked else "active"
            await store.set_card_status(card["program_id"], number, status, reason, actor.key_id)
            return Accepted(value=await journal(store, card["program_id"], number))

        return await self.runner.run(mutation, None, work, render)

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
        is also logged with the key that made it (once: a replay does not run this again)."""

        async def work(store: CustomerStore, locked: LockedAccount) -> Outcome:
            await store.set_account_block(customer_id, reason if blocked else None)
            log.info(
                "account_block_changed",
                customer_id=str(customer_id),
                blocked=blocked,
                reason=reason,
                key_id=str(mutation.actor.key_id),
            )
            return Accepted(value=await store.get_customer(customer_id, None))

        return await self.runner.on_customer(mutation, customer_id, work, render)


async def issue_card(
    store: CustomerStore, program_id: UUID, number: str, customer_id: UUID, actor: Actor
) -> bool:
    if not await store.insert_card(program_id, number, customer_id):
        return False
    await store.set_card_status(program_id, number, "active", "issued", actor.key_id)
    return True


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
