"""The Postgres side of the Bitrix24 application path (named queries in
``sql/bitrix24_app.sql``): install grants and installed portals, whose OAuth pair lives in the
connection's sealed secrets."""

import json
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from processing.adapters.postgres.channels import ChannelQueries
from processing.adapters.postgres.queries import QUERIES
from processing.service.ports import Answer, InstallGrantFacts, PortalState
from processing.service.records import Connection


class Bitrix24AppQueries(ChannelQueries):
    def _sealed(self, connection_id: UUID, secrets: dict[str, str]) -> str:
        return self.keyring.seal(json.dumps(secrets), f"connection:{connection_id}")

    def _portal_of(self, row: asyncpg.Record | None) -> PortalState | None:
        if row is None:
            return None
        return PortalState(
            member_id=row["member_id"],
            connection=self._connection_of(row),
            access_expires_at=row["access_expires_at"],
            generation=row["token_generation"],
            now=row["now"],
        )

    async def install_grant_facts(self, program_id: UUID, scope: UUID | None) -> InstallGrantFacts:
        row = await self._fetchrow("install_grant_facts", program_id, scope)
        if row is None:
            raise LookupError("install_grant_facts returned no row")
        return InstallGrantFacts(program_found=row["program_found"], now=row["now"])

    async def insert_install_grant(
        self,
        token_sha256: bytes,
        program_id: UUID,
        created_by: UUID,
        expires_at: datetime,
        answer: Answer,
    ) -> bool:
        row = await self._answered(
            "insert_install_grant", answer, token_sha256, program_id, created_by, expires_at
        )
        return row is not None

    async def install_grant_program(self, token_sha256: bytes) -> UUID | None:
        program_id = await self.connection.fetchval(QUERIES["install_grant_program"], token_sha256)
        return program_id  # type: ignore[no-any-return]

    async def spend_install_grant(self, token_sha256: bytes, connection_id: UUID) -> bool:
        return await self._fetchrow("spend_install_grant", token_sha256, connection_id) is not None

    async def bitrix24_connection(self, account: str) -> Connection | None:
        row = await self._fetchrow("bitrix24_connection", account)
        return None if row is None else self._connection_of(row)

    async def reconnect(
        self, connection_id: UUID, secrets: dict[str, str], settings: dict[str, Any]
    ) -> Connection:
        row = await self._fetchrow(
            "reconnect", connection_id, self._sealed(connection_id, secrets), json.dumps(settings)
        )
        return self._connection_of(row)

    async def upsert_portal(self, member_id: str, connection_id: UUID, expires_in: int) -> bool:
        row = await self._fetchrow("upsert_portal", member_id, connection_id, float(expires_in))
        return row is not None

    async def portal(self, connection_id: UUID) -> PortalState | None:
        return self._portal_of(await self._fetchrow("portal", connection_id))

    async def portal_by_member(self, member_id: str) -> PortalState | None:
        return self._portal_of(await self._fetchrow("portal_by_member", member_id))

    async def claim_token_refresh(
        self, connection_id: UUID, generation: int, lease_seconds: float
    ) -> bool:
        row = await self._fetchrow("claim_token_refresh", connection_id, generation, lease_seconds)
        return row is not None

    async def release_token_refresh(self, connection_id: UUID, generation: int) -> None:
        await self._execute("release_token_refresh", connection_id, generation)

    async def store_refreshed_tokens(
        self, connection_id: UUID, generation: int, secrets: dict[str, str], expires_in: int
    ) -> bool:
        row = await self._fetchrow(
            "store_refreshed_tokens",
            connection_id,
            generation,
            self._sealed(connection_id, secrets),
            float(expires_in),
        )
        return row is not None

    async def deactivate_connection(self, connection_id: UUID) -> bool:
        return await self._fetchrow("deactivate_connection", connection_id) is not None
