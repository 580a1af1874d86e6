"""The Postgres side of SMS confirmation checks and of the programs' message templates (named
queries in ``sql/sms.sql`` and ``sql/messages.sql``). Mixed into ``PostgresStore``; a check or
a template is stored by the statement that stores its idempotent answer."""

from datetime import datetime
from uuid import UUID

from processing.adapters.postgres.named import NamedQueries
from processing.adapters.postgres.queries import QUERIES
from processing.adapters.postgres.rows import record_of
from processing.core.messages import Locale, MessageKind, Template
from processing.service.ports import Answer
from processing.service.records import (
    NewSmsCheck,
    SmsCheckRecord,
    SmsSendFacts,
    StoredTemplate,
    TemplateProgram,
)


class SmsQueries(NamedQueries):
    async def template_program(
        self, program_id: UUID, scope: UUID | None
    ) -> TemplateProgram | None:
        row = await self._fetchrow("template_program", program_id, scope)
        return None if row is None else record_of(row, TemplateProgram)

    async def put_message_template(
        self, program_id: UUID, template: Template, key_id: UUID, now: datetime, answer: Answer
    ) -> bool:
        written = await self._answered(
            "put_message_template",
            answer,
            program_id,
            template.kind.value,
            template.locale.value,
            template.text,
            key_id,
            now,
        )
        return written is not None

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

    async def sms_send_facts(
        self, customer_id: UUID, scope: UUID | None, window_seconds: int
    ) -> SmsSendFacts | None:
        row = await self._fetchrow("sms_send_facts", customer_id, scope, float(window_seconds))
        if row is None:
            return None
        own = (
            None
            if row["locale"] is None
            else Template(kind=MessageKind.sms_code, locale=Locale(row["locale"]), text=row["text"])
        )
        return SmsSendFacts(
            program_id=row["program_id"],
            phone=row["phone"],
            blocked=row["blocked"],
            recent=row["recent"],
            version=row["version"],
            program_name=row["program_name"],
            template=own,
            now=row["now"],
        )

    async def send_sms_check(
        self, customer_id: UUID, version: int, check: NewSmsCheck, answer: Answer
    ) -> bool:
        written = await self._answered(
            "send_sms_check",
            answer,
            customer_id,
            version,
            check.id,
            check.program_id,
            check.code_hmac,
            check.code_key_id,
            check.created_at,
            check.expires_at,
            check.store_id,
        )
        return written is not None

    async def sms_check(
        self, check_id: UUID, program_id: UUID, store_id: str | None = None
    ) -> SmsCheckRecord | None:
        row = await self._fetchrow("sms_check", check_id, program_id, store_id)
        if row is None:
            return None
        return SmsCheckRecord(
            id=row["id"],
            customer_id=row["customer_id"],
            code_hmac=None if row["code_hmac"] is None else bytes(row["code_hmac"]),
            code_key_id=row["code_key_id"],
            code_sha256=None if row["code_sha256"] is None else bytes(row["code_sha256"]),
            attempts=row["attempts"],
            verified=row["verified"],
            expired=row["expired"],
            version=row["version"],
            now=row["now"],
        )

    async def sms_check_attempted(self, check_id: UUID, version: int, answer: Answer) -> bool:
        return await self._answered("sms_check_attempted", answer, check_id, version) is not None

    async def sms_check_verified(
        self, check_id: UUID, version: int, verified_at: datetime, answer: Answer
    ) -> bool:
        written = await self._answered("sms_check_verified", answer, check_id, version, verified_at)
        return written is not None

    async def sms_check_abandoned(self, check_id: UUID) -> None:
        await self.connection.execute(QUERIES["sms_check_abandoned"], check_id)

    async def replace_idempotency_answer(
        self, key_id: UUID, key: str, status_code: int, media_type: str, body: bytes
    ) -> None:
        await self.connection.execute(
            QUERIES["replace_idempotency_answer"], key_id, key, status_code, media_type, body
        )
