"""Gift certificates' money ledger (decision 0033): certificates, their money operations and
entries, in the program's currency."""

from datetime import datetime
from uuid import UUID

import asyncpg
import msgspec

from processing.adapters.postgres.named import NamedQueries
from processing.adapters.postgres.queries import QUERIES
from processing.core.certificates import Certificate, CertificateStatus, Redemption
from processing.service.ports import (
    CertificateOperationRow,
    CertificateWrite,
    NewCertificates,
    StoredCertificate,
)


def certificate_row(row: asyncpg.Record) -> Certificate:
    return Certificate(
        id=row["id"],
        program_id=row["program_id"],
        number=row["number"],
        currency=row["currency"],
        nominal_minor=row["nominal_minor"],
        balance_minor=row["balance_minor"],
        status=CertificateStatus(row["status"]),
        wrong_pins=row["wrong_pins"],
        blocked=row["blocked"],
        expires_at=row["expires_at"],
        store_id=row["store_id"],
        issued_at=row["issued_at"],
        activated_at=row["activated_at"],
    )


def stored_row(row: asyncpg.Record) -> StoredCertificate:
    return StoredCertificate(
        certificate=certificate_row(row), pin_hmac=row["pin_hmac"], pin_key_id=row["pin_key_id"]
    )


class CertificateQueries(NamedQueries):
    async def certificate_program(
        self, program_id: UUID, scope: UUID | None
    ) -> tuple[UUID, str] | None:
        row = await self._fetchrow("certificate_program", program_id, scope)
        return None if row is None else (row["id"], row["currency"])

    async def ensure_money_accounts(self, program_id: UUID, currency: str) -> None:
        await self._execute("ensure_money_accounts", program_id, currency)

    async def insert_certificates(self, batch: NewCertificates) -> None:
        await self._execute(
            "insert_certificates",
            batch.program_id,
            batch.currency,
            batch.ids,
            batch.numbers,
            batch.pin_hmacs,
            batch.pin_key_id,
            batch.nominal_minor,
            batch.expires_at,
            batch.store_id,
            batch.batch_id,
            batch.issued_at,
        )

    async def lock_certificate(
        self, certificate_id: UUID, scope: UUID | None
    ) -> StoredCertificate | None:
        row = await self._fetchrow("lock_certificate", certificate_id, scope)
        return None if row is None else stored_row(row)

    async def lock_certificates_by_number(
        self, program_id: UUID, numbers: list[str]
    ) -> list[StoredCertificate]:
        rows = await self._fetch("lock_certificates_by_number", numbers, program_id)
        return [stored_row(row) for row in rows]

    async def lock_certificates(self, ids: list[UUID]) -> list[StoredCertificate]:
        return [stored_row(row) for row in await self._fetch("lock_certificates", ids)]

    async def get_certificate(
        self, certificate_id: UUID, scope: UUID | None
    ) -> StoredCertificate | None:
        row = await self._fetchrow("get_certificate", certificate_id, scope)
        return None if row is None else stored_row(row)

    async def list_certificates(
        self,
        program_id: UUID,
        state: str | None,
        after: tuple[datetime, UUID] | None,
        limit: int,
    ) -> list[Certificate]:
        issued_at, certificate_id = after if after is not None else (None, None)
        rows = await self._fetch(
            "list_certificates", program_id, state, issued_at, certificate_id, limit
        )
        return [certificate_row(row) for row in rows]

    async def certificate_statement(
        self, certificate_id: UUID, before: int | None, limit: int
    ) -> list[CertificateOperationRow]:
        rows = await self._fetch("certificate_statement", certificate_id, before, limit)
        return [msgspec.convert(dict(row), CertificateOperationRow) for row in rows]

    async def set_certificate_wrong_pins(
        self, certificate_id: UUID, wrong_pins: int, blocks: bool, now: datetime
    ) -> None:
        await self._execute("set_certificate_wrong_pins", certificate_id, wrong_pins, blocks, now)

    async def rekey_certificate_pin(
        self, certificate_id: UUID, pin_hmac: bytes, key_id: str
    ) -> None:
        await self._execute("rekey_certificate_pin", certificate_id, pin_hmac, key_id)

    async def certificate_pins_under_older_keys(self, current_key_id: str) -> int:
        count = await self.connection.fetchval(
            QUERIES["certificate_pins_under_older_keys"], current_key_id
        )
        return int(count)

    async def unblock_certificate(self, certificate_id: UUID) -> None:
        await self._execute("unblock_certificate", certificate_id)

    async def close_certificate(self, certificate_id: UUID) -> None:
        await self._execute("close_certificate", certificate_id)

    async def write_certificate_operation(self, write: CertificateWrite) -> None:
        await self.connection.execute(
            QUERIES["write_certificate_operation"],
            write.id,
            write.program_id,
            write.certificate_id,
            write.type,
            write.amount_minor,
            write.balance_after,
            write.ledger_operation_id,
            write.refund_of,
            write.document_id,
            write.store_id,
            write.key_id,
            write.channel,
            write.created_at,
            [kind for kind, _ in write.entries],
            [amount for _, amount in write.entries],
            write.status,
            write.event_type,
            msgspec.json.encode(write.event_payload).decode(),
        )

    async def certificate_redemptions(self, ledger_operation_id: UUID) -> list[Redemption]:
        rows = await self._fetch("certificate_redemptions", ledger_operation_id)
        return [msgspec.convert(dict(row), Redemption) for row in rows]

    async def due_certificates(self, limit: int, program_id: UUID | None) -> list[UUID]:
        return [row["id"] for row in await self._fetch("due_certificates", limit, program_id)]

    async def certificates_liability(self, program_id: UUID) -> dict[str, int]:
        rows = await self._fetch("certificates_liability", program_id)
        return {row["kind"]: row["total"] for row in rows}
