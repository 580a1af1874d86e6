"""API keys (named queries in ``sql/keys.sql``). Mixed into ``PostgresStore``."""

from datetime import datetime
from uuid import UUID

import asyncpg

from processing.adapters.postgres.named import NamedQueries
from processing.adapters.postgres.queries import QUERIES
from processing.adapters.postgres.rows import record_of
from processing.service.records import ApiKeyRecord


class KeyQueries(NamedQueries):
    async def insert_api_key(
        self,
        key_id: UUID,
        program_id: UUID | None,
        name: str,
        scopes: list[str],
        store_id: str | None,
        secret_sha256: bytes,
        created_by: UUID | None = None,
        expires_at: datetime | None = None,
    ) -> ApiKeyRecord:
        row = await self._fetchrow(
            "insert_api_key",
            key_id,
            program_id,
            name,
            scopes,
            store_id,
            secret_sha256,
            created_by,
            expires_at,
        )
        return record_of(row, ApiKeyRecord)

    async def rotate_api_key(
        self, key_id: UUID, scope: UUID | None, secret_sha256: bytes, grace_seconds: int
    ) -> ApiKeyRecord | None:
        row = await self._fetchrow(
            "rotate_api_key", key_id, scope, secret_sha256, float(grace_seconds)
        )
        return None if row is None else record_of(row, ApiKeyRecord)

    async def revoke_minted_keys(self, key_id: UUID) -> list[UUID]:
        return [row["id"] for row in await self._fetch("revoke_minted_keys", key_id)]

    async def ensure_operator_key(self, key_id: UUID, name: str, secret_sha256: bytes) -> UUID:
        value = await self.connection.fetchval(
            QUERIES["ensure_api_key"], key_id, name, secret_sha256
        )
        return value  # type: ignore[no-any-return]

    async def authenticate(self, secret_sha256: bytes) -> asyncpg.Record | None:
        return await self._fetchrow("authenticate", secret_sha256)

    async def revoke_api_key(self, key_id: UUID, scope: UUID | None) -> ApiKeyRecord | None:
        row = await self._fetchrow("revoke_api_key", key_id, scope)
        return None if row is None else record_of(row, ApiKeyRecord)
