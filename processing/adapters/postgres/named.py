"""Named queries (``sql/*.sql``) run on one connection: what every part of the store builds on."""

from typing import Any, TypeAlias

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from processing.adapters.postgres.queries import QUERIES
from processing.adapters.sealing import Keyring

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
