"""Settlement statements and the liability by merchant (decision 0026).

Closing a period computes, from the ledger's entries, what each redemption of the period took
from lots earned at another party's stores and what each refund of the period gave back to
them (``sql/settlement.sql``), values each line at its redemption's point value, totals each
party (``processing/core/settlement.py``) and writes the statement, its totals and lines with
the answer in one statement. The load and the write run in one transaction behind a lock per
program, so two overlapping periods are never both closed; the rows are never changed after.

A merchant's key (``Actor.merchant_id``) reads only its own side: its own totals, and the lines
where its merchant earned or redeemed."""

import csv
import io
from collections.abc import AsyncIterator
from datetime import date
from uuid import UUID, uuid4

import msgspec

from processing.core import limits
from processing.core.model import Rejected
from processing.core.rejections import Rejection
from processing.core.rules import Rules
from processing.core.settlement import (
    SettlementLine,
    check_ended,
    check_line_count,
    check_period,
    exact_minor,
    party_totals,
)
from processing.service.ledger.decisions import refused_by
from processing.service.mutations import Change, Decision, Mutation, MutationRunner, Render
from processing.service.paging import by_creation, paged
from processing.service.ports import Database, SettlementFacts, Store, UnvaluedLine
from processing.service.records import (
    Accepted,
    Actor,
    LiabilityItem,
    LiabilityRecord,
    Outcome,
    Page,
    Position,
    Refused,
    SettlementLineRecord,
    SettlementRecord,
    StoredResponse,
    refuse,
)
from processing.service.rules import current_rules

# The CSV of a statement's lines: its header, in this order.
export_columns = (
    "statement_id",
    "position",
    "operation_id",
    "operation_type",
    "refund_of",
    "created_at",
    "store_id",
    "merchant_id",
    "merchant_name",
    "earning_store_id",
    "earning_merchant_id",
    "earning_merchant_name",
    "points",
    "point_value_minor",
    "money_minor",
)
position_max = 2**31 - 1  # the column is an integer
_no_statement = refuse(Rejection.not_found, "No settlement statement with this id.")


class SettlementCommand(msgspec.Struct, frozen=True, kw_only=True):
    """The period [start, end) of the program's local days."""

    start: date
    end: date


class ClosingFacts(msgspec.Struct, frozen=True, kw_only=True):
    """What closing a period decides on: the program's facts (None: no such program, or the
    period was refused before any read), the parties, and the lines with their point values
    (read only when the period can be closed; one more than the bound when it holds more)."""

    facts: SettlementFacts | None
    merchants: dict[UUID, str] = {}
    lines: list[UnvaluedLine] = []
    point_values: dict[int, int] = {}


class Settlements:
    def __init__(self, database: Database, runner: MutationRunner) -> None:
        self.database = database
        self.runner = runner

    async def close(
        self, mutation: Mutation, program_id: UUID, command: SettlementCommand, render: Render
    ) -> StoredResponse:
        """Closes the period with a new statement (201), in one transaction behind the
        program's settlement lock."""
        actor = mutation.actor

        async def load(store: Store) -> ClosingFacts:
            return await closing_facts(store, actor, program_id, command)

        def decide(facts: ClosingFacts) -> Change | Outcome:
            return statement_change(actor, command, facts)

        async def serialize(store: Store) -> None:
            await store.lock_settlements(program_id)

        return await self.runner.serialized_change(
            mutation, Decision(load, decide), render, serialize
        )

    async def get(self, actor: Actor, statement_id: UUID) -> Outcome:
        async with self.database.reader() as store:
            found = await store.get_settlement(statement_id, actor.program_id)
        if found is None:
            return _no_statement
        return Accepted(value=side_of(found, actor.merchant_id))

    async def page(self, actor: Actor, program_id: UUID, limit: int, cursor: str | None) -> Outcome:
        """The program's statements, newest first, without their totals."""

        async def read(
            store: Store, after: Position, count: int
        ) -> list[SettlementRecord] | Refused:
            if await store.get_program(program_id, actor.program_id) is None:
                return refuse(Rejection.not_found, "No program with this id.")
            return await store.list_settlements(program_id, after, count)

        return await paged(self.database, cursor, limit, read, by_creation)

    async def lines(
        self, actor: Actor, statement_id: UUID, limit: int, cursor: str | None
    ) -> Outcome:
        """The statement's lines in order, a page at a time; the cursor is the position a page
        ended on. A merchant's key reads only the lines of its merchant."""
        after = -1
        if cursor is not None:
            if not cursor.isdigit() or not 0 <= int(cursor) <= position_max:
                return refuse(Rejection.validation_error, "cursor is not valid.", field="cursor")
            after = int(cursor)
        size = min(limit, limits.page_size_max)
        async with self.database.reader() as store:
            if await store.get_settlement(statement_id, actor.program_id) is None:
                return _no_statement
            items = await store.settlement_line_page(
                statement_id, after, size + 1, actor.merchant_id
            )
        shown = items[:size]
        more = len(items) > size and bool(shown)
        next_cursor = str(shown[-1].position) if more else None
        return Accepted(value=Page(items=shown, next_cursor=next_cursor))

    async def export(self, actor: Actor, statement_id: UUID) -> SettlementRecord | Refused:
        """The statement to export, checked before the first byte is sent."""
        found = await self.get(actor, statement_id)
        if isinstance(found, Refused):
            return found
        statement: SettlementRecord = found.value
        return statement

    async def export_lines(
        self, statement: SettlementRecord, merchant_id: UUID | None, batch_rows: int
    ) -> AsyncIterator[bytes]:
        """The statement's lines as CSV (UTF-8, ``,``, CRLF, a header row), a batch at a time
        from the stored lines (which never change, so no snapshot is needed)."""
        async with self.database.reader() as store:
            names = await store.program_merchants(statement.program_id)
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\r\n")
        writer.writerow(export_columns)
        after = -1
        while True:
            async with self.database.reader() as store:
                batch = await store.settlement_line_page(
                    statement.id, after, batch_rows, merchant_id
                )
            for line in batch:
                writer.writerow(row_of(statement.id, line, names))
            yield drained(buffer)
            if len(batch) < batch_rows:
                return
            after = batch[-1].position

    async def liability(self, actor: Actor, program_id: UUID) -> Outcome:
        """Outstanding points by the party that earned them, at the current point value."""
        async with self.database.reader() as store:
            program = await store.get_program(program_id, actor.program_id)
            if program is None:
                return refuse(Rejection.not_found, "No program with this id.")
            rules = await current_rules(store, program_id)
            points = await store.liability_points(program_id)
            merchants = await store.program_merchants(program_id)
        value = rules.rules.point_value_minor
        ordered = sorted(merchants, key=lambda found: (merchants[found], found))
        parties: list[UUID | None] = [*ordered, None]
        items = [
            LiabilityItem(
                merchant_id=party,
                merchant_name=None if party is None else merchants.get(party),
                points=points.get(party, 0),
                money_minor=exact_minor(points.get(party, 0), value),
            )
            for party in parties
            if actor.merchant_id is None or party == actor.merchant_id
        ]
        return Accepted(
            value=LiabilityRecord(
                program_id=program_id,
                currency=program.currency,
                rules_version=rules.version,
                point_value_minor=value,
                items=items,
            )
        )


async def closing_facts(
    store: Store, actor: Actor, program_id: UUID, command: SettlementCommand
) -> ClosingFacts:
    """Reads only as much as the decision will use: nothing for a period refused on its face,
    no lines for a period that overlaps a statement or has not ended."""
    if check_period(command.start, command.end) is not None:
        return ClosingFacts(facts=None)
    facts = await store.settlement_facts(program_id, actor.program_id, command.start, command.end)
    if (
        facts is None
        or facts.overlapping is not None
        or check_ended(facts.ends_at, facts.now, facts.time_zone) is not None
    ):
        return ClosingFacts(facts=facts)
    bound = limits.settlement_lines_max + 1
    lines = await store.settlement_lines(program_id, facts.starts_at, facts.ends_at, bound)
    versions = sorted({line.rules_version for line in lines if line.rules_version > 0})
    rules = await store.rules_of_versions(program_id, versions) if versions else {}
    values = {version: found.point_value_minor for version, found in rules.items()}
    values[0] = Rules().point_value_minor  # a program never given rules: the defaults
    merchants = await store.program_merchants(program_id)
    return ClosingFacts(facts=facts, merchants=merchants, lines=lines, point_values=values)


def statement_change(
    actor: Actor, command: SettlementCommand, closing: ClosingFacts
) -> Change | Outcome:
    """The statement of the period as loaded, or the first refusal that applies: the period
    itself, the program, an overlap with a closed statement, a period not ended, too many
    lines."""
    checked: Rejected | None = check_period(command.start, command.end)
    if checked is not None:
        return refused_by(checked)
    facts = closing.facts
    if facts is None:
        return refuse(Rejection.not_found, "No program with this id.")
    if facts.overlapping is not None:
        return refuse(
            Rejection.settlement_period_overlaps,
            f"The period overlaps closed statement {facts.overlapping}; closed periods do "
            "not change.",
            field="from",
        )
    checked = check_ended(facts.ends_at, facts.now, facts.time_zone) or check_line_count(
        len(closing.lines)
    )
    if checked is not None:
        return refused_by(checked)
    lines = [valued(line, closing.point_values[line.rules_version]) for line in closing.lines]
    statement = SettlementRecord(
        id=uuid4(),
        program_id=facts.program_id,
        period_from=command.start,
        period_to=command.end,
        time_zone=facts.time_zone,
        starts_at=facts.starts_at,
        ends_at=facts.ends_at,
        currency=facts.currency,
        lines=len(lines),
        key_id=actor.key_id,
        created_at=facts.now,
        totals=party_totals(lines, closing.merchants),
    )
    return Change(
        outcome=Accepted(value=statement, created=True),
        write=lambda store, answer: store.insert_settlement(statement, lines, answer),
    )


def valued(line: UnvaluedLine, point_value_minor: int) -> SettlementLine:
    return SettlementLine(
        operation_id=line.operation_id,
        operation_type=line.operation_type,
        refund_of=line.refund_of,
        created_at=line.created_at,
        store_id=line.store_id,
        merchant_id=line.merchant_id,
        earning_store_id=line.earning_store_id,
        earning_merchant_id=line.earning_merchant_id,
        points=line.points,
        point_value_minor=point_value_minor,
        money_minor=exact_minor(line.points, point_value_minor),
    )


def side_of(statement: SettlementRecord, merchant_id: UUID | None) -> SettlementRecord:
    """The statement as a key reads it: a merchant's key sees its own totals only."""
    if merchant_id is None:
        return statement
    own = [total for total in statement.totals if total.merchant_id == merchant_id]
    return msgspec.structs.replace(statement, totals=own)


def drained(buffer: io.StringIO) -> bytes:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text.encode("utf-8")


def row_of(statement_id: UUID, line: SettlementLineRecord, names: dict[UUID, str]) -> list[str]:
    def text(value: object) -> str:
        return "" if value is None else str(value)

    return [
        str(statement_id),
        str(line.position),
        str(line.operation_id),
        line.operation_type,
        text(line.refund_of),
        line.created_at.isoformat().replace("+00:00", "Z"),
        text(line.store_id),
        text(line.merchant_id),
        names.get(line.merchant_id, "") if line.merchant_id else "",
        text(line.earning_store_id),
        text(line.earning_merchant_id),
        names.get(line.earning_merchant_id, "") if line.earning_merchant_id else "",
        str(line.points),
        str(line.point_value_minor),
        str(line.money_minor),
    ]
