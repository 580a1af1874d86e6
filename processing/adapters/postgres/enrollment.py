"""The Postgres side of enrollment pages and the codes they send (named queries in
``sql/enrollment.sql``). Mixed into ``PostgresStore``."""

from datetime import datetime
from uuid import UUID

from processing.adapters.postgres.named import NamedQueries
from processing.adapters.postgres.rows import record_of
from processing.service.ports import (
    Answer,
    EnrollmentCodeState,
    EnrollmentCodeTry,
    EnrollmentPageFacts,
    EnrollmentPageRecord,
    PhoneSends,
)

_slug_taken = frozenset({"enrollment_pages_slug_key"})


class EnrollmentQueries(NamedQueries):
    async def enrollment_page_facts(
        self, program_id: UUID, scope: UUID | None, slug: str
    ) -> EnrollmentPageFacts | None:
        row = await self._fetchrow("enrollment_page_facts", program_id, scope, slug)
        return None if row is None else record_of(row, EnrollmentPageFacts)

    async def put_enrollment_page(
        self, page: EnrollmentPageRecord, key_secret_sha256: bytes, answer: Answer
    ) -> bool:
        row = await self._answered(
            "put_enrollment_page",
            answer,
            page.program_id,
            page.slug,
            page.enabled,
            page.display_name,
            page.terms,
            page.sms_wording,
            page.email_wording,
            page.key_id,
            key_secret_sha256,
            page.updated_at,
            races=_slug_taken,
        )
        return row is not None

    async def enrollment_page_of_program(
        self, program_id: UUID, scope: UUID | None
    ) -> EnrollmentPageRecord | None:
        row = await self._fetchrow("enrollment_page_of_program", program_id, scope)
        return None if row is None else record_of(row, EnrollmentPageRecord)

    async def enrollment_page_by_slug(self, slug: str) -> EnrollmentPageRecord | None:
        row = await self._fetchrow("enrollment_page_by_slug", slug)
        return None if row is None else record_of(row, EnrollmentPageRecord)

    async def enrollment_phone_sends(self, phone: str) -> PhoneSends:
        await self._execute("lock_enrollment_phone", phone)
        row = await self._fetchrow("enrollment_phone_sends", phone)
        assert row is not None  # noqa: S101 - an aggregate over the clock always has a row
        return record_of(row, PhoneSends)

    async def insert_enrollment_code(
        self,
        code_id: UUID,
        program_id: UUID,
        phone: str,
        code_hmac: bytes,
        code_key_id: str,
        created_at: datetime,
        expires_at: datetime,
    ) -> None:
        await self._execute(
            "insert_enrollment_code",
            code_id,
            program_id,
            phone,
            code_hmac,
            code_key_id,
            created_at,
            expires_at,
        )

    async def enrollment_code_abandoned(self, code_id: UUID) -> None:
        await self._execute("enrollment_code_abandoned", code_id)

    async def enrollment_code_try(
        self, code_id: UUID, program_id: UUID, attempts_max: int
    ) -> EnrollmentCodeTry | None:
        row = await self._fetchrow("enrollment_code_try", code_id, program_id, attempts_max)
        if row is None:
            return None
        return EnrollmentCodeTry(
            id=row["id"],
            phone=row["phone"],
            code_hmac=bytes(row["code_hmac"]),
            code_key_id=row["code_key_id"],
            attempts=row["attempts"],
        )

    async def enrollment_code_state(
        self, code_id: UUID, program_id: UUID
    ) -> EnrollmentCodeState | None:
        row = await self._fetchrow("enrollment_code_state", code_id, program_id)
        return None if row is None else record_of(row, EnrollmentCodeState)

    async def enrollment_code_verified(self, code_id: UUID) -> bool:
        return await self._fetchrow("enrollment_code_verified", code_id) is not None
