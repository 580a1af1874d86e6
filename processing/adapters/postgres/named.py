"""Named queries (``sql/*.sql``) run on one connection: what every part of the store builds on."""

from typing import Any, TypeAlias
from uuid import UUID

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from processing.adapters.postgres.queries import QUERIES
from processing.adapters.sealing import Keyring
from processing.service.ports import Answer
from processing.service.records import StoredResponse

# A connection of its own (tests, the migration runner) or one lent by the pool.
Connection: TypeAlias = "asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]"


class NamedQueries:
    connection: Connection
    keyring: Keyring  # seals secrets on the way in, opens them on the way out

    async def _fetchrow(self, name: str, *args: Any) -> asyncpg.Record | None:
        return await self.connection.fetchrow(QUERIES[name], *args)

    async def _fetch(self, name: str, *args: Any) -> list[asyncpg.Record]:
        return await self.connection.fetch(QUERIES[name], *args)

    async def _execute(self, name: str, *args: Any) -> str:
        return await self.connection.execute(QUERIES[name], *args)

    async def _answered(
        self, name: str, answer: Answer, *args: Any, races: frozenset[str] = frozenset()
    ) -> asyncpg.Record | None:
        """Runs a statement that writes a change together with its answer: the answer is its
        $1-$6, stored by an ``answer`` CTE that inserts nothing when the key already has one,
        and every write of the statement is drawn from that CTE. A statement whose decision
        rests on a row's state locks that row first and draws the answer from it (the lock
        rechecks the state), so a stale decision writes nothing, its answer included. The
        change's own arguments follow the answer's. Returns the row the statement returns, or
        None when it wrote nothing: the key answered meanwhile, the state moved, or it lost
        the race for a unique row named in ``races``."""
        try:
            return await self.connection.fetchrow(QUERIES[name], *answer_row(answer), *args)
        except asyncpg.UniqueViolationError as error:
            if error.constraint_name in races:
                return None
            raise


def answer_arguments(
    key_id: UUID, key: str, fingerprint: bytes, response: StoredResponse
) -> tuple[Any, ...]:
    """insert_idempotency_key's parameters: what is stored is the body a replay sends."""
    body = response.body if response.kept_body is None else response.kept_body
    return key_id, key, fingerprint, response.status_code, response.media_type, body


def answer_row(answer: Answer) -> tuple[Any, ...]:
    """An answer as a statement that stores it takes it: its $1-$6."""
    return answer_arguments(answer.key_id, answer.key, answer.fingerprint, answer.response)
