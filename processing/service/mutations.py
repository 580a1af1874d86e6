"""One path for every mutating request: load what the decision needs, decide in the pure core,
apply the decision with its answer under the idempotency key — no interleaving of I/O with
the decision, and no transaction when nothing races.

A ledger write (``in_turn``) runs under the account's turn: one statement loads its snapshot,
one applies the plan with the answer, guarded by the account's row version: two round trips.
A plan that finds the account changed is decided again on a fresh load, and after that the
same load, decision and apply run in one transaction under the account's row lock (the locked
turn). Every other change (``change``: customers, cards, programs, keys, webhooks, SMS checks)
finds its stored answer, loads, decides, and writes with its answer in one statement that
guards the row its decision rests on (decision 0017).

Same key and same body: the stored answer, byte for byte, rejections included. Same key and
another body: ``idempotency_key_reused``. Same key while the first is in flight:
``idempotency_request_in_progress``. Neither of these two is stored.
"""

import asyncio
import enum
import hashlib
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager, nullcontext
from dataclasses import dataclass
from typing import Generic, TypeVar
from uuid import UUID

import msgspec

from processing import telemetry
from processing.core.invariants import invariant
from processing.core.rejections import Rejection
from processing.core.returns import ReturnPlan
from processing.service.ports import (
    AccountLocks,
    Answer,
    Applied,
    BonusGrant,
    Database,
    DatabaseUnavailable,
    Event,
    HoldChange,
    KeyCharge,
    LedgerWrite,
    Plan,
    PurchaseChange,
    RetryTransaction,
    Snapshot,
    Store,
    Turns,
)
from processing.service.records import (
    Accepted,
    Actor,
    Outcome,
    Refused,
    StoredResponse,
)

Render = Callable[[Outcome], StoredResponse]
Attempted = TypeVar("Attempted")
Facts = TypeVar("Facts")
# After Postgres restarts, the pool's idle connections are dead: the first use of each fails.
# One more try on a fresh connection hides that from the caller, and is safe even when the
# failure came at COMMIT: the retry finds the stored answer under the idempotency key.
unavailable_retry_pause_seconds = 0.05
# A plan that found its account changed is decided once more on a fresh load under the turn;
# after that the locked turn takes the request, which waits for the row lock instead.
turn_attempts_max = 2
# A change outside the ledger that lost its race (its key answered meanwhile, a unique row
# taken, a guarded row changed) is decided again on a fresh load, which sees the winner; after
# this many losses in a row the caller is asked to send it again.
change_attempts_max = 3
# Which account a hold or an operation belongs to never changes. Remembered, a commit, cancel or
# refund takes its account's turn before it loads, as a reserve does; otherwise it loads once,
# outside the turn, to learn it.
owners_max = 100_000


_in_progress = Refused(
    rejection=Rejection.idempotency_request_in_progress,
    detail="A request with this Idempotency-Key is still being processed.",
)
_kept_losing = Refused(
    rejection=Rejection.idempotency_request_in_progress,
    detail="Concurrent requests kept changing what this one decides on; send it again with "
    "the same Idempotency-Key.",
)


class Decided(msgspec.Struct, frozen=True, kw_only=True):
    """What a decision on a snapshot writes: an operation with everything it changed, the hold
    it opens or resolves, the points its key creates, the purchase it records with the events
    that go with it, and the outcome it answers with (or ``over_day_limit`` when those points
    would pass the key's bound for the day)."""

    change: LedgerWrite
    outcome: Accepted
    hold: HoldChange = HoldChange()
    charge: KeyCharge | None = None
    over_day_limit: Refused | None = None
    refunded: int | None = None  # what a refund takes from the operation it refunds
    given_back: int = 0  # of its redeemed points, what a return gives back to it
    purchase: PurchaseChange | None = None  # the receipt a purchase records
    returns: ReturnPlan | None = None  # the lines a return takes back
    grant: BonusGrant | None = None  # the bonus an accrual claims for its period
    events: tuple[Event, ...] = ()  # told after the operation's own events


class Target(msgspec.Struct, frozen=True, kw_only=True):
    """What a write in turn loads: its account, or the hold that names it, and its document."""

    account_id: UUID | None = None
    hold_id: UUID | None = None
    document_id: str | None = None
    document_type: str | None = None  # the operation type whose use of the document is checked
    card_number: str | None = None
    operation_id: UUID | None = None  # the operation a refund names, which names its account
    priced: bool = False  # it prices a receipt: load the rules in force
    ranked: bool = False  # and it ranks the customer's tier: load their standing too
    returns: bool = False  # it returns lines of the operation: load the purchase it made
    bonus: str | None = None  # it grants this bonus: load the periods it was granted in
    promo_codes: tuple[str, ...] = ()  # the promo codes it names (normalized): load them


class Declined(enum.Enum):
    """Why a write in turn was not applied: its decision needs another load (``locked_path``
    takes it), or it kept losing races (the locked turn takes it)."""

    unsupported = "the decision needs more than the snapshot"  # the decision returned None
    conflict = "the account changed between load and apply"


# A decision on a snapshot: a plan, an outcome that writes nothing but the answer, or None when
# the request needs what the snapshot does not have (``in_turn``'s ``locked_path`` takes it).
Decide = Callable[[Snapshot], Decided | Outcome | None]
# What a plan applied on the locked turn writes after it in the same transaction; returns the
# outcome to count (the answer is the plan's, stored with it).
Then = Callable[[Store, Snapshot, Decided], Awaitable[Accepted]]
LockedPath = Callable[[], Awaitable[StoredResponse]]
# What a plan on the locked turn loads beyond its snapshot before it is decided, under locks of
# its own (the gift certificates a purchase pays with, decision 0033).
Prepare = Callable[[Store], Awaitable[None]]


# Writes a decided change with its answer in one statement; False when it wrote nothing because
# the key answered meanwhile or what the decision read changed (``Change``).
Write = Callable[[Store, Answer], Awaitable[bool]]


@dataclass(frozen=True, slots=True)
class Change:
    """A decided write outside the ledger's postings: the outcome it answers with, and the one
    statement that writes it together with that answer. The outcome is usually accepted; a
    refusal that writes (a wrong SMS code counts its try) is a change too."""

    outcome: Outcome
    write: Write


@dataclass(frozen=True, slots=True)
class Decision(Generic[Facts]):
    """How a write outside the ledger is decided: ``load`` reads in one statement what the
    decision needs (nothing written, no lock), ``decide`` is the pure decision on it: a
    ``Change``, or an outcome that writes nothing but its answer (a refusal, say)."""

    load: Callable[[Store], Awaitable[Facts]]
    decide: Callable[[Facts], Change | Outcome]


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
        self.owners: dict[UUID, UUID] = {}  # hold or operation → its account

    def _turn(self, account_id: UUID | None) -> AbstractAsyncContextManager[None]:
        return nullcontext() if account_id is None else self.locks.around(account_id)

    async def in_turn(
        self,
        mutation: Mutation,
        target: Target,
        decide: Decide,
        render: Render,
        locked_path: LockedPath | None = None,
    ) -> StoredResponse:
        """Load, decide, apply under the account's turn, in two round trips when nothing
        races. A request that keeps losing races (or met a dead connection) is decided once
        more the same way under the account's row lock (``_locked_turn``); one the snapshot
        cannot decide goes to ``locked_path``."""
        account_id = target.account_id
        named = target.hold_id or target.operation_id
        if account_id is None and named is not None:
            account_id = self.owners.get(named)
        snapshot = None
        result: StoredResponse | Declined = Declined.conflict
        try:
            if account_id is None:
                snapshot = await self._load(mutation, target)
                account_id = snapshot.locked.account.id if snapshot.locked else None
            async with self._turn(account_id):
                for _ in range(turn_attempts_max):
                    result = await self._attempt(mutation, target, snapshot, decide, render)
                    if result is not Declined.conflict:
                        break
                    snapshot = None
        except DatabaseUnavailable:
            await asyncio.sleep(unavailable_retry_pause_seconds)
        if result is Declined.conflict:
            result = await self._retrying(
                account_id,
                lambda: self._locked_turn(mutation, target, account_id, decide, render),
            )
        if not isinstance(result, Declined):
            return result
        if locked_path is None:
            raise AssertionError("a use case whose snapshot can decline it has a locked path")
        return await locked_path()

    async def _load(self, mutation: Mutation, target: Target) -> Snapshot:
        async with self.database.reader() as store:
            return await self.load_on(store, mutation, target)

    async def load_on(self, store: Turns, mutation: Mutation, target: Target) -> Snapshot:
        actor = mutation.actor
        return await store.load_turn(
            actor.key_id,
            mutation.idempotency_key,
            target.account_id,
            target.hold_id,
            actor.program_id,
            actor.store_id,
            target.document_id,
            target.document_type,
            target.card_number,
            target.operation_id,
            target.priced,
            target.ranked,
            target.returns,
            target.bonus,
            target.promo_codes,
        )

    async def _attempt(
        self,
        mutation: Mutation,
        target: Target,
        snapshot: Snapshot | None,
        decide: Decide,
        render: Render,
    ) -> StoredResponse | Declined:
        async with self.database.reader() as store:
            if snapshot is None:
                snapshot = await self.load_on(store, mutation, target)
            if snapshot.answer is not None:
                return self._replay(mutation, *snapshot.answer, render)
            decided = decide(snapshot)
            if decided is None:
                return Declined.unsupported
            written = await self._write(store, mutation, snapshot, decided, render)
        if written is None:
            return Declined.conflict
        outcome, response = written
        self._remember(snapshot, decided)
        _count(outcome)
        return response

    async def _write(
        self,
        store: Turns,
        mutation: Mutation,
        snapshot: Snapshot,
        decided: Decided | Outcome,
        render: Render,
    ) -> tuple[Outcome, StoredResponse] | None:
        """Applies a plan, or stores an outcome that writes nothing but its answer; None when
        the snapshot was stale or the key or document took effect meanwhile."""
        key_id, key, fingerprint = (
            mutation.actor.key_id,
            mutation.idempotency_key,
            mutation.fingerprint,
        )
        if not isinstance(decided, Decided):
            response = render(decided)
            stored = await store.store_answer(key_id, key, fingerprint, response)
            return (decided, response) if stored else None
        response = render(decided.outcome)
        invariant(snapshot.version is not None, "a plan is decided on an account that was found")
        plan = plan_of(
            decided,
            snapshot.version or 0,
            Answer(key_id=key_id, key=key, fingerprint=fingerprint, response=response),
        )
        applied = await store.apply_plan(plan)
        if applied is Applied.over_day_limit:
            refused = decided.over_day_limit
            invariant(refused is not None, "only a plan that counts key points passes a bound")
            return (
                None
                if refused is None
                else await self._write(store, mutation, snapshot, refused, render)
            )
        return (decided.outcome, response) if applied is Applied.applied else None

    def _remember(self, snapshot: Snapshot, decided: Decided | Outcome) -> None:
        owned = [(held.id, held.account_id) for held in (snapshot.hold, snapshot.original) if held]
        if isinstance(decided, Decided):
            operation, opened = decided.change.operation, decided.hold.opened
            owned.append((operation.id, operation.account_id))
            if opened is not None:
                owned.append((opened.id, opened.account_id))
        for named, account_id in owned:
            if len(self.owners) >= owners_max:
                del self.owners[next(iter(self.owners))]
            self.owners[named] = account_id

    async def _retrying(
        self, account_id: UUID | None, transaction: Callable[[], Awaitable[Attempted]]
    ) -> Attempted:
        """A transaction under the account's turn, run once more if it lost a race it could
        see only after rolling back (a unique document: the winner is then seen) or met a dead
        connection."""
        async with self._turn(account_id):
            try:
                return await transaction()
            except RetryTransaction:
                return await transaction()
            except DatabaseUnavailable:
                await asyncio.sleep(unavailable_retry_pause_seconds)
                return await transaction()

    async def _locked_turn(
        self,
        mutation: Mutation,
        target: Target,
        account_id: UUID | None,
        decide: Decide,
        render: Render,
        then: Then | None = None,
        prepare: Prepare | None = None,
    ) -> StoredResponse | Declined:
        """The same load, decision and apply in one transaction that holds the account's row
        lock from before the load to the commit: no race left to lose. A plan that still
        writes nothing met a unique document or key taken meanwhile, seen after the rollback.
        ``then`` writes what the plan cannot carry, after it in the same transaction."""
        key_id, key = mutation.actor.key_id, mutation.idempotency_key
        async with self.database.transaction() as store:
            if not await store.claim_key(key_id, key):
                return render(_in_progress)
            if account_id is not None:
                await store.lock_turn(account_id)
            snapshot = await self.load_on(store, mutation, target)
            found = snapshot.locked.account.id if snapshot.locked else None
            if account_id is None and found is not None:  # learned by this load: lock, reload
                await store.lock_turn(found)
                snapshot = await self.load_on(store, mutation, target)
            if snapshot.answer is not None:
                return self._replay(mutation, *snapshot.answer, render)
            if prepare is not None:
                await prepare(store)
            decided = decide(snapshot)
            if decided is None:
                return Declined.unsupported
            written = await self._write(store, mutation, snapshot, decided, render)
            if written is None:
                raise RetryTransaction("the plan's document or key was taken meanwhile")
            outcome, response = written
            if then is not None and isinstance(decided, Decided):
                outcome = await then(store, snapshot, decided)
        self._remember(snapshot, decided)
        _count(outcome)
        return response

    async def locked(
        self,
        mutation: Mutation,
        target: Target,
        decide: Decide,
        render: Render,
        then: Then,
        prepare: Prepare | None = None,
    ) -> StoredResponse:
        """The locked turn for a plan that needs writes one account's plan cannot carry (a
        referred customer's first purchase also grants on the referrer's account; gift
        certificates a purchase pays with): ``prepare`` locks and loads what the decision needs
        beyond the snapshot, ``decide`` as in turn, then ``then`` in the same transaction."""
        named = target.hold_id or target.operation_id
        account_id = target.account_id or (None if named is None else self.owners.get(named))
        result = await self._retrying(
            account_id,
            lambda: self._locked_turn(mutation, target, account_id, decide, render, then, prepare),
        )
        if isinstance(result, Declined):
            raise AssertionError("a locked decision decides on any snapshot")
        return result

    async def change(
        self,
        mutation: Mutation,
        decision: Decision[Facts],
        render: Render,
        account_id: UUID | None = None,
    ) -> StoredResponse:
        """Load → decide → apply for a write outside the ledger's postings (a customer, a card,
        a program, a key, a webhook): the key's stored answer (a replay ends there), the facts,
        the pure decision, and one statement that writes the change with its answer (three
        round trips, no transaction). A write that lost a race wrote nothing and is decided
        again on a fresh load, which sees the winner.

        A change guarded by an account's version (a block, a manual tier) names the account:
        it takes the account's turn, as the ledger's writes do, and after two lost races it is
        decided once more under the account's row lock (``_locked_change``), so that a busy
        account cannot starve it. Any other change that keeps losing is asked to be sent
        again."""
        result: StoredResponse | None = None
        attempts = turn_attempts_max if account_id else change_attempts_max
        async with self._turn(account_id):
            for attempt in range(attempts):
                try:
                    async with self.database.reader() as store:
                        result = await self._decide_change(store, mutation, decision, render)
                except DatabaseUnavailable:
                    # A dead pooled connection, or a reply lost after the write committed: the
                    # next attempt runs on a fresh one and finds the answer if it was stored.
                    if attempt + 1 == attempts:
                        raise
                    await asyncio.sleep(unavailable_retry_pause_seconds)
                    continue
                if result is not None:
                    return result
        if account_id is None:
            return render(_kept_losing)
        return await self._retrying(
            account_id, lambda: self._locked_change(mutation, decision, render, account_id)
        )

    async def _locked_change(
        self, mutation: Mutation, decision: Decision[Facts], render: Render, account_id: UUID
    ) -> StoredResponse:
        """The same load, decision and write in one transaction that claims the key and holds
        the account's row lock from before the load: the version it decides on stays."""
        async with self.database.transaction() as store:
            if not await store.claim_key(mutation.actor.key_id, mutation.idempotency_key):
                return render(_in_progress)
            await store.lock_turn(account_id)
            result = await self._decide_change(store, mutation, decision, render)
            if result is None:
                raise RetryTransaction("the change's key or unique row was taken meanwhile")
        return result

    async def serialized_change(
        self,
        mutation: Mutation,
        decision: Decision[Facts],
        render: Render,
        serialize: Callable[[Store], Awaitable[None]],
    ) -> StoredResponse:
        """A change whose decision rests on rows no single row lock guards (a period that no
        closed statement overlaps): in one transaction that claims the key, then waits for
        ``serialize`` (a lock every such change takes) before its load, so the second of two
        racing changes loads after the first committed and decides on what it wrote."""

        async def transaction() -> StoredResponse:
            async with self.database.transaction() as store:
                if not await store.claim_key(mutation.actor.key_id, mutation.idempotency_key):
                    return render(_in_progress)
                await serialize(store)
                result = await self._decide_change(store, mutation, decision, render)
                if result is None:
                    raise RetryTransaction("the change's key was answered meanwhile")
            return result

        return await self._retrying(None, transaction)

    async def _decide_change(
        self, store: Store, mutation: Mutation, decision: Decision[Facts], render: Render
    ) -> StoredResponse | None:
        """One load, decision and write of a change; None when the write lost its race."""
        key_id, key = mutation.actor.key_id, mutation.idempotency_key
        found = await store.find_key(key_id, key)
        if found is not None:
            return self._replay(mutation, *found, render)
        decided = decision.decide(await decision.load(store))
        outcome = decided.outcome if isinstance(decided, Change) else decided
        response = render(outcome)
        if isinstance(decided, Change):
            answer = Answer(
                key_id=key_id, key=key, fingerprint=mutation.fingerprint, response=response
            )
            written = await decided.write(store, answer)
        else:
            written = await store.store_answer(key_id, key, mutation.fingerprint, response)
        if not written:
            return None
        _count(outcome)
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


def plan_of(decided: Decided, version: int, answer: Answer) -> Plan:
    """The plan that writes a decision on an account at ``version``, with its answer."""
    return Plan(
        change=decided.change,
        hold=decided.hold,
        version=version,
        key_id=answer.key_id,
        key=answer.key,
        fingerprint=answer.fingerprint,
        answer=answer.response,
        charge=decided.charge,
        refunded=decided.refunded,
        given_back=decided.given_back,
        purchase=decided.purchase,
        returns=decided.returns,
        grant=decided.grant,
        events=decided.events,
    )


def _count(outcome: Outcome) -> None:
    """The metrics of an outcome once it is stored."""
    if isinstance(outcome, Accepted):
        moved = ((outcome.movement, outcome.points),) if outcome.movement else ()
        for movement, points in moved + outcome.more_movements:
            telemetry.points_moved_total.labels(movement=movement).inc(points)
    elif outcome.rejection is Rejection.points_limit_exceeded and outcome.extra:
        telemetry.points_limit_refusals_total.labels(limit=outcome.extra["limit"]).inc()
