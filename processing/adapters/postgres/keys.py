"""API keys (named queries in ``sql/keys.sql``). Mixed into ``PostgresStore``."""

from datetime import datetime
from uuid import UUID

import asyncpg

from processing.adapters.postgres.named import NamedQueries
from processing.adapters.postgres.queries import QUERIES
from processing.adapters.postgres.rows import record_of
from processing.service.ports import Answer, KeyTree, KeyVersion, MintFacts
from processing.service.records import ApiKeyRecord, Position


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

    async def mint_facts(
        self,
        program_id: UUID,
        scope: UUID | None,
        minter_id: UUID,
        merchant_id: UUID | None = None,
        store_id: str | None = None,
    ) -> MintFacts:
        row = await self._fetchrow(
            "mint_facts", program_id, scope, minter_id, merchant_id, store_id
        )
        return record_of(row, MintFacts)

    async def mint_api_key(self, key: ApiKeyRecord, secret_sha256: bytes, answer: Answer) -> bool:
        row = await self._answered(
            "mint_api_key",
            answer,
            key.id,
            key.program_id,
            key.name,
            key.scopes,
            key.store_id,
            secret_sha256,
            key.expires_at,
            key.created_at,
            key.created_by,
            key.merchant_id,
        )
        return row is not None

    async def live_api_key(self, key_id: UUID, scope: UUID | None) -> KeyVersion | None:
        row = await self._fetchrow("live_api_key", key_id, scope)
        return None if row is None else _key_version(row)

    async def rotate_api_key(
        self, key: KeyVersion, secret_sha256: bytes, grace_seconds: int, answer: Answer
    ) -> bool:
        row = await self._answered(
            "rotate_api_key",
            answer,
            key.record.id,
            key.version,
            secret_sha256,
            float(grace_seconds),
        )
        return row is not None

    async def key_tree(self, key_id: UUID, scope: UUID | None) -> KeyTree | None:
        rows = await self._fetch("key_tree", key_id, scope)
        if not rows:
            return None
        return KeyTree(keys=tuple(_key_version(row) for row in rows), now=rows[0]["now"])

    async def revoke_api_keys(self, tree: KeyTree, answer: Answer) -> bool:
        ids = [key.record.id for key in tree.keys]
        versions = [key.version for key in tree.keys]
        return await self._answered("revoke_api_keys", answer, ids, versions, tree.now) is not None

    async def ensure_operator_key(self, key_id: UUID, name: str, secret_sha256: bytes) -> UUID:
        value = await self.connection.fetchval(
            QUERIES["ensure_api_key"], key_id, name, secret_sha256
        )
        return value  # type: ignore[no-any-return]

    async def authenticate(self, secret_sha256: bytes) -> asyncpg.Record | None:
        return await self._fetchrow("authenticate", secret_sha256)

    async def list_api_keys(
        self,
        program_id: UUID,
        status: str | None,
        after: Position,
        limit: int,
    ) -> list[ApiKeyRecord]:
        rows = await self._fetch("list_api_keys", program_id, status, after.at, after.id, limit)
        return [record_of(row, ApiKeyRecord) for row in rows]


def _key_version(row: asyncpg.Record) -> KeyVersion:
    """A key's row as a decision reads it (the row's other columns, such as the time, aside)."""
    return KeyVersion(record=record_of(row, ApiKeyRecord), version=row["version"])
