"""Bulk loading of an import file (named queries in ``sql/imports.sql``): each batch is copied
into temporary staging tables with COPY and written into the ledger's tables by one set-based
statement. Mixed into ``PostgresStore``."""

from uuid import UUID

from processing.adapters.postgres.named import NamedQueries
from processing.adapters.postgres.queries import QUERIES
from processing.service.ports import ImportBatch, ImportProgram, ImportRun

# The staging tables and their columns, in the order of ImportBatch's rows.
_stages = {
    "import_stage_customers": (
        "id", "row_no", "phone", "name", "email", "birthday", "tier_floor", "blocked_reason",
        "created_at", "operation_id", "points", "available", "document_id",
    ),
    "import_stage_cards": ("customer_id", "number", "status", "created_at"),
    "import_stage_lots": (
        "id", "customer_id", "operation_id", "points", "activates_at", "expires_at",
    ),
}  # fmt: skip


class ImportQueries(NamedQueries):
    async def import_program(self, program_id: UUID) -> ImportProgram | None:
        row = await self._fetchrow("import_program", program_id)
        return None if row is None else ImportProgram(country=row["country"], now=row["now"])

    async def import_run(self, program_id: UUID, import_id: str) -> ImportRun | None:
        row = await self._fetchrow("import_run", program_id, import_id)
        if row is None:
            return None
        return ImportRun(
            import_id=row["import_id"],
            file_sha256=bytes(row["file_sha256"]),
            batch_customers=row["batch_customers"],
            started_at=row["started_at"],
            finished_at=row["finished_at"],
            applied=frozenset(row["applied"]),
        )

    async def start_import_run(
        self, program_id: UUID, import_id: str, file_sha256: bytes, batch_customers: int
    ) -> ImportRun:
        await self._execute("start_import_run", program_id, import_id, file_sha256, batch_customers)
        run = await self.import_run(program_id, import_id)
        if run is None:
            raise LookupError(f"import {import_id} was not recorded")
        return run

    async def taken_phones(self, program_id: UUID, phones: list[str]) -> set[str]:
        return {row["phone"] for row in await self._fetch("taken_phones", program_id, phones)}

    async def taken_cards(self, program_id: UUID, numbers: list[str]) -> set[str]:
        return {row["number"] for row in await self._fetch("taken_cards", program_id, numbers)}

    async def apply_import_batch(self, batch: ImportBatch) -> bool:
        recorded = await self._fetchrow(
            "record_import_batch",
            batch.program_id,
            batch.import_id,
            batch.batch_no,
            len(batch.customers),
            batch.lot_count,
            batch.points,
        )
        if recorded is None:
            return False
        await self.connection.execute(QUERIES["create_import_stage"])
        for table, records in (
            ("import_stage_customers", batch.customers),
            ("import_stage_cards", batch.cards),
            ("import_stage_lots", batch.lots),
        ):
            if records:
                await self.connection.copy_records_to_table(
                    table, records=records, columns=_stages[table]
                )
        await self._execute("apply_import_batch", batch.program_id, batch.now)
        await self._execute("roll_up_import_batch")
        return True

    async def finish_import_run(self, program_id: UUID, import_id: str) -> None:
        await self._execute("finish_import_run", program_id, import_id)
