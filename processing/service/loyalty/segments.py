"""Segments: a saved filter over a program's customers, versioned as rules are (a change adds
a version; versions never change), with its count, its members a page at a time, and an
export of them as CSV (decision 0022).

The count is exact at once when the program has at most ``exact_customers_max`` customers.
Above that, the answer is at once an estimate from a sample of the customers, with the newest
exact count taken of the same version (null until there is one); an exact count runs in the
background when there is none fresh, and is stored with the version it counted."""

import asyncio
import csv
import io
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any
from uuid import UUID, uuid4

import msgspec
import structlog

from processing.core import limits
from processing.core.rejections import Rejection
from processing.core.segments import Group, expiring_window_days, parse_filter, tier_names, to_json
from processing.service.mutations import Change, Decision, Mutation, MutationRunner, Render
from processing.service.paging import by_creation, paged
from processing.service.ports import (
    Audience,
    Database,
    NewSegmentVersion,
    SegmentFacts,
    Store,
)
from processing.service.records import (
    Accepted,
    Actor,
    Outcome,
    Page,
    Position,
    Refused,
    SegmentCountRecord,
    SegmentMemberRecord,
    SegmentRecord,
    StoredResponse,
    refuse,
)
from processing.service.rules import current_rules

log = structlog.get_logger(__name__)
segment_version_max = 2**31 - 1  # the column is an integer
# The CSV of a segment's members: its header, in this order.
export_columns = (
    "customer_id",
    "phone",
    "name",
    "available",
    "pending",
    "expiring",
    "expiring_days",
    "tier",
    "created_at",
)
export_separator = ";"
byte_order_mark = "\ufeff"


class SegmentCommand(msgspec.Struct, frozen=True, kw_only=True):
    """A new segment or a new version: ``name`` None keeps the newest version's."""

    name: str | None
    filter: Any


class Facts(msgspec.Struct, frozen=True, kw_only=True):
    found: SegmentFacts | None
    tiers: tuple[str, ...]


class Segments:
    def __init__(
        self, database: Database, runner: MutationRunner, exact_customers_max: int
    ) -> None:
        self.database = database
        self.runner = runner
        self.exact_customers_max = exact_customers_max
        self._counting: dict[tuple[UUID, int], asyncio.Task[None]] = {}

    async def create(
        self, mutation: Mutation, program_id: UUID, command: SegmentCommand, render: Render
    ) -> StoredResponse:
        """A new segment (its version 1) in the program."""
        return await self._version(mutation, command, render, program_id, None)

    async def update(
        self, mutation: Mutation, segment_id: UUID, command: SegmentCommand, render: Render
    ) -> StoredResponse:
        """A new version of the segment, numbered after its newest: two updates decided on the
        same newest version race for its number, and the loser is decided again."""
        return await self._version(mutation, command, render, None, segment_id)

    async def _version(
        self,
        mutation: Mutation,
        command: SegmentCommand,
        render: Render,
        program_id: UUID | None,
        segment_id: UUID | None,
    ) -> StoredResponse:
        actor = mutation.actor

        async def load(store: Store) -> Facts:
            found = await store.segment_facts(program_id, segment_id, actor.program_id)
            if found is None:
                return Facts(found=None, tiers=())
            rules = await current_rules(store, found.program_id)
            return Facts(found=found, tiers=tuple(tier.name for tier in rules.rules.tiers))

        def decide(facts: Facts) -> Change | Outcome:
            return version_change(actor, segment_id or uuid4(), command, facts)

        return await self.runner.change(mutation, Decision(load, decide), render)

    async def get(self, actor: Actor, segment_id: UUID) -> Outcome:
        async with self.database.reader() as store:
            segment = await store.get_segment(segment_id, actor.program_id)
        return segment_or_refusal(segment)

    async def page(self, actor: Actor, program_id: UUID, limit: int, cursor: str | None) -> Outcome:
        """The program's segments, newest first, each as its newest version reads."""

        async def read(store: Store, after: Position, count: int) -> list[SegmentRecord] | Refused:
            if await store.get_program(program_id, actor.program_id) is None:
                return refuse(Rejection.not_found, "No program with this id.")
            return await store.list_segments(program_id, after, count)

        return await paged(self.database, cursor, limit, read, by_creation)

    async def versions(
        self, actor: Actor, segment_id: UUID, limit: int, cursor: str | None
    ) -> Outcome:
        """The segment's versions, newest first; the cursor is the version a page ended on."""
        before = segment_version_max
        if cursor is not None:
            if not cursor.isdigit() or not 1 <= int(cursor) <= segment_version_max:
                return refuse(Rejection.validation_error, "cursor is not valid.", field="cursor")
            before = int(cursor)
        size = min(limit, limits.page_size_max)
        async with self.database.reader() as store:
            if await store.get_segment(segment_id, actor.program_id) is None:
                return refuse(Rejection.not_found, "No segment with this id.")
            items = await store.segment_versions(segment_id, before, size + 1)
        shown = items[:size]
        more = len(items) > size and bool(shown)
        next_cursor = str(shown[-1].version) if more else None
        return Accepted(value=Page(items=shown, next_cursor=next_cursor))

    async def count(self, actor: Actor, segment_id: UUID) -> Outcome:
        """The count of the segment's newest version: exact at once for a small program, else
        an estimate at once with the newest exact count taken in the background."""
        async with self.database.reader() as store:
            segment = await store.get_segment(segment_id, actor.program_id)
            if segment is None:
                return segment_or_refusal(None)
            audience = await audience_of(store, segment)
            bound = self.exact_customers_max
            if await store.program_customers(segment.program_id, bound + 1) <= bound:
                exact = await store.count_segment(audience)
                counted_at = await store.store_count(segment.id, segment.version, exact)
                return Accepted(value=counted(segment, exact, exact, counted_at))
            total = await store.program_customers(segment.program_id)
            percent = min(100.0, 100.0 * limits.segment_sample_customers / total)
            sampled, matched = await store.estimate_segment(audience, percent)
            stored = await store.stored_count(
                segment.id, segment.version, limits.segment_count_fresh_seconds
            )
        estimate = round(matched * total / sampled) if sampled else 0
        if stored is None or not stored[2]:
            self._count_later(segment, audience)
        if stored is None:
            return Accepted(value=counted(segment, estimate, None, None))
        return Accepted(value=counted(segment, estimate, stored[0], stored[1]))

    def _count_later(self, segment: SegmentRecord, audience: Audience) -> None:
        """Starts the exact count of this version in the background, unless one is running."""
        key = (segment.id, segment.version)
        if key in self._counting:
            return
        task = asyncio.create_task(self._count_exactly(segment, audience))
        self._counting[key] = task
        task.add_done_callback(lambda _: self._counting.pop(key, None))

    async def _count_exactly(self, segment: SegmentRecord, audience: Audience) -> None:
        try:
            async with self.database.reader() as store:
                exact = await store.count_segment(audience)
                await store.store_count(segment.id, segment.version, exact)
            log.info("segment_counted", segment_id=str(segment.id), exact=exact)
        except Exception:  # a background count that fails is tried again by the next request
            log.exception("segment_count_failed", segment_id=str(segment.id))

    async def counts_settled(self) -> None:
        """Waits for the background counts running now."""
        await asyncio.gather(*self._counting.values(), return_exceptions=True)

    async def stop_counting(self) -> None:
        """Cancels the background counts (a shutdown): the next request starts them again."""
        for task in self._counting.values():
            task.cancel()
        await self.counts_settled()

    async def members(
        self, actor: Actor, segment_id: UUID, limit: int, cursor: str | None
    ) -> Outcome:
        """The segment's members, newest first, a page at a time."""

        async def read(
            store: Store, after: Position, count: int
        ) -> list[SegmentMemberRecord] | Refused:
            segment = await store.get_segment(segment_id, actor.program_id)
            if segment is None:
                return refuse(Rejection.not_found, "No segment with this id.")
            return await store.segment_members(await audience_of(store, segment), after, count)

        return await paged(self.database, cursor, limit, read, by_creation)

    async def export(self, actor: Actor, segment_id: UUID) -> SegmentRecord | Refused:
        """The segment to export, checked before the first byte is sent."""
        async with self.database.reader() as store:
            segment = await store.get_segment(segment_id, actor.program_id)
        found = segment_or_refusal(segment)
        return found if isinstance(found, Refused) else segment  # type: ignore[return-value]

    async def export_lines(self, segment: SegmentRecord, batch_rows: int) -> AsyncIterator[bytes]:
        """The members as CSV (UTF-8 with a byte order mark, ``;``, CRLF, as
        docs/import-export.md writes), a batch of rows at a time from a server-side cursor in
        one read-only snapshot: memory stays flat whatever the segment's size."""
        buffer = io.StringIO()
        writer = csv.writer(buffer, delimiter=export_separator, lineterminator="\r\n")
        buffer.write(byte_order_mark)
        writer.writerow(export_columns)
        rows = 0
        async with self.database.snapshot() as store:
            audience = await audience_of(store, segment)
            async for member in store.segment_member_rows(audience, batch_rows):
                writer.writerow(row_of(member))
                rows += 1
                if rows % batch_rows == 0:
                    yield drained(buffer)
        yield drained(buffer)


def drained(buffer: io.StringIO) -> bytes:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text.encode("utf-8")


def row_of(member: SegmentMemberRecord) -> list[str]:
    return [
        str(member.id),
        member.phone,
        member.name or "",
        str(member.available),
        str(member.pending),
        str(member.expiring),
        str(member.expiring_days),
        member.tier or "",
        member.created_at.isoformat().replace("+00:00", "Z"),
    ]


def counted(
    segment: SegmentRecord, estimate: int, exact: int | None, at: datetime | None
) -> SegmentCountRecord:
    return SegmentCountRecord(
        segment_id=segment.id,
        version=segment.version,
        estimate=estimate,
        exact=exact,
        counted_at=at,
    )


def segment_or_refusal(segment: SegmentRecord | None) -> Outcome:
    if segment is None:
        return refuse(Rejection.not_found, "No segment with this id.")
    return Accepted(value=segment)


async def audience_of(store: Store, segment: SegmentRecord) -> Audience:
    """The segment's newest version, ready to compile: its filter (stored only once checked)
    and the program's current tiers, lowest first."""
    parsed = parse_filter(segment.filter)
    if not isinstance(parsed, Group):
        raise AssertionError(f"segment {segment.id} stores a filter it was refused: {parsed}")
    rules = (await current_rules(store, segment.program_id)).rules
    tiers = sorted(rules.tiers, key=lambda tier: tier.threshold_minor)
    return Audience(
        program_id=segment.program_id,
        filter=parsed,
        tier_names=tuple(tier.name for tier in tiers),
        tier_thresholds_minor=tuple(tier.threshold_minor for tier in tiers),
        tier_window_days=rules.tier_window_days,
        expiring_days=expiring_window_days(parsed),
    )


def version_change(
    actor: Actor, segment_id: UUID, command: SegmentCommand, facts: Facts
) -> Change | Outcome:
    """A new version decided on the segment (or program) as loaded: the filter must parse and
    name only tiers the program's rules have; a new segment needs a name."""
    parsed = parse_filter(command.filter)
    if not isinstance(parsed, Group):
        return refuse(parsed.rejection, parsed.detail, field=parsed.field)
    found = facts.found
    if found is None:
        return refuse(Rejection.not_found, "No such program or segment.")
    for field, tier in tier_names(parsed):
        if tier not in facts.tiers:
            return refuse(
                Rejection.validation_error,
                f"The program's rules have no tier {tier!r}; they have {list(facts.tiers)}.",
                field=field,
            )
    name = command.name or found.name
    if name is None:
        return refuse(Rejection.validation_error, "A new segment needs a name.", field="name")
    if found.version >= segment_version_max - 1:
        return refuse(Rejection.validation_error, "The segment has no versions left.")
    new = NewSegmentVersion(
        segment_id=segment_id,
        program_id=found.program_id,
        version=found.version + 1,
        name=name,
        filter=to_json(parsed),
        key_id=actor.key_id,
        at=found.now,
    )
    record = SegmentRecord(
        id=segment_id,
        program_id=found.program_id,
        version=new.version,
        name=name,
        filter=new.filter,
        created_at=found.created_at or found.now,
        updated_at=found.now,
    )
    return Change(
        outcome=Accepted(value=record, created=new.version == 1),
        write=lambda store, answer: store.insert_segment_version(new, answer),
    )
