"""The deterministic simulation's backend on real Postgres (and Redis for the account turns):
the same requests and faults as on memory; the clock is Postgres's own, so a jump makes a hold
due instead of moving time."""

import itertools
import random
from uuid import UUID

from processing.service.ports import AccountLocks, Database
from processing.service.records import Actor
from tests.conftest import Api
from tests.invariants import assert_ledger_clean


class PostgresSimulated:
    def __init__(self, api: Api, key_id: UUID, operator_key_id: UUID) -> None:
        self.api = api
        self.pool = api.runtime.pool
        self.database: Database = api.runtime.database
        self.locks: AccountLocks = api.runtime.locks
        self.actor = Actor(
            key_id=key_id, program_id=api.program_id_uuid, scopes=frozenset({"pos"}),
            store_id="store-1",
        )  # fmt: skip
        self.operator = Actor(
            key_id=operator_key_id, program_id=None, scopes=frozenset({"admin"}), store_id=None
        )
        self.phones = itertools.count()

    @classmethod
    async def open(cls, api: Api) -> "PostgresSimulated":
        key_id = await api.runtime.pool.fetchval(
            "select id from api_keys where program_id = $1 and store_id = 'store-1'",
            api.program_id_uuid,
        )
        operator_key_id = await api.runtime.pool.fetchval(
            "select id from api_keys where program_id is null"
        )
        return cls(api, key_id, operator_key_id)

    async def account(self, points: int) -> UUID:
        return UUID(await self.api.customer(f"+7914{next(self.phones):07d}", points))

    async def fund(self, account_id: UUID, points: int) -> None:
        await self.api.accrue(str(account_id), points)

    async def interfere(self, account_id: UUID) -> None:
        # Any update of the row is a new row version, as another write's would be.
        await self.pool.execute(
            "update accounts set blocked_reason = blocked_reason where id = $1", account_id
        )

    async def tick(self, rng: random.Random) -> None:
        return None

    async def jump(self, rng: random.Random, hold_ids: list[UUID]) -> None:
        if hold_ids:
            await self.pool.execute(
                "update holds set expires_at = clock_timestamp() where id = $1",
                rng.choice(hold_ids),
            )

    async def operations(self) -> int:
        count: int = await self.pool.fetchval("select count(*) from operations")
        return count

    async def owner(self, operation_id: UUID) -> list[UUID]:
        account_id = await self.pool.fetchval(
            "select account_id from operations where id = $1", operation_id
        )
        return [account_id]

    async def answer(self, key: str) -> tuple[bytes, bytes] | None:
        row = await self.pool.fetchrow(
            "select fingerprint, body from idempotency_keys"
            " where key_id = any($1::uuid[]) and key = $2",
            [self.actor.key_id, self.operator.key_id],
            key,
        )
        return None if row is None or row["fingerprint"] is None else (row[0], row[1])

    async def check(self, touched: set[UUID]) -> None:
        if not touched:
            return
        wrong = await self.pool.fetch(
            "select a.id from accounts a where a.id = any($1::uuid[]) and ("
            " a.posted <> (select coalesce(sum(points), 0) from entries e"
            "              where e.account_id = a.id)"
            " or a.reserved <> (select coalesce(sum(al.points), 0) from holds h"
            "                   join hold_allocations al on al.hold_id = h.id"
            "                   where h.account_id = a.id and h.status = 'active')"
            " or a.reserved > a.posted)",
            list(touched),
        )
        assert not wrong, f"accounts whose balance is not their entries and holds: {wrong}"

    async def check_all(self, answers: dict[str, tuple[bytes, bytes]]) -> None:
        await assert_ledger_clean(self.api.runtime)
        for key, answer in answers.items():
            assert await self.answer(key) == answer, f"the answer under {key} changed"
