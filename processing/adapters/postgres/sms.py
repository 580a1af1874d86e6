"""The Postgres side of SMS confirmation checks and of the programs' message templates (named
queries in ``sql/sms.sql`` and ``sql/messages.sql``). Mixed into ``PostgresStore`` so a check
or a template is stored in the same transaction as its idempotent answer."""

from datetime import datetime
from uuid import UUID

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from processing.adapters.postgres.queries import QUERIES
from processing.core.messages import Locale, MessageKind, Template
from processing.service.records import SmsCheckRecord, StoredTemplate


class SmsQueries:
    # The asyncpg connection of the store this is mixed into.
    connection: "asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]"

    async def put_message_template(
        self, program_id: UUID, template: Template, key_id: UUID
    ) -> datetime:
        updated_at: datetime = await self.connection.fetchval(
            QUERIES["put_message_template"],
            program_id,
            template.kind.value,
            template.locale.value,
            template.text,
            key_id,
        )
        return updated_at

    async def message_template(self, program_id: UUID, kind: MessageKind) -> StoredTemplate | None:
        row = await self.connection.fetchrow(QUERIES["message_template"], program_id, kind.value)
        if row is None:
            return None
        own = (
            None
            if row["locale"] is None
            else Template(kind=kind, locale=Locale(row["locale"]), text=row["text"])
        )
        return StoredTemplate(
            program_name=row["program_name"], template=own, updated_at=row["updated_at"]
        )

    async def insert_sms_check(
        self,
        check_id: UUID,
        program_id: UUID,
        customer_id: UUID,
        code_hmac: bytes,
        code_key_id: str,
        ttl_seconds: int,
        store_id: str | None = None,
    ) -> datetime:
        expires_at: datetime = await self.connection.fetchval(
            QUERIES["insert_sms_check"],
            check_id,
            program_id,
            customer_id,
            code_hmac,
            code_key_id,
            float(ttl_seconds),
            store_id,
        )
        return expires_at

    async def recent_sms_checks(self, customer_id: UUID, window_seconds: int) -> int:
        count: int = await self.connection.fetchval(
            QUERIES["recent_sms_checks"], customer_id, float(window_seconds)
        )
        return count

    async def lock_sms_check(
        self, check_id: UUID, program_id: UUID, store_id: str | None = None
    ) -> SmsCheckRecord | None:
        row = await self.connection.fetchrow(
            QUERIES["lock_sms_check"], check_id, program_id, store_id
        )
        if row is None:
            return None
        return SmsCheckRecord(
            id=row["id"],
            customer_id=row["customer_id"],
            code_hmac=None if row["code_hmac"] is None else bytes(row["code_hmac"]),
            code_key_id=row["code_key_id"],
            code_sha256=None if row["code_sha256"] is None else bytes(row["code_sha256"]),
            attempts=row["attempts"],
            verified=row["verified_at"] is not None,
            expired=row["expired"],
        )

    async def sms_check_attempted(self, check_id: UUID) -> int:
        attempts: int = await self.connection.fetchval(QUERIES["sms_check_attempted"], check_id)
        return attempts

    async def sms_check_verified(self, check_id: UUID) -> datetime:
        verified_at: datetime = await self.connection.fetchval(
            QUERIES["sms_check_verified"], check_id
        )
        return verified_at

    async def sms_check_abandoned(self, check_id: UUID) -> None:
        await self.connection.execute(QUERIES["sms_check_abandoned"], check_id)

    async def replace_idempotency_answer(
        self, key_id: UUID, key: str, status_code: int, media_type: str, body: bytes
    ) -> None:
        await self.connection.execute(
            QUERIES["replace_idempotency_answer"], key_id, key, status_code, media_type, body
        )
