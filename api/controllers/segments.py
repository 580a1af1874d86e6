"""Segments: saved filters over a program's customers, their versions, count, members and CSV
export (decision 0022). Admin scope, as the other admin lists."""

from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID

from litestar import Controller, Request, Response, get, post, put
from litestar.response import Stream

from api.auth import admin_scopes
from api.errors import ProblemError
from api.http import Cursor, PageSize, answer, attachment, mutation_for, renderer, respond
from processing.core import limits
from processing.service.loyalty.segments import SegmentCommand, Segments
from processing.service.records import Actor, Refused
from schemas.segments import (
    Segment,
    SegmentCount,
    SegmentCreate,
    SegmentMemberPage,
    SegmentPage,
    SegmentUpdate,
    SegmentVersionPage,
)

AnyRequest = Request[Any, Any, Any]
csv_media_type = "text/csv"


class SegmentsController(Controller):
    path = "/v1"
    opt = {"scopes": admin_scopes}
    tags = ["segments"]

    @post("/programs/{program_id:uuid}/segments", name="create_segment", status_code=201)
    async def create_segment(
        self, request: AnyRequest, program_id: UUID, data: SegmentCreate, segments: Segments
    ) -> Response[Segment]:
        """Saves a segment (its version 1): a name and a filter over the program's customers.
        A filter that cannot be read is refused naming its JSON path (``filter.all[2].min``)."""
        command = SegmentCommand(name=data.name, filter=data.filter)
        stored = await segments.create(
            mutation_for(request, data, program_id), program_id, command, renderer(Segment)
        )
        return respond(request, stored)

    @get("/programs/{program_id:uuid}/segments", name="list_segments")
    async def list_segments(
        self,
        request: AnyRequest,
        program_id: UUID,
        segments: Segments,
        actor: Actor,
        limit: PageSize = limits.page_size_default,
        cursor: Cursor = None,
    ) -> Response[SegmentPage]:
        """The program's segments, newest first, a page at a time, each as its newest version
        reads."""
        return answer(request, await segments.page(actor, program_id, limit, cursor), SegmentPage)

    @get("/segments/{segment_id:uuid}", name="get_segment")
    async def get_segment(
        self, request: AnyRequest, segment_id: UUID, segments: Segments, actor: Actor
    ) -> Response[Segment]:
        """The segment as its newest version reads."""
        return answer(request, await segments.get(actor, segment_id), Segment)

    @put("/segments/{segment_id:uuid}", name="update_segment", status_code=200)
    async def update_segment(
        self, request: AnyRequest, segment_id: UUID, data: SegmentUpdate, segments: Segments
    ) -> Response[Segment]:
        """A new version of the segment (its filter, and its name when given); earlier
        versions stay as they were."""
        command = SegmentCommand(name=data.name, filter=data.filter)
        stored = await segments.update(
            mutation_for(request, data, segment_id), segment_id, command, renderer(Segment)
        )
        return respond(request, stored)

    @get("/segments/{segment_id:uuid}/versions", name="segment_versions")
    async def segment_versions(
        self,
        request: AnyRequest,
        segment_id: UUID,
        segments: Segments,
        actor: Actor,
        limit: PageSize = limits.page_size_default,
        cursor: Cursor = None,
    ) -> Response[SegmentVersionPage]:
        """The segment's versions, newest first, a page at a time."""
        outcome = await segments.versions(actor, segment_id, limit, cursor)
        return answer(request, outcome, SegmentVersionPage)

    @get("/segments/{segment_id:uuid}/count", name="count_segment")
    async def count_segment(
        self, request: AnyRequest, segment_id: UUID, segments: Segments, actor: Actor
    ) -> Response[SegmentCount]:
        """How many customers the segment's newest version holds: exact at once in a small
        program; in a large one an estimate at once, and ``exact`` from the newest count taken
        in the background (null until there is one)."""
        return answer(request, await segments.count(actor, segment_id), SegmentCount)

    @get("/segments/{segment_id:uuid}/members", name="segment_members")
    async def segment_members(
        self,
        request: AnyRequest,
        segment_id: UUID,
        segments: Segments,
        actor: Actor,
        limit: PageSize = limits.page_size_default,
        cursor: Cursor = None,
    ) -> Response[SegmentMemberPage]:
        """The segment's members, newest first, a page at a time: points available and
        pending, what expires within the segment's window, and the tier in force."""
        outcome = await segments.members(actor, segment_id, limit, cursor)
        return answer(request, outcome, SegmentMemberPage)

    @get(
        "/segments/{segment_id:uuid}/export",
        name="export_segment",
        media_type=csv_media_type,
        response_description="The members as CSV: UTF-8 with a byte order mark, ';', CRLF.",
    )
    async def export_segment(
        self, segment_id: UUID, segments: Segments, actor: Actor
    ) -> Response[Any]:
        """The segment's members as CSV, streamed as it is read (docs/import-export.md's
        conventions): customer_id, phone, name, available, pending, expiring, expiring_days,
        tier, created_at."""
        found = await segments.export(actor, segment_id)
        if isinstance(found, Refused):
            raise ProblemError(found)
        lines: AsyncIterator[bytes] = segments.export_lines(found, limits.export_batch_rows_default)
        filename = f"segment-{found.id}-v{found.version}.csv"
        return Stream(
            lines,
            media_type=csv_media_type,
            headers=attachment(filename),
        )


__all__ = ["SegmentsController"]
