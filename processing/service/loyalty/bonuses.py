"""Bonuses: points for what is not a purchase. ``welcome`` is granted inside the enrollment,
``referral`` inside the referred customer's first purchase (to both sides), ``birthday`` and
named events (review, newsletter, custom) through ``POST .../events``. Each is
granted at most once per period of its rule; the grant is claimed in the same transaction as
the accrual it makes, under the account's row lock, with a primary key behind it."""

from uuid import UUID

import msgspec

from processing.core.bonuses import birthday_year, period_of
from processing.core.ledger import decide_accrue
from processing.core.model import OperationType, Rejected
from processing.core.rejections import Rejection
from processing.service.ledger.decisions import operation_record, refused_by
from processing.service.ledger.use_cases import check_document, write_posting
from processing.service.mutations import Mutation, MutationRunner, Render
from processing.service.ports import Database, LockedAccount, RetryTransaction, Store
from processing.service.records import (
    Accepted,
    Actor,
    Document,
    Outcome,
    RulesRecord,
    StoredResponse,
    refuse,
)
from processing.service.rules import current_rules

welcome = "welcome"
birthday = "birthday"


class EventCommand(msgspec.Struct, frozen=True, kw_only=True):
    type: str
    document: Document


async def grant(
    store: Store,
    locked: LockedAccount,
    actor: Actor | None,
    record: RulesRecord,
    kind: str,
    period: str,
    points: int,
    document: Document | None,
    reason: str | None = None,
) -> Outcome:
    """Accrues ``points`` for bonus ``kind`` unless it was granted in ``period`` already. The
    points are active at once and expire by the rules; the operation records their version."""
    account_id = locked.account.id
    if await store.bonus_granted(account_id, kind, period):
        return refuse(
            Rejection.bonus_already_granted, f"The {kind} bonus was already granted ({period})."
        )
    expiry = record.rules.expiry  # of the version the operation records: see expiry_in_force
    decision = decide_accrue(locked.account, points, None, None, expiry, locked.now)
    if isinstance(decision, Rejected):
        return refused_by(decision)
    operation = await write_posting(
        store,
        locked,
        actor,
        OperationType.accrual,
        decision,
        document=document,
        reason=reason or f"{kind} bonus",
        rules_version=record.version,
    )
    if not await store.insert_bonus_grant(account_id, kind, period, operation.id):
        raise RetryTransaction  # granted by a transaction the row lock did not order before us
    return Accepted(
        value=operation_record(operation, "completed"),
        created=True,
        movement="issued",
        points=points,
    )


async def grant_welcome(store: Store, customer_id: UUID, program_id: UUID) -> None:
    """Inside an enrollment's transaction: the welcome bonus, when the rules grant one."""
    record = await current_rules(store, program_id)
    if record.rules.bonuses.welcome <= 0:
        return
    locked = await store.lock_account(customer_id, program_id)
    if locked is None:
        raise RuntimeError("an enrollment's own account is missing in its transaction")
    await grant(store, locked, None, record, welcome, "once", record.rules.bonuses.welcome, None)


async def grant_referral(
    store: Store, customer_id: UUID, program_id: UUID, record: RulesRecord
) -> int:
    """Inside a purchase's transaction: when it is the customer's first purchase and someone
    referred them, the referral bonus for both; returns the points granted. The purchase stands
    whatever these grants say (a blocked referrer, say, simply gets nothing)."""
    referral = record.rules.bonuses.referral
    if referral.referrer <= 0 and referral.referred <= 0:
        return 0
    referrer_id = await store.referral_due(customer_id)
    if referrer_id is None:
        return 0
    granted = 0
    # Referred before referrer: a referrer enrolled first, so locks are always taken from the
    # newer customer to the older one and two purchases cannot wait on each other in a cycle.
    for account_id, kind, points in (
        (customer_id, "referral", referral.referred),
        (referrer_id, f"referral:{customer_id}", referral.referrer),
    ):
        locked = await store.lock_account(account_id, program_id) if points > 0 else None
        if locked is not None:
            outcome = await grant(
                store, locked, None, record, kind, "once", points, None, "referral bonus"
            )
            granted += points if isinstance(outcome, Accepted) else 0
    return granted


class Bonuses:
    def __init__(self, database: Database, runner: MutationRunner) -> None:
        self.database = database
        self.runner = runner

    async def event(
        self, mutation: Mutation, customer_id: UUID, command: EventCommand, render: Render
    ) -> StoredResponse:
        """Grants the bonus the rules define for an event, as often as its rule allows."""
        actor = mutation.actor

        async def work(store: Store, locked: LockedAccount) -> Outcome:
            refused = await check_document(
                store, locked.program_id, actor, OperationType.accrual, command.document
            )
            if refused is not None:
                return refused
            record = await current_rules(store, locked.program_id)
            if command.type == birthday:
                return await self._birthday(store, locked, actor, record, command)
            bonus = record.rules.bonuses.events.get(command.type)
            if bonus is None or command.type == welcome:
                return refuse(
                    Rejection.bonus_not_configured,
                    f"The program's rules grant no bonus for the event {command.type!r}.",
                    field="type",
                )
            period = period_of(bonus.every, locked.now)
            return await grant(
                store, locked, actor, record, command.type, period, bonus.points, command.document
            )

        return await self.runner.on_customer(mutation, customer_id, work, render)

    async def _birthday(
        self,
        store: Store,
        locked: LockedAccount,
        actor: Actor,
        record: RulesRecord,
        command: EventCommand,
    ) -> Outcome:
        if record.rules.bonuses.birthday <= 0:
            return refuse(
                Rejection.bonus_not_configured,
                "The program's rules grant no birthday bonus.",
                field="type",
            )
        customer = await store.get_customer(locked.account.id, locked.program_id)
        born = customer.birthday if customer is not None else None
        year = birthday_year(born, locked.now.date()) if born is not None else None
        if year is None:
            return refuse(
                Rejection.not_birthday_week,
                "The birthday bonus is granted from three days before the customer's birthday "
                "to three days after it"
                + ("." if born is not None else "; the customer has no birthday on file."),
            )
        return await grant(
            store,
            locked,
            actor,
            record,
            birthday,
            str(year),
            record.rules.bonuses.birthday,
            command.document,
        )
