"""Bonuses: points for what is not a purchase. ``welcome`` is granted inside the enrollment,
``referral`` inside the referred customer's first purchase (to both sides), ``birthday`` and
named events (review, newsletter, custom) through ``POST .../events``. Each is
granted at most once per period of its rule; the grant is claimed by the same write as the
accrual it makes, with a primary key behind it. An event is decided on its snapshot
(``event_in_turn``), the welcome bonus on the enrollment's new account (``welcome_grant``),
the referral bonus inside the first purchase's transaction (``grant``), all with the same
``grant_change``."""

from uuid import UUID

import msgspec

from processing.core.bonuses import birthday_year, period_of
from processing.core.ledger import decide_accrue
from processing.core.model import OperationType, Rejected
from processing.core.rejections import Rejection
from processing.service.ledger.decisions import (
    document_refusal,
    operation_record,
    posting_change,
    refused_by,
)
from processing.service.mutations import Decided, Mutation, MutationRunner, Render, Target
from processing.service.ports import (
    BonusGrant,
    Database,
    LockedAccount,
    RetryTransaction,
    Snapshot,
    Store,
)
from processing.service.records import (
    Accepted,
    Actor,
    Document,
    Outcome,
    Refused,
    RulesRecord,
    StoredResponse,
    refuse,
)

welcome = "welcome"
birthday = "birthday"


class EventCommand(msgspec.Struct, frozen=True, kw_only=True):
    type: str
    document: Document


def grant_change(
    locked: LockedAccount,
    actor: Actor | None,
    record: RulesRecord,
    grant: BonusGrant,
    points: int,
    document: Document | None,
    reason: str | None = None,
) -> Decided | Refused:
    """Accrues ``points`` for the bonus, claiming it for its period. The points are active at
    once and expire by the rules; the operation records their version."""
    expiry = record.rules.expiry  # of the version the operation records: see expiry_in_force
    decision = decide_accrue(locked.account, points, None, None, expiry, locked.now)
    if isinstance(decision, Rejected):
        return refused_by(decision)
    operation, change = posting_change(
        locked,
        actor,
        OperationType.accrual,
        decision,
        document=document,
        reason=reason or f"{grant.kind} bonus",
        rules_version=record.version,
    )
    accepted = Accepted(
        value=operation_record(operation, "completed"),
        created=True,
        movement="issued",
        points=points,
    )
    return Decided(change=change, outcome=accepted, grant=grant)


def already_granted(grant: BonusGrant) -> Refused:
    return refuse(
        Rejection.bonus_already_granted,
        f"The {grant.kind} bonus was already granted ({grant.period}).",
    )


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
    """On the locked path (an enrollment's welcome, a first purchase's referral): writes what
    ``grant_change`` decides unless the bonus was granted in ``period`` already."""
    claimed = BonusGrant(kind=kind, period=period)
    if await store.bonus_granted(locked.account.id, kind, period):
        return already_granted(claimed)
    decided = grant_change(locked, actor, record, claimed, points, document, reason)
    if not isinstance(decided, Decided):
        return decided
    await store.write(decided.change)
    operation_id = decided.change.operation.id
    if not await store.insert_bonus_grant(locked.account.id, kind, period, operation_id):
        raise RetryTransaction  # granted by a transaction the row lock did not order before us
    return decided.outcome


def event_in_turn(snapshot: Snapshot, actor: Actor, command: EventCommand) -> Decided | Outcome:
    """The bonus the rules define for an event, on its snapshot (loaded priced, with the
    event's grants and the customer's birthday), as often as its rule allows."""
    locked, record = snapshot.locked, snapshot.rules
    if locked is None:
        return refuse(Rejection.not_found, "No customer with this id.")
    existing = snapshot.document_operation
    refused = document_refusal(OperationType.accrual, command.document, existing)
    if refused is not None:
        return refused
    if record is None:
        raise AssertionError("a bonus event is loaded priced")
    bonuses = record.rules.bonuses
    if command.type == birthday:
        if bonuses.birthday <= 0:
            return refuse(
                Rejection.bonus_not_configured,
                "The program's rules grant no birthday bonus.",
                field="type",
            )
        born = snapshot.birthday
        year = birthday_year(born, locked.now.date()) if born is not None else None
        if year is None:
            return refuse(
                Rejection.not_birthday_week,
                "The birthday bonus is granted from three days before the customer's birthday "
                "to three days after it"
                + ("." if born is not None else "; the customer has no birthday on file."),
            )
        claimed, points = BonusGrant(kind=birthday, period=str(year)), bonuses.birthday
    else:
        bonus = bonuses.events.get(command.type)
        if bonus is None or command.type == welcome:
            return refuse(
                Rejection.bonus_not_configured,
                f"The program's rules grant no bonus for the event {command.type!r}.",
                field="type",
            )
        period = period_of(bonus.every, locked.now)
        claimed, points = BonusGrant(kind=command.type, period=period), bonus.points
    if claimed.period in snapshot.bonus_periods:
        return already_granted(claimed)
    return grant_change(locked, actor, record, claimed, points, command.document)


def welcome_grant(locked: LockedAccount, record: RulesRecord) -> Decided | None:
    """The welcome bonus on a new customer's empty account, when the rules grant one (and a
    bound of the account does not refuse it: the enrollment stands without it)."""
    points = record.rules.bonuses.welcome
    if points <= 0:
        return None
    claimed = BonusGrant(kind=welcome, period="once")
    decided = grant_change(locked, None, record, claimed, points, None)
    return decided if isinstance(decided, Decided) else None


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

        def decide(snapshot: Snapshot) -> Decided | Outcome:
            return event_in_turn(snapshot, mutation.actor, command)

        target = Target(
            account_id=customer_id,
            document_id=command.document.id,
            document_type=OperationType.accrual,
            priced=True,
            bonus=command.type,
        )
        return await self.runner.in_turn(mutation, target, decide, render)
