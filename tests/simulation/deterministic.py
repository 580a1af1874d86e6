"""A deterministic simulation of the write path, after TigerBeetle's VOPR: one seed decides every
request, every fault and every tick of the clock, and the real use cases (reserve, commit and
cancel through ``MutationRunner``) run on a plan writer that is memory or Postgres.

Faults, each at most once per request: the answer lost after the apply took effect (the caller
sees an error and retries under the same key), a restart between decide and apply (the plan is
dropped, the runner's memory with it, and the request comes again), a concurrent change between
load and apply (the plan is stale; the runner decides again), a retried request (a replay of an
earlier key, which must answer the same bytes and write nothing), a key reused for another body,
and the clock jumping past the holds' expiry. After every step the invariants are checked on
what the step wrote (``memory_backend.py``; on Postgres, the accounts the step names), and on
the whole ledger every ``full_check_every`` steps (or a tenth of the steps so far, when that is
more) and at the end.

Run one seed again from the seed alone: ``BONUS_SIM_SEED=<seed> BONUS_SIM_OPERATIONS=<n>``
(see ``test_deterministic.py``); a failure names its seed and step.
"""

import enum
import gc
import hashlib
import itertools
import random
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from contextlib import AbstractAsyncContextManager, contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol, cast
from unittest import mock
from uuid import UUID

import msgspec

from processing.adapters.memory import turns as memory_turns
from processing.core.holds import decide_hold_expiry
from processing.core.model import HoldStatus
from processing.service.ledger import decisions as ledger_decisions
from processing.service.ledger.decisions import (
    AccrualCommand,
    AdjustmentCommand,
    RefundCommand,
    ReserveCommand,
    release_change,
)
from processing.service.ledger.use_cases import Ledger
from processing.service.loyalty.use_cases import CommitCommand, Loyalty
from processing.service.mutations import Mutation, MutationRunner, fingerprint
from processing.service.ports import AccountLocks, Applied, Database, HoldChange, Plan, Store
from processing.service.records import Accepted, Actor, Document, StoredResponse
from tests.turns_backends import render

# Steps between recounts of the whole ledger, or a tenth of the steps so far when that is more:
# a recount walks everything written (0.2 s at 100,000 operations), so a fixed interval makes a
# long run quadratic, while the checks after every step already cover what each step wrote.
full_check_every = 10_000
freeze_every = 1_000  # steps between moving what the ledger holds out of the collector's way
sent_kept_max = 100_000  # the requests a replay or a reused key may pick


class Fault(enum.Enum):
    lost_answer = "the apply took effect, the answer was lost"
    restart = "the process restarted between decide and apply"
    concurrent = "another write changed the account between load and apply"


all_faults = tuple(Fault)


class LostAnswer(Exception):
    """The caller never saw the answer of a write that took effect."""


class Restarted(Exception):
    """The process died holding a decided plan, before it was applied."""


@dataclass
class Faults:
    pending: Fault | None = None
    # Another write on the account, in between load and apply.
    interfere: Callable[[UUID], Awaitable[None]] | None = None
    injected: Counter[Fault] = field(default_factory=Counter)


class FaultyStore:
    """The plan writer as the runner sees it, with the fault the simulation asked for."""

    def __init__(self, inner: Any, faults: Faults) -> None:
        self.inner = inner
        self.faults = faults
        self.load_turn = inner.load_turn  # every request loads: bound once, not per call

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def _take(self) -> Fault | None:
        fault, self.faults.pending = self.faults.pending, None
        if fault is not None:
            self.faults.injected[fault] += 1
        return fault

    async def apply_plan(self, plan: Plan) -> Applied:
        fault = self._take()
        if fault is Fault.restart:
            raise Restarted
        if fault is Fault.concurrent and self.faults.interfere is not None:
            await self.faults.interfere(plan.change.operation.account_id)
        applied: Applied = await self.inner.apply_plan(plan)
        if fault is Fault.lost_answer and applied is Applied.applied:
            raise LostAnswer
        return applied

    async def store_answer(self, *arguments: Any) -> bool:
        fault = self._take()
        if fault is Fault.restart:
            raise Restarted
        stored = bool(await self.inner.store_answer(*arguments))
        if fault is Fault.lost_answer and stored:
            raise LostAnswer
        return stored


class FaultyDatabase:
    """A ``Database`` whose readers carry the faults."""

    def __init__(self, inner: Database, faults: Faults) -> None:
        self.inner = inner
        self.faults = faults

    def reader(self) -> AbstractAsyncContextManager[Store]:
        return FaultyReader(self.inner.reader(), self.faults)

    def transaction(self) -> AbstractAsyncContextManager[Store]:
        return self.inner.transaction()

    def snapshot(self) -> AbstractAsyncContextManager[Store]:
        return self.inner.snapshot()


class FaultyReader(AbstractAsyncContextManager[Store]):
    """The inner reader with its store wrapped; a class rather than a generator, which costs
    several times as much to enter, twice per request."""

    def __init__(self, inner: AbstractAsyncContextManager[Store], faults: Faults) -> None:
        self.inner = inner
        self.faults = faults

    async def __aenter__(self) -> Store:
        return cast(Store, FaultyStore(await self.inner.__aenter__(), self.faults))

    async def __aexit__(self, *exception: Any) -> bool | None:
        return await self.inner.__aexit__(*exception)


class Backend(Protocol):
    """Where the simulation runs: the plan writer, and what only the backend can do."""

    database: Database
    locks: AccountLocks
    actor: Actor  # a till's key
    operator: Actor  # an operator's key, for adjustments

    async def account(self, points: int) -> UUID: ...
    async def fund(self, account_id: UUID, points: int) -> None: ...
    async def interfere(self, account_id: UUID) -> None: ...
    async def tick(self, rng: random.Random) -> None: ...
    async def jump(self, rng: random.Random, hold_ids: list[UUID]) -> None: ...
    async def operations(self) -> int: ...
    async def owner(self, operation_id: UUID) -> list[UUID]: ...
    async def answer(self, key: str) -> tuple[bytes, bytes] | None: ...
    async def check(self, touched: set[UUID]) -> None: ...
    async def check_all(self, answers: dict[str, tuple[bytes, bytes]]) -> None: ...


@contextmanager
def seeded_ids(rng: random.Random) -> Iterator[None]:
    """Ids drawn from the seed, so a run is the same run, byte for byte, every time."""

    def uuid4() -> UUID:
        return UUID(int=rng.getrandbits(128), version=4)

    with (
        mock.patch.object(ledger_decisions, "uuid4", uuid4),
        mock.patch.object(memory_turns, "uuid4", uuid4),
    ):
        yield


class Answered(msgspec.Struct):
    """What the simulation reads of an answer: the id it created, or the rejection's code."""

    id: str | None = None
    code: str | None = None


answered = msgspec.json.Decoder(Answered)


@contextmanager
def ledger_kept_out_of_collection() -> Iterator[None]:
    """The in-memory ledger only grows, and the collector's full passes walk all of it: a
    tenth of a run at 100,000 operations, more the longer it runs. Frozen every
    ``freeze_every`` steps (``gc.freeze``), what was written is left out of later passes;
    garbage is still freed by its reference counts, and a cycle frozen before a pass found it
    waits for the end of the run."""
    try:
        yield
    finally:
        gc.unfreeze()


class Request(msgspec.Struct, frozen=True):
    kind: str  # accrue, adjust, reserve, commit, cancel or refund
    target: UUID  # the customer, the hold, or the operation refunded
    points: int | None = None
    document: str | None = None


@dataclass
class Stats:
    requests: Counter[str] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)
    replays: int = 0
    reused: int = 0
    jumps: int = 0
    restarts: int = 0
    digest: Any = field(default_factory=hashlib.sha256)


class Simulation:
    def __init__(self, backend: Backend, seed: int, accounts: int = 200) -> None:
        self.backend = backend
        self.seed = seed
        self.rng = random.Random(seed)
        self.accounts_count = accounts
        self.customers: list[UUID] = []
        self.holds: list[UUID] = []
        self.hold_owners: dict[UUID, UUID] = {}  # the holds in ``holds`` → their customer
        self.refundable: list[UUID] = []  # accruals and commits
        self.sent: list[tuple[str, Request, bytes, int]] = []  # key, request, body, status
        self.answers: dict[str, tuple[bytes, bytes]] = {}  # key → fingerprint, body: fixed
        self.faults = Faults(interfere=backend.interfere)
        self.database = FaultyDatabase(backend.database, self.faults)
        self.stats = Stats()
        self.serial = itertools.count(1)
        self.step_number = 0
        self._start()

    def _start(self) -> None:
        """A fresh process: a runner with nothing remembered."""
        self.runner = MutationRunner(self.database, self.backend.locks)
        self.ledger = Ledger(self.database, self.runner)
        self.loyalty = Loyalty(self.database, self.runner)

    async def run(self, operations: int) -> Stats:
        with seeded_ids(self.rng), ledger_kept_out_of_collection():
            for index in range(self.accounts_count):
                points = self.rng.randint(100, 2_000)
                self.customers.append(await self.backend.account(points))
                del index
            full_check_at = full_check_every
            for self.step_number in range(1, operations + 1):
                try:
                    touched = await self.step()
                    await self.backend.check(touched)
                    if self.step_number == full_check_at:
                        await self.backend.check_all(self.answers)
                        full_check_at += max(full_check_every, self.step_number // 10)
                    if self.step_number % freeze_every == 0:
                        gc.freeze()
                except BaseException as error:
                    error.add_note(
                        f"simulation seed {self.seed}, step {self.step_number}: run again with "
                        f"BONUS_SIM_SEED={self.seed} BONUS_SIM_OPERATIONS={self.step_number}"
                    )
                    raise
            await self.backend.check_all(self.answers)
        return self.stats

    def customer(self) -> UUID:
        """Zipf-skewed: a few customers get most of the traffic, as at a real till."""
        index = min(int(self.rng.paretovariate(1.2)) - 1, len(self.customers) - 1)
        return self.customers[index]

    async def step(self) -> set[UUID]:
        await self.backend.tick(self.rng)
        roll = self.rng.random()
        if roll < 0.002:
            self.stats.jumps += 1
            await self.backend.jump(self.rng, self.holds)
            return set()
        if roll < 0.004:
            self.stats.restarts += 1
            self._start()
            return set()
        if roll < 0.28 or not self.holds:
            document = f"receipt-{next(self.serial)}"
            points = self.rng.randint(1, 150)
            return await self.request(Request("reserve", self.customer(), points, document))
        if roll < 0.56:
            points = self.rng.choice([None, self.rng.randint(1, 100)])
            return await self.request(Request("commit", self.hold(), points))
        if roll < 0.72:
            return await self.request(Request("cancel", self.hold()))
        if roll < 0.76:
            document = f"purchase-{next(self.serial)}"
            points = self.rng.randint(40, 600)
            return await self.request(Request("accrue", self.customer(), points, document))
        if roll < 0.79:
            points = self.rng.choice([-1, 1]) * self.rng.randint(1, 100)
            return await self.request(Request("adjust", self.customer(), points))
        if roll < 0.81 and self.refundable:
            document = f"return-{next(self.serial)}"
            points = self.rng.choice([None, self.rng.randint(1, 200)])
            operation_id = self.rng.choice(self.refundable)
            return await self.request(Request("refund", operation_id, points, document))
        if roll < 0.94:
            return await self.replay()
        return await self.reuse()

    def hold(self) -> UUID:
        """Mostly one of the latest holds, as a till commits soon after it reserves."""
        if self.rng.random() < 0.8:
            return self.holds[-self.rng.randint(1, min(len(self.holds), 10))]
        return self.rng.choice(self.holds)

    def mutation(self, key: str, request: Request) -> Mutation:
        return Mutation(
            actor=self.backend.operator if request.kind == "adjust" else self.backend.actor,
            idempotency_key=key,
            fingerprint=fingerprint(request.kind, msgspec.json.encode(request)),
        )

    async def call(self, key: str, request: Request) -> StoredResponse:
        mutation = self.mutation(key, request)
        if request.kind == "reserve":
            assert request.points is not None
            assert request.document is not None
            command = ReserveCommand(points=request.points, document=Document(id=request.document))
            return await self.ledger.reserve(mutation, request.target, command, render)
        if request.kind == "accrue":
            assert request.points is not None
            assert request.document is not None
            accrual = AccrualCommand(points=request.points, document=Document(id=request.document))
            return await self.ledger.accrue(mutation, request.target, accrual, render)
        if request.kind == "adjust":
            assert request.points is not None
            adjustment = AdjustmentCommand(points=request.points, reason="simulation")
            return await self.ledger.adjust(mutation, request.target, adjustment, render)
        if request.kind == "refund":
            assert request.document is not None
            refund = RefundCommand(document=Document(id=request.document), points=request.points)
            return await self.ledger.refund(mutation, request.target, refund, render)
        if request.kind == "commit":
            commit = CommitCommand(points=request.points)
            return await self.loyalty.commit(mutation, request.target, commit, render)
        return await self.ledger.cancel(mutation, request.target, render)

    async def request(self, request: Request) -> set[UUID]:
        """One request, perhaps with a fault; retried under its key until it is answered."""
        key = f"sim-{self.seed}-{next(self.serial)}"
        self.stats.requests[request.kind] += 1
        before = await self.backend.operations()
        fault = None
        if self.rng.random() < 0.12:
            fault = self.rng.choice(all_faults)
        self.faults.pending = fault
        try:
            response = await self.call(key, request)
        except (LostAnswer, Restarted) as lost:
            if isinstance(lost, Restarted) or self.rng.random() < 0.5:
                self._start()
            self.faults.pending = None
            response = await self.call(key, request)
            if isinstance(lost, LostAnswer):
                assert response.replayed, "a retry after a lost answer is answered from the key"
        self.faults.pending = None  # a fault the request never reached is not carried over
        interfered = 1 if fault is Fault.concurrent else 0
        written = await self.backend.operations() - before
        assert written <= 1 + interfered, f"{request.kind} wrote {written} operations"
        touched = await self.touched(request)
        await self.record(key, request, response)
        return touched

    async def touched(self, request: Request) -> set[UUID]:
        """The customer a request is about, whether or not it was accepted."""
        if request.kind in ("accrue", "adjust", "reserve"):
            return {request.target}
        if request.kind == "refund":
            return set(await self.backend.owner(request.target))
        return {self.hold_owners[request.target]}  # a commit or a cancel

    async def record(self, key: str, request: Request, response: StoredResponse) -> None:
        if len(self.sent) >= sent_kept_max:
            del self.sent[: sent_kept_max // 2]  # replays pick among the latest
        self.sent.append((key, request, response.body, response.status_code))
        self.stats.digest.update(response.body)
        answer = await self.backend.answer(key)
        assert answer is not None, "every answered request stored its answer under its key"
        assert answer[1] == response.body, "a request answers what its key stored"
        assert key not in self.answers, "a key is answered once"
        self.answers[key] = answer
        body = answered.decode(response.body)
        if response.status_code in (200, 201):
            self.stats.outcomes[f"{request.kind} accepted"] += 1
            assert body.id is not None
            if request.kind in ("accrue", "commit"):
                if len(self.refundable) >= sent_kept_max:
                    del self.refundable[: sent_kept_max // 2]
                self.refundable.append(UUID(body.id))
            if request.kind == "reserve":
                self.holds.append(UUID(body.id))
                self.hold_owners[self.holds[-1]] = request.target
            elif request.kind in ("commit", "cancel"):
                self._forget(request.target)
        else:
            code = body.code
            self.stats.outcomes[f"{request.kind} {code}"] += 1
            if code in ("hold_expired", "hold_already_committed", "hold_already_cancelled"):
                self._forget(request.target)
            if code == "hold_expired":
                await self.expire(request.target)

    async def expire(self, hold_id: UUID) -> None:
        """The expiry sweep for one hold, as load, decide, apply on the same port: its
        earmarks are released and the hold is marked expired, once."""
        actor = self.backend.actor
        key = f"expire-{hold_id}"
        async with self.backend.database.reader() as store:
            snapshot = await store.load_turn(
                actor.key_id, key, None, hold_id, actor.program_id, actor.store_id, None, None, None
            )
            locked, hold = snapshot.locked, snapshot.hold
            assert locked is not None
            assert hold is not None
            assert snapshot.version is not None
            plan = decide_hold_expiry(hold, locked.now)
            if plan is None:
                return
            operation, change = release_change(
                locked, None, hold, plan.released, HoldStatus.expired
            )
            applied = await store.apply_plan(
                Plan(
                    change=change,
                    hold=HoldChange(status=HoldStatus.expired),
                    version=snapshot.version,
                    key_id=actor.key_id,
                    key=key,
                    fingerprint=b"expire",
                    answer=render(Accepted(value={"operation_id": str(operation.id)})),
                )
            )
        assert applied is Applied.applied, "nothing else writes while the simulation sweeps"
        self.stats.outcomes["hold expired"] += 1
        await self.backend.check({hold.account_id})

    def _forget(self, hold_id: UUID) -> None:
        if hold_id in self.hold_owners:
            self.holds.remove(hold_id)
            del self.hold_owners[hold_id]

    async def replay(self) -> set[UUID]:
        """A retried request: the same key and body answer the same bytes and write nothing."""
        if not self.sent:
            return set()
        key, request, body, status = self.rng.choice(self.sent)
        before = await self.backend.operations()
        response = await self.call(key, request)
        assert (response.status_code, response.body) == (status, body), "a replay answers the same"
        assert response.replayed
        assert await self.backend.operations() == before, "a replay writes nothing"
        self.stats.replays += 1
        return set()

    async def reuse(self) -> set[UUID]:
        """A key sent again with another body: refused, nothing written, the answer kept."""
        if not self.sent:
            return set()
        key, request, _, _ = self.rng.choice(self.sent)
        other = msgspec.structs.replace(request, points=(request.points or 0) + 1)
        before = await self.backend.operations()
        response = await self.call(key, other)
        assert answered.decode(response.body).code == "idempotency_key_reused"
        assert await self.backend.operations() == before
        assert await self.backend.answer(key) == self.answers[key]
        self.stats.reused += 1
        return set()
