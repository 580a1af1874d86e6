"""Import of a base in the export's format (docs/import-export.md): customers, cards and each
open lot as an opening balance with its own activation and expiry.

A run reads the whole file first and checks every row (``import_rows``), then every phone and
card against the program; it writes nothing while any row is invalid, unless told to skip the
invalid customers. It then applies the file in batches of customers, numbered in file order;
each batch is one transaction that records itself (``import_batches``), so a run killed at any
point resumes where it stopped and a finished one applies nothing twice."""

import csv
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from typing import Any, Protocol, TextIO
from uuid import UUID, uuid4

import msgspec

from processing.core.invariants import invariant
from processing.service.loyalty.import_rows import (
    ImportCustomer,
    RowError,
    header_refusal,
    read_customers,
)
from processing.service.ports import Database, ImportBatch, ImportRun

# How many phones or card numbers one query checks against the program.
conflict_check_values_max = 10_000
report_columns = ("row", "field", "reason")


class UnusableFile(Exception):
    """The file or the run cannot be used at all: an unknown program, a file that is not in
    the format or not in the encoding, an import id already used for another file."""


class Progress(Protocol):
    def begin(self, phase: str, total: int | None) -> None: ...
    def advance(self, count: int) -> None: ...


class ImportRequest(msgspec.Struct, frozen=True, kw_only=True):
    program_id: UUID
    import_id: str
    file_sha256: bytes
    batch_customers: int
    dry_run: bool
    skip_invalid: bool


class ImportOutcome(msgspec.Struct, frozen=True, kw_only=True):
    import_id: str
    rows: int
    customers: int  # valid customers of the file (in batches applied before included)
    lots: int
    points: int
    expired_lots: int  # imported, and burned by the next expiry sweep
    invalid_rows: int
    batches_applied: int  # by this run
    batches_before: int  # by an earlier run of the same import
    written: bool  # False: a dry run, or a file refused for its invalid rows
    errors: list[RowError]


def file_rows(stream: TextIO, separator: str) -> Iterator[tuple[int, list[str]]]:
    """The file's rows after the header, numbered as an editor numbers them (the header is row
    1; a quoted line break makes a row span lines, and its number is where it starts)."""
    reader = csv.reader(stream, delimiter=separator, strict=True)
    row = 1
    try:
        header = next(reader, None)
        if header is None:
            raise UnusableFile("the file is empty")
        refusal = header_refusal(header, separator)
        if refusal is not None:
            raise UnusableFile(refusal)
        row = reader.line_num + 1
        for fields in reader:
            if fields:
                yield row, fields
            row = reader.line_num + 1
    except UnicodeDecodeError as error:
        raise UnusableFile(
            f"the file is not {error.encoding} (at row {row} or soon after); name its encoding "
            "with --encoding"
        ) from error
    except csv.Error as error:
        raise UnusableFile(f"row {row}: {error}") from error


async def import_file(
    database: Database, request: ImportRequest, rows: Iterable[tuple[int, list[str]]],
    progress: Progress,
) -> ImportOutcome:  # fmt: skip
    async with database.reader() as store:
        program = await store.import_program(request.program_id)
        if program is None:
            raise UnusableFile(f"no program with id {request.program_id}")
        run = await store.import_run(request.program_id, request.import_id)
    if run is not None and run.file_sha256 != request.file_sha256:
        raise UnusableFile(f"import id {request.import_id} was used for another file")
    if run is not None and run.finished_at is not None and not request.dry_run:
        return finished(request, run)
    batch_customers = request.batch_customers if run is None else run.batch_customers
    applied = frozenset() if run is None else run.applied
    progress.begin("checking", None)
    customers = []
    for customer in read_customers(rows, program.country, program.now):
        customers.append(customer)
        progress.advance(customer.rows)
    pending = [c for c in customers if c.ordinal // batch_customers not in applied]
    conflicts = await find_conflicts(database, request.program_id, pending)
    errors = sorted(
        [error for c in customers for error in c.errors]
        + [error for found in conflicts.values() for error in found],
        key=lambda error: error.row,
    )
    valid = [c for c in customers if not c.errors and c.ordinal not in conflicts]
    invalid_rows = len({error.row for error in errors})
    counted = counts(valid, program.now, invalid_rows)
    base = ImportOutcome(
        import_id=request.import_id, rows=sum(c.rows for c in customers), **counted,
        batches_applied=0, batches_before=len(applied), written=False, errors=errors,
    )  # fmt: skip
    if request.dry_run or (errors and not request.skip_invalid):
        return base
    waiting = {c.ordinal for c in pending}
    batches = await apply(database, request, [c for c in valid if c.ordinal in waiting], progress)
    async with database.reader() as store:
        await store.finish_import_run(request.program_id, request.import_id)
    return msgspec.structs.replace(base, batches_applied=batches, written=True)


def finished(request: ImportRequest, run: ImportRun) -> ImportOutcome:
    return ImportOutcome(
        import_id=request.import_id, rows=0, customers=0, lots=0, points=0, expired_lots=0,
        invalid_rows=0, batches_applied=0, batches_before=len(run.applied), written=False,
        errors=[],
    )  # fmt: skip


def counts(valid: list[ImportCustomer], now: datetime, invalid_rows: int) -> dict[str, int]:
    lots = [lot for c in valid for lot in c.lots]
    return {
        "customers": len(valid),
        "lots": len(lots),
        "points": sum(lot.points for lot in lots),
        "expired_lots": sum(1 for lot in lots if lot.expires_at and lot.expires_at <= now),
        "invalid_rows": invalid_rows,
    }


async def find_conflicts(
    database: Database, program_id: UUID, customers: list[ImportCustomer]
) -> dict[int, list[RowError]]:
    """Customers whose phone or a card number the program already has, by ordinal. Only the
    customers of batches not yet applied are asked about: the others are this import's own."""
    by_phone = {c.phone: c for c in customers if not c.errors}
    by_card = {card: c for c in by_phone.values() for card in (*c.cards, *c.blocked_cards)}
    found: dict[int, list[RowError]] = {}
    async with database.reader() as store:
        for phones in chunks(list(by_phone)):
            for phone in await store.taken_phones(program_id, phones):
                customer = by_phone[phone]
                found.setdefault(customer.ordinal, []).append(
                    RowError(customer.row, "phone", f"{phone} is already a customer of the program")
                )
        for numbers in chunks(list(by_card)):
            for number in sorted(await store.taken_cards(program_id, numbers)):
                customer = by_card[number]
                found.setdefault(customer.ordinal, []).append(
                    RowError(customer.row, "cards", f"card {number} is already in the program")
                )
    return found


def chunks(values: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(values), conflict_check_values_max):
        yield values[start : start + conflict_check_values_max]


async def apply(
    database: Database, request: ImportRequest, customers: list[ImportCustomer],
    progress: Progress,
) -> int:  # fmt: skip
    async with database.reader() as store:
        run = await store.start_import_run(
            request.program_id, request.import_id, request.file_sha256, request.batch_customers
        )
        program = await store.import_program(request.program_id)
    invariant(program is not None, "programs are never deleted")
    assert program is not None  # noqa: S101 (for mypy; the invariant above checks it)
    groups: dict[int, list[ImportCustomer]] = {}
    for customer in customers:
        groups.setdefault(customer.ordinal // run.batch_customers, []).append(customer)
    progress.begin("importing", len(customers))
    applied = 0
    for batch_no, group in groups.items():
        if batch_no in run.applied:
            continue
        batch = batch_of(request, run, batch_no, group, program.now)
        async with database.transaction() as store:
            applied += await store.apply_import_batch(batch)
        progress.advance(len(group))
    return applied


def batch_of(
    request: ImportRequest, run: ImportRun, batch_no: int, group: list[ImportCustomer],
    now: datetime,
) -> ImportBatch:  # fmt: skip
    """The batch's staging rows. A customer is enrolled at the run's start plus their place in
    the file in microseconds, so that customers list in file order, on a resumed run too."""
    customers: list[tuple[Any, ...]] = []
    cards: list[tuple[Any, ...]] = []
    lots: list[tuple[Any, ...]] = []
    for customer in group:
        customer_id = uuid4()
        enrolled = run.started_at + timedelta(microseconds=customer.ordinal)
        operation_id = uuid4() if customer.lots else None
        available = sum(
            lot.points
            for lot in customer.lots
            if lot.activates_at <= now and (lot.expires_at is None or lot.expires_at > now)
        )
        customers.append((
            customer_id, customer.row, customer.phone, customer.name, customer.email,
            customer.birthday, customer.tier, customer.blocked_reason, enrolled, operation_id,
            customer.points, available, f"{request.import_id}:{customer.row}",
        ))  # fmt: skip
        cards.extend((customer_id, number, "active", enrolled) for number in customer.cards)
        cards.extend(
            (customer_id, number, "blocked", enrolled) for number in customer.blocked_cards
        )
        lots.extend(
            (uuid4(), customer_id, operation_id, lot.points, lot.activates_at, lot.expires_at)
            for lot in customer.lots
        )
    return ImportBatch(
        program_id=request.program_id, import_id=request.import_id, batch_no=batch_no, now=now,
        customers=customers, cards=cards, lots=lots, lot_count=len(lots),
        points=sum(customer.points for customer in group),
    )  # fmt: skip


def write_report(errors: list[RowError], out: TextIO, separator: str) -> None:
    """The error report: one line per refused field, ``row``, ``field``, ``reason``."""
    writer = csv.writer(out, delimiter=separator, lineterminator="\r\n")
    writer.writerow(report_columns)
    writer.writerows((error.row, error.field, error.reason) for error in errors)
