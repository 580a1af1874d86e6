"""Rows turned into the service's records and the core's values."""

from typing import TypeVar

import asyncpg
import msgspec

from processing.adapters.postgres.turns import rules_record
from processing.core.model import Lot
from processing.service.records import Document, OperationRecord, RulesRecord

T = TypeVar("T")


def rules_row(row: asyncpg.Record) -> RulesRecord:
    """A rules row; one that has its rules (a stored version) needs no program's expiry_days."""
    return rules_record(
        row["program_id"], row["version"], row["rules"], row["created_at"], row.get("expiry_days")
    )


def record_of(row: asyncpg.Record | None, kind: type[T]) -> T:
    if row is None:
        raise LookupError(f"expected a {kind.__name__} row, the query returned none")
    return msgspec.convert(dict(row), kind, from_attributes=False)


def lot_row(row: asyncpg.Record) -> Lot:
    return Lot(
        id=row["id"],
        points=row["points"],
        remaining=row["remaining"],
        held=row["held"],
        activates_at=row["activates_at"],
        expires_at=row["expires_at"],
    )


def operation_row(row: asyncpg.Record) -> OperationRecord:
    document = None
    if row["document_id"] is not None:
        document = Document(
            id=row["document_id"], name=row["document_name"], comment=row["document_comment"]
        )
    fields = {key: value for key, value in row.items() if not key.startswith("document_")}
    fields.pop("program_id", None)
    return msgspec.convert({**fields, "document": document}, OperationRecord)
