"""The plan writer (``Turns``) on its two implementations, behind one small harness each, so a
conformance test or a simulation says what it does once and runs on both: Postgres (through the
runtime the API uses) and memory (``processing.adapters.memory``)."""

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from typing import Any, Protocol, cast
from uuid import UUID, uuid4

import msgspec

from processing.adapters.memory.turns import MemoryTurns
from processing.core.promo import Campaign, Code, Effect
from processing.runtime import Runtime
from processing.service.ports import Store, Turns
from processing.service.records import Accepted, Actor, Outcome, StoredResponse
from tests.conftest import Api


def render(outcome: Outcome) -> StoredResponse:
    """A stand-in for the API's renderers: the outcome's value, or the rejection's code."""
    if isinstance(outcome, Accepted):
        status = 201 if outcome.created else 200
        return StoredResponse(
            status_code=status,
            media_type="application/json",
            body=msgspec.json.encode(outcome.value),
        )
    body = msgspec.json.encode({"code": outcome.rejection, "detail": outcome.detail})
    return StoredResponse(status_code=409, media_type="application/problem+json", body=body)


class Backend(Protocol):
    name: str
    turns: Turns
    actor: Actor  # a till's key of the program, at store-1

    async def account(self, points: int = 0) -> UUID: ...
    async def fund(self, account_id: UUID, points: int) -> None: ...
    async def balance(self, account_id: UUID) -> tuple[int, int]: ...
    async def counts(self) -> dict[str, int]: ...
    async def promo_code(self, code: str, uses_max: int) -> None: ...


class MemoryBackend:
    name = "memory"

    def __init__(self, clock: Callable[[], datetime] | None = None) -> None:
        self.memory = MemoryTurns(clock or (lambda: datetime.now(UTC)))
        self.turns: Turns = self.memory
        program_id = self.memory.add_program()
        self.actor = Actor(
            key_id=uuid4(), program_id=program_id, scopes=frozenset({"pos"}), store_id="store-1"
        )

    async def account(self, points: int = 0) -> UUID:
        program_id = self.actor.program_id
        assert program_id is not None
        account_id = self.memory.add_account(program_id)
        if points:
            self.memory.fund(account_id, points)
        return account_id

    async def fund(self, account_id: UUID, points: int) -> None:
        self.memory.fund(account_id, points)

    async def balance(self, account_id: UUID) -> tuple[int, int]:
        row = self.memory.accounts[account_id]
        return row.posted, row.reserved

    async def promo_code(self, code: str, uses_max: int) -> None:
        """A shared code worth 100 points, usable ``uses_max`` times in all."""
        program_id = self.actor.program_id
        assert program_id is not None
        campaign = Campaign(
            id=uuid4(),
            starts_at=datetime(2020, 1, 1, tzinfo=UTC),
            effect=Effect.bonus_points,
            value=100,
            uses_max=uses_max,
        )
        self.memory.add_promo_code(program_id, Code(id=uuid4(), code=code, campaign=campaign))

    async def counts(self) -> dict[str, int]:
        memory = self.memory
        return {
            "operations": len(memory.operations),
            "entries": len(memory.entries),
            "lots": len(memory.lots),
            "outbox": len(memory.outbox),
            "holds": len(memory.holds),
            "active_holds": sum(1 for hold in memory.holds.values() if hold.status == "active"),
            "answers": len(memory.answers),
        }


class PostgresTurns:
    """``Turns`` on the runtime's pool: each call on a connection of its own, as the runner
    does."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    async def load_turn(self, *arguments: Any, **named: Any) -> Any:
        async with self.runtime.database.reader() as store:
            return await store.load_turn(*arguments, **named)

    async def apply_plan(self, plan: Any) -> Any:
        async with self.runtime.database.reader() as store:
            return await store.apply_plan(plan)

    async def store_answer(self, *arguments: Any) -> bool:
        async with self.runtime.database.reader() as store:
            return await store.store_answer(*arguments)


class PostgresBackend:
    name = "postgres"

    def __init__(self, api: Api, key_id: UUID) -> None:
        self.api = api
        self.turns: Turns = cast(Turns, PostgresTurns(api.runtime))
        self.actor = Actor(
            key_id=key_id,
            program_id=api.program_id_uuid,
            scopes=frozenset({"pos"}),
            store_id="store-1",
        )
        self.phones = iter(range(10_000_000))

    @classmethod
    async def open(cls, api: Api) -> "PostgresBackend":
        key_id = await api.runtime.pool.fetchval(
            "select id from api_keys where program_id = $1 and store_id = 'store-1'",
            api.program_id_uuid,
        )
        return cls(api, key_id)

    async def account(self, points: int = 0) -> UUID:
        phone = f"+7913{next(self.phones):07d}"
        return UUID(await self.api.customer(phone=phone, points=points))

    async def fund(self, account_id: UUID, points: int) -> None:
        await self.api.accrue(str(account_id), points)

    async def promo_code(self, code: str, uses_max: int) -> None:
        """A shared code worth 100 points, usable ``uses_max`` times in all."""
        api = self.api
        made = await api.post(
            f"/v1/programs/{api.program_id}/promo-campaigns",
            {"name": code, "effect": "bonus_points", "value": 100, "uses_max": uses_max},
            key=api.admin_key,
        )
        assert made.status_code == 201, made.text
        shared = await api.post(
            f"/v1/programs/{api.program_id}/promo-campaigns/{made.json()['id']}/codes",
            {"kind": "shared", "code": code},
            key=api.admin_key,
        )
        assert shared.status_code == 201, shared.text

    async def balance(self, account_id: UUID) -> tuple[int, int]:
        row = await self.api.runtime.pool.fetchrow(
            "select posted, reserved from accounts where id = $1", account_id
        )
        assert row is not None
        return row["posted"], row["reserved"]

    async def counts(self) -> dict[str, int]:
        row = await self.api.runtime.pool.fetchrow(
            "select (select count(*) from operations) as operations,"
            " (select count(*) from entries) as entries,"
            " (select count(*) from lots) as lots,"
            " (select count(*) from outbox) as outbox,"
            " (select count(*) from holds) as holds,"
            " (select count(*) from holds where status = 'active') as active_holds,"
            " (select count(*) from idempotency_keys where fingerprint is not null) as answers"
        )
        assert row is not None
        return dict(row)


class MemoryDatabase:
    """The ``Database`` the runner and the use cases take, over the in-memory plan writer: a
    request the snapshot cannot decide (the locked path) finds none of ``Store``'s other
    methods and fails loudly."""

    def __init__(self, turns: Turns) -> None:
        self.turns = turns
        self._opened = _Opened(cast(Store, turns))

    def reader(self) -> AbstractAsyncContextManager[Store]:
        return self._opened

    transaction = snapshot = reader


class _Opened(AbstractAsyncContextManager[Store]):
    """The one in-memory store, handed out as a connection would be. A plain class, not a
    generator: the simulation enters one per request and a generator's context costs several
    times as much."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def __aenter__(self) -> Store:
        return self.store

    async def __aexit__(self, *exception: object) -> None:
        return None


class NoLocks:
    """One caller at a time already: the simulation drives its requests in sequence."""

    def around(self, account_id: UUID) -> AbstractAsyncContextManager[None]:
        return _unlocked


class _Unlocked(AbstractAsyncContextManager[None]):
    async def __aenter__(self) -> None:
        return None

    async def __aexit__(self, *exception: object) -> None:
        return None


_unlocked = _Unlocked()
