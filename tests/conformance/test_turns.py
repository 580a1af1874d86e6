"""The plan writer's contract, held against Postgres and memory with the same assertions: what a
load shows, and what an apply writes or refuses (a stale version, a key that already answered, a
hold already resolved, a receipt that already has an open hold, points past a key's bound for
the day)."""

from uuid import UUID, uuid4

import msgspec
import pytest

from processing.core.model import HoldStatus, OperationType
from processing.service.ledger.decisions import (
    AccrualCommand,
    RefundCommand,
    ReserveCommand,
    accrue_in_turn,
    cancel_in_turn,
    commit_in_turn,
    refund_in_turn,
    release_change,
    reserve_change,
    reserve_in_turn,
)
from processing.service.loyalty.bonuses import grant_change
from processing.service.mutations import Decided
from processing.service.ports import Applied, BonusGrant, HoldChange, Plan, Snapshot
from processing.service.records import Actor, Document, StoredResponse
from tests.conftest import Api
from tests.turns_backends import Backend, MemoryBackend, PostgresBackend, render


@pytest.fixture
async def postgres_backend(api: Api) -> PostgresBackend:
    return await PostgresBackend.open(api)


@pytest.fixture(params=["memory", "postgres"])
def backend(request: pytest.FixtureRequest) -> Backend:
    if request.param == "memory":
        return MemoryBackend()
    backend: Backend = request.getfixturevalue("postgres_backend")
    return backend


async def load(
    backend: Backend,
    key: str,
    account_id: UUID | None = None,
    hold_id: UUID | None = None,
    document_id: str | None = None,
    actor: Actor | None = None,
    document_type: str | None = None,
) -> Snapshot:
    actor = actor or backend.actor
    return await backend.turns.load_turn(
        actor.key_id,
        key,
        account_id,
        hold_id,
        actor.program_id,
        actor.store_id,
        document_id,
        document_type,
        None,
    )


def plan_of(snapshot: Snapshot, decided: object, key: str, actor: Actor) -> Plan:
    assert isinstance(decided, Decided), decided
    assert snapshot.version is not None
    return Plan(
        change=decided.change,
        hold=decided.hold,
        version=snapshot.version,
        key_id=actor.key_id,
        key=key,
        fingerprint=key.encode(),
        answer=render(decided.outcome),
        charge=decided.charge,
        refunded=decided.refunded,
    )


def reserve_command(points: int, document_id: str) -> ReserveCommand:
    return ReserveCommand(points=points, document=Document(id=document_id))


async def reserved_hold(backend: Backend, account_id: UUID, points: int) -> UUID:
    document_id = f"receipt-{uuid4()}"
    snapshot = await load(backend, "reserve", account_id, document_id=document_id)
    decided = reserve_in_turn(snapshot, backend.actor, reserve_command(points, document_id))
    assert (
        await backend.turns.apply_plan(plan_of(snapshot, decided, "reserve", backend.actor))
        is Applied.applied
    )
    assert isinstance(decided, Decided)
    assert decided.hold.opened is not None
    return decided.hold.opened.id


async def test_an_unknown_account_loads_as_nothing(backend: Backend) -> None:
    snapshot = await load(backend, "k", uuid4(), uuid4(), "receipt-1")
    assert snapshot == Snapshot(answer=None, locked=None, version=None, hold=None)


async def test_a_funded_account_loads_with_its_lots_and_settings(backend: Backend) -> None:
    account_id = await backend.account(points=70)
    await backend.fund(account_id, 30)
    snapshot = await load(backend, "k", account_id)
    assert snapshot.locked is not None
    assert snapshot.version is not None
    account = snapshot.locked.account
    assert (account.id, account.posted, account.reserved, account.debt) == (account_id, 100, 0, 0)
    assert sorted((lot.points, lot.remaining, lot.held) for lot in account.lots) == [
        (30, 30, 0),
        (70, 70, 0),
    ]
    assert snapshot.locked.program_id == backend.actor.program_id
    assert snapshot.hold is None
    assert snapshot.open_hold is None
    assert snapshot.answer is None
    # Another program's key sees no such customer.
    stranger = msgspec.structs.replace(backend.actor, program_id=uuid4())
    assert (await load(backend, "k", account_id, actor=stranger)).locked is None


async def test_a_reserve_opens_a_hold_that_the_next_load_shows(backend: Backend) -> None:
    account_id = await backend.account(points=100)
    before = await load(backend, "r", account_id, document_id="receipt-9")
    decided = reserve_in_turn(before, backend.actor, reserve_command(40, "receipt-9"))
    plan = plan_of(before, decided, "r", backend.actor)
    counts = await backend.counts()
    applied = await backend.turns.apply_plan(plan)
    assert applied is Applied.applied
    assert await backend.balance(account_id) == (100, 40)
    after_counts = await backend.counts()
    assert after_counts["holds"] == counts["holds"] + 1
    assert after_counts["operations"] == counts["operations"] + 1
    assert after_counts["entries"] == counts["entries"]  # a hold posts no entries
    assert after_counts["outbox"] > counts["outbox"]
    hold = plan.hold.opened
    assert hold is not None
    again = await load(backend, "r", account_id, hold.id, "receipt-9")
    assert again.version != before.version
    assert again.answer == (b"r", msgspec.structs.replace(plan.answer, replayed=False))
    assert again.open_hold == hold.id
    assert again.hold == hold
    assert again.hold_operation_id == plan.change.operation.id
    assert again.hold_created_at == plan.change.operation.created_at
    assert again.locked is not None
    assert sum(lot.held for lot in again.locked.account.lots) == 40
    # The hold loads by its id alone (its account with it), but not for another store's key.
    by_hold = await load(backend, "x", hold_id=hold.id)
    assert by_hold.locked is not None
    assert by_hold.locked.account.id == account_id
    elsewhere = msgspec.structs.replace(backend.actor, store_id="store-2")
    assert (await load(backend, "x", hold_id=hold.id, actor=elsewhere)).hold is None
    stranger = msgspec.structs.replace(backend.actor, program_id=uuid4())
    assert await load(backend, "x", hold_id=hold.id, actor=stranger) == Snapshot(
        answer=None, locked=None, version=None, hold=None
    )


async def test_a_stale_plan_writes_nothing(backend: Backend) -> None:
    account_id = await backend.account(points=100)
    snapshot = await load(backend, "stale", account_id, document_id="receipt-1")
    decided = reserve_in_turn(snapshot, backend.actor, reserve_command(10, "receipt-1"))
    await backend.fund(account_id, 5)  # a change in between: the account's version moves
    counts = await backend.counts()
    assert (
        await backend.turns.apply_plan(plan_of(snapshot, decided, "stale", backend.actor))
        is Applied.stale
    )
    assert await backend.counts() == counts
    assert await backend.balance(account_id) == (105, 0)
    assert (await load(backend, "stale", account_id)).answer is None


async def test_one_key_takes_effect_once(backend: Backend) -> None:
    account_id = await backend.account(points=100)
    first = await load(backend, "once", account_id, document_id="receipt-1")
    decided = reserve_in_turn(first, backend.actor, reserve_command(10, "receipt-1"))
    assert (
        await backend.turns.apply_plan(plan_of(first, decided, "once", backend.actor))
        is Applied.applied
    )
    counts = await backend.counts()
    # A second decision under the same key, at the account's current version, on another
    # receipt: the key's answer is there, so nothing of it is written.
    second = await load(backend, "other", account_id, document_id="receipt-2")
    again = reserve_in_turn(second, backend.actor, reserve_command(20, "receipt-2"))
    assert (
        await backend.turns.apply_plan(plan_of(second, again, "once", backend.actor))
        is Applied.stale
    )
    assert await backend.counts() == counts
    assert await backend.balance(account_id) == (100, 10)
    stored = (await load(backend, "once", account_id)).answer
    assert stored is not None
    assert stored[0] == b"once"


async def test_a_receipt_holds_once(backend: Backend) -> None:
    account_id = await backend.account(points=100)
    await reserved_hold(backend, account_id, 10)
    snapshot = await load(backend, "first", account_id, document_id="receipt-a")
    decided = reserve_in_turn(snapshot, backend.actor, reserve_command(10, "receipt-a"))
    assert (
        await backend.turns.apply_plan(plan_of(snapshot, decided, "first", backend.actor))
        is Applied.applied
    )
    # Decided as if the open hold were not there (a race the load could not see): refused.
    snapshot = await load(backend, "second", account_id, document_id="receipt-a")
    assert snapshot.open_hold is not None
    assert snapshot.locked is not None
    racing = reserve_change(snapshot.locked, backend.actor, reserve_command(5, "receipt-a"))
    counts = await backend.counts()
    assert (
        await backend.turns.apply_plan(plan_of(snapshot, racing, "second", backend.actor))
        is Applied.stale
    )
    assert await backend.counts() == counts
    assert (await load(backend, "second", account_id)).answer is None


async def test_a_commit_resolves_its_hold_once(backend: Backend) -> None:
    account_id = await backend.account(points=100)
    hold_id = await reserved_hold(backend, account_id, 30)
    snapshot = await load(backend, "commit", hold_id=hold_id)
    decided = commit_in_turn(snapshot, backend.actor, 20)
    counts = await backend.counts()
    assert (
        await backend.turns.apply_plan(plan_of(snapshot, decided, "commit", backend.actor))
        is Applied.applied
    )
    assert await backend.balance(account_id) == (80, 0)
    after = await backend.counts()
    assert after["active_holds"] == counts["active_holds"] - 1
    assert after["entries"] == counts["entries"] + 2  # the lot that paid, and redeemed
    resolved = await load(backend, "cancel", hold_id=hold_id)
    assert resolved.hold is not None
    assert resolved.hold.status is HoldStatus.committed
    # A cancel decided on it now is refused by the core, and only its answer is stored.
    refused = cancel_in_turn(resolved, backend.actor)
    assert not isinstance(refused, Decided)
    assert refused is not None
    answer = render(refused)
    assert await backend.turns.store_answer(backend.actor.key_id, "cancel", b"c", answer)
    assert not await backend.turns.store_answer(backend.actor.key_id, "cancel", b"d", answer)
    assert (await load(backend, "cancel", hold_id=hold_id)).answer == (b"c", answer)
    assert (await backend.counts())["operations"] == after["operations"]


async def test_a_resolution_of_a_hold_no_longer_active_fails_loudly(backend: Backend) -> None:
    account_id = await backend.account(points=100)
    hold_id = await reserved_hold(backend, account_id, 30)
    snapshot = await load(backend, "cancel", hold_id=hold_id)
    decided = cancel_in_turn(snapshot, backend.actor)
    assert (
        await backend.turns.apply_plan(plan_of(snapshot, decided, "cancel", backend.actor))
        is Applied.applied
    )
    # A plan that resolves it again, at the account's current version: a bug, said aloud.
    current = await load(backend, "again", hold_id=hold_id)
    assert current.locked is not None
    assert current.hold is not None
    assert current.hold.status is HoldStatus.cancelled
    _operation, change = release_change(
        current.locked, backend.actor, current.hold, (), HoldStatus.cancelled
    )
    plan = Plan(
        change=change,
        hold=HoldChange(status=HoldStatus.cancelled),
        version=current.version or 0,
        key_id=backend.actor.key_id,
        key="again",
        fingerprint=b"again",
        answer=StoredResponse(status_code=200, media_type="application/json", body=b"{}"),
    )
    with pytest.raises(RuntimeError, match="did not resolve"):
        await backend.turns.apply_plan(plan)
    assert await backend.balance(account_id) == (100, 0)


async def test_points_past_the_keys_day_bound_write_nothing(backend: Backend) -> None:
    account_id = await backend.account()
    snapshot = await load(backend, "gift", account_id)
    command = AccrualCommand(points=10, document=Document(id="gift-1"))
    decided = accrue_in_turn(snapshot, backend.actor, command)
    assert isinstance(decided, Decided)
    assert decided.charge is not None  # a till's key counts the points it creates
    bounded = msgspec.structs.replace(decided.charge, per_day_max=9)
    counts = await backend.counts()
    over = msgspec.structs.replace(decided, charge=bounded)
    applied = await backend.turns.apply_plan(plan_of(snapshot, over, "gift", backend.actor))
    assert applied is Applied.over_day_limit
    assert await backend.counts() == counts
    applied = await backend.turns.apply_plan(plan_of(snapshot, decided, "gift", backend.actor))
    assert applied is Applied.applied
    assert await backend.balance(account_id) == (10, 0)
    # The document's one effect shows in the next load of an accrual under it.
    again = await load(
        backend, "gift-2", account_id, document_id="gift-1", document_type=OperationType.accrual
    )
    assert again.document_operation == decided.change.operation.id


async def test_a_refund_loads_what_its_original_moved_and_takes_from_it(backend: Backend) -> None:
    account_id = await backend.account()
    snapshot = await load(backend, "earn", account_id)
    earned = AccrualCommand(points=50, document=Document(id="earn-1"))
    decided = accrue_in_turn(snapshot, backend.actor, earned)
    assert isinstance(decided, Decided)
    applied = await backend.turns.apply_plan(plan_of(snapshot, decided, "earn", backend.actor))
    assert applied is Applied.applied
    accrual, actor = decided.change.operation.id, backend.actor

    async def by_operation(key: str) -> Snapshot:
        return await backend.turns.load_turn(
            actor.key_id, key, None, None, actor.program_id, actor.store_id,
            "back-1", OperationType.refund, None, accrual,
        )  # fmt: skip

    loaded = await by_operation("back")
    assert loaded.original is not None
    assert loaded.locked is not None
    assert (loaded.original.id, loaded.locked.account.id) == (accrual, account_id)
    assert [lot.points for lot in loaded.original_lots] == [50]
    command = RefundCommand(document=Document(id="back-1"), points=20)
    refund = refund_in_turn(loaded, actor, command)
    applied = await backend.turns.apply_plan(plan_of(loaded, refund, "back", actor))
    assert applied is Applied.applied
    assert await backend.balance(account_id) == (30, 0)
    after = await by_operation("again")
    assert after.original is not None
    assert after.original.refunded_points == 20
    assert after.document_operation is not None  # the refund's document took effect once


async def test_a_bonus_is_claimed_once_in_its_period(backend: Backend) -> None:
    account_id = await backend.account(points=10)
    claimed = BonusGrant(kind="review", period="2026-12")

    async def decide(key: str) -> tuple[Snapshot, Plan]:
        actor = backend.actor
        snapshot = await backend.turns.load_turn(
            *(actor.key_id, key, account_id, None, actor.program_id, actor.store_id),
            *(None, None, None),
            priced=True,
            bonus=claimed.kind,
        )
        assert snapshot.locked is not None
        assert snapshot.rules is not None
        decided = grant_change(snapshot.locked, actor, snapshot.rules, claimed, 50, None)
        assert isinstance(decided, Decided)
        plan = msgspec.structs.replace(plan_of(snapshot, decided, key, actor), grant=claimed)
        return snapshot, plan

    first, plan = await decide("review-1")
    assert first.bonus_periods == frozenset()
    assert await backend.turns.apply_plan(plan) is Applied.applied
    counts = await backend.counts()
    # A racing second grant, decided before the first showed: its claim of the same period
    # writes nothing (Postgres: the primary key of bonus_grants).
    second, racing = await decide("review-2")
    assert second.bonus_periods == frozenset({claimed.period})
    assert await backend.turns.apply_plan(racing) is Applied.stale
    assert await backend.counts() == counts
    assert await backend.balance(account_id) == (60, 0)


async def test_a_promo_code_use_past_its_cap_writes_nothing(backend: Backend) -> None:
    """Two purchases decided on loads that both saw the code's last use free: the first applies
    and counts it, the second writes nothing (decided again, it is refused); decision 0032."""
    from processing.core.model import Line
    from processing.core.rejections import Rejection
    from processing.service.loyalty.use_cases import PurchaseCommand, purchase_in_turn
    from processing.service.records import Refused

    await backend.promo_code("LASTONE", uses_max=1)
    first, second = await backend.account(), await backend.account()
    actor = backend.actor
    line = Line(line_id="1", sku="oil", category=None, quantity=1, unit_price_minor=100_000)

    async def decided_on(account_id: UUID, key: str) -> tuple[Snapshot, object]:
        snapshot = await backend.turns.load_turn(
            actor.key_id,
            key,
            account_id,
            None,
            actor.program_id,
            actor.store_id,
            key,
            OperationType.purchase,
            None,
            priced=True,
            ranked=True,
            promo_codes=("LASTONE",),
        )
        command = PurchaseCommand(
            document=Document(id=key), lines=(line,), promo_codes=("lastone",)
        )
        return snapshot, purchase_in_turn(snapshot, actor, command)

    def plan(snapshot: Snapshot, decided: object, key: str) -> Plan:
        assert isinstance(decided, Decided), decided
        return msgspec.structs.replace(
            plan_of(snapshot, decided, key, actor), purchase=decided.purchase
        )

    one, two = await decided_on(first, "R-1"), await decided_on(second, "R-2")
    before = await backend.counts()

    assert await backend.turns.apply_plan(plan(*one, "R-1")) is Applied.applied
    assert await backend.turns.apply_plan(plan(*two, "R-2")) is Applied.stale
    after = await backend.counts()
    assert after["operations"] == before["operations"] + 1
    assert await backend.balance(second) == (0, 0)
    assert await backend.balance(first) == (100, 0)
    again = await decided_on(second, "R-2")
    assert isinstance(again[1], Refused)
    assert again[1].rejection is Rejection.promo_code_refused
    assert "cap_reached" in again[1].detail
