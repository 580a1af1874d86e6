"""Export of a program's customers and balances in the format ``docs/import-export.md``
describes: one CSV row per open lot, so that every lot's own activation and expiry survive a
round trip. Rows are written as the cursor yields them, in one snapshot, so the file is
consistent and memory stays bounded whatever the program's size."""

import csv
from datetime import UTC, date, datetime
from typing import TextIO
from uuid import UUID

import msgspec

from processing.service.ports import Database, ExportedLot

# The header, in this order; the import reads the same names.
columns = (
    "customer_id",
    "phone",
    "cards",
    "blocked_cards",
    "name",
    "email",
    "birthday",
    "tier",
    "blocked",
    "blocked_reason",
    "points",
    "held",
    "activates_at",
    "expires_at",
)


class ExportCount(msgspec.Struct, frozen=True, kw_only=True):
    customers: int
    lots: int
    points: int


class Unencodable(Exception):
    """A value the chosen encoding cannot write (a name in an alphabet Windows-1251 lacks)."""


async def export_program(
    database: Database, program_id: UUID, out: TextIO, separator: str, batch_rows: int
) -> ExportCount:
    writer = csv.writer(out, delimiter=separator, lineterminator="\r\n")
    writer.writerow(columns)
    customers = lots = points = 0
    last: UUID | None = None
    async with database.snapshot() as store:
        async for lot in store.exported_lots(program_id, batch_rows):
            try:
                writer.writerow(row_of(lot))
            except UnicodeEncodeError as error:
                raise Unencodable(
                    f"customer {lot.customer_id}: {error.object[error.start : error.end]!r} "
                    f"cannot be written in {out.encoding}"
                ) from error
            customers += lot.customer_id != last
            last = lot.customer_id
            lots += lot.points is not None
            points += lot.points or 0
    return ExportCount(customers=customers, lots=lots, points=points)


def row_of(lot: ExportedLot) -> list[str]:
    return [
        str(lot.customer_id),
        lot.phone,
        " ".join(lot.cards),
        " ".join(lot.blocked_cards),
        lot.name or "",
        lot.email or "",
        day(lot.birthday),
        lot.tier_floor or "",
        "1" if lot.blocked_reason is not None else "0",
        lot.blocked_reason or "",
        "" if lot.points is None else str(lot.points),
        "" if lot.held is None else str(lot.held),
        moment(lot.activates_at),
        moment(lot.expires_at),
    ]


def day(value: date | None) -> str:
    return "" if value is None else value.isoformat()


def moment(value: datetime | None) -> str:
    """RFC 3339 in UTC with a ``Z``; microseconds only when the lot has them."""
    if value is None:
        return ""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
