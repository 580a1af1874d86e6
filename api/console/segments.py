"""The console's segments page (decision 0022): the program's segments, a form that saves a new
one or a new version of the one shown (its filter as JSON in a textarea), and for the one shown
its count, its members a page at a time (``members=``, the use case's cursor), its versions a
page at a time (``before=``, a version number, as the rules page pages) each with who stored
it, when, its filter as JSON and what changed in it from the version before
(``api/console/diff.py``, paths as the refusals name them: ``filter.all[0].min``), and a link to
its CSV export.

A filter text that is not JSON, or that the segment's use case refuses, is shown again as
typed with the refusal and the JSON path it names (``filter.all[2].within_days``); nothing is
saved. The export streams through the session, as ``GET /v1/segments/{id}/export`` does
through a key.
"""

import json
from functools import partial
from typing import Any, Final
from uuid import UUID

from litestar import Controller, Request, Response, get, post
from litestar.response import Redirect, Stream, Template

from api.console.actions import Form, Place, Where, Wrong, console_action
from api.console.diff import Difference, differences, shown
from api.console.operations import (
    cursor_in,
    in_program,
    notice_of,
    program_in,
    programs_page,
    refusal,
    size,
)
from api.console.pages import (
    console_exception_handlers,
    page,
    security_headers,
    session_or_sign_in,
    when,
)
from api.console.rules import version_in
from api.console.sessions import Signed, new_form_key
from api.http import renderer
from processing.core import limits
from processing.core.rejections import Rejection
from processing.runtime import Runtime
from processing.service.loyalty.segments import SegmentCommand
from processing.service.records import (
    Accepted,
    Outcome,
    Refused,
    SegmentVersionRecord,
    StoredResponse,
    refuse,
)
from schemas.segments import Segment

AnyRequest = Request[Any, Any, Any]
filter_text_max: Final = 20_000
starter_filter: Final = '{"all": [{"fact": "expiring_points", "within_days": 30, "min": 500}]}'


def segment_in(asked: str | None) -> UUID | None:
    try:
        return UUID(asked) if asked else None
    except ValueError:
        return None


def filter_text(value: Any) -> str:
    """A filter as the page prints it: indented JSON, as the editor holds it."""
    return json.dumps(value, ensure_ascii=False, indent=2)


def with_changes(
    items: list[SegmentVersionRecord], before: SegmentVersionRecord | None
) -> list[tuple[SegmentVersionRecord, list[Difference] | None]]:
    """Each version (newest first) with what changed in its filter from the version before it
    (``before``: the one before the page's oldest, when there is one); None for the first."""
    older = [*items[1:], before]
    return [
        (item, differences(prior.filter, item.filter, "filter") if prior else None)
        for item, prior in zip(items, older, strict=True)
    ]


async def segments_page(
    runtime: Runtime,
    signed: Signed,
    program_id: UUID,
    *,
    segment_id: UUID | None = None,
    cursor: str | None = None,
    members_cursor: str | None = None,
    before: int | None = None,
    notice: str | None = None,
    message: str | None = None,
    error_field: str | None = None,
    text: str | None = None,
    name: str | None = None,
    status_code: int = 200,
) -> Template:
    locale, actor, service = signed.session.locale, signed.actor, runtime.segments
    listed = await service.page(actor, program_id, size, cursor)
    if isinstance(listed, Refused):
        message, status_code = message or refusal(locale, listed), 404
    segment = count = members = history = None
    versions: list[tuple[SegmentVersionRecord, list[Difference] | None]] = []
    if segment_id is not None:
        found = await service.get(actor, segment_id)
        if isinstance(found, Accepted) and found.value.program_id == program_id:
            segment = found.value
            counted = await service.count(actor, segment_id)
            listed_members = await service.members(actor, segment_id, size, members_cursor)
            history_page = await service.versions(
                actor, segment_id, size, str(before) if before else None
            )
            for outcome in (listed_members, history_page):
                if isinstance(outcome, Refused):
                    message, status_code = message or refusal(locale, outcome), 404
            count = counted.value if isinstance(counted, Accepted) else None
            members = listed_members.value if isinstance(listed_members, Accepted) else None
            if isinstance(history_page, Accepted):
                history = history_page.value
                prior = await version_before(runtime, signed, segment_id, history.items)
                versions = with_changes(history.items, prior)
        else:
            message, status_code = (
                message or refusal(locale, refuse(Rejection.not_found, "No segment.")),
                404,
            )
    default_text = filter_text(segment.filter) if segment else None
    return page(
        "console/segments.html",
        locale,
        signed,
        status_code,
        program_id=program_id,
        segments=listed.value if isinstance(listed, Accepted) else None,
        first_page=cursor is not None,
        shown=segment,
        count=count,
        members=members,
        members_first_page=members_cursor is not None,
        history=history,
        versions=versions,
        versions_first_page=before is not None,
        filter_text=filter_text,
        shown_value=shown,
        text=text if text is not None else (default_text or starter_filter),
        typed_name=name if name is not None else (segment.name if segment else ""),
        error_field=error_field,
        save_key=new_form_key(),
        notice=notice,
        message=message,
        when=when,
    )


async def version_before(
    runtime: Runtime, signed: Signed, segment_id: UUID, items: list[SegmentVersionRecord]
) -> SegmentVersionRecord | None:
    """The version before the page's oldest (on the next page), to show what the oldest changed."""
    if not items or items[-1].version <= 1:
        return None
    found: Outcome = await runtime.segments.versions(
        signed.actor, segment_id, 1, str(items[-1].version)
    )
    if isinstance(found, Accepted) and found.value.items:
        prior: SegmentVersionRecord = found.value.items[0]
        return prior
    return None


def on_segments(runtime: Runtime, segment_id: UUID | None) -> Where:
    """The page the form is on, showing the text and name as sent and the field refused."""

    def place(signed: Signed, program_id: UUID, fields: dict[str, str]) -> Place:
        shown = f"&segment={segment_id}" if segment_id else ""
        return Place(
            show=partial(
                segments_page,
                runtime,
                signed,
                program_id,
                segment_id=segment_id,
                text=fields.get("filter", ""),
                name=fields.get("name", ""),
            ),
            back=f"/console/segments?program={program_id}{shown}",
            missing="nothing_found",
            kept=lambda problem: {"error_field": problem.field},
            program_id=program_id,
        )

    return in_program(runtime, "/console/segments", place)


def read_filter(form: Form) -> Any:
    text = form.fields.get("filter", "")
    if "\x00" in text or len(text) > filter_text_max or "\x00" in form.text("name"):
        raise Wrong()
    try:
        return json.loads(text)
    except ValueError as error:
        raise Wrong("segment_refused", error_field="filter", message=f"JSON: {error}") from error


class ConsoleSegmentsController(Controller):
    path = "/console/segments"
    opt = {"public": True}  # noqa: RUF012  (Litestar reads it as configuration)
    include_in_schema = False
    response_headers = security_headers
    exception_handlers = console_exception_handlers

    @get("/", name="console_segments")
    async def segments(
        self,
        request: AnyRequest,
        runtime: Runtime,
        lang: str | None = None,
        program: str | None = None,
        segment: str | None = None,
        cursor: str | None = None,
        members: str | None = None,
        before: str | None = None,
        done: str | None = None,
    ) -> Response[Any]:
        signed = await session_or_sign_in(request, runtime, lang)
        if isinstance(signed, Redirect):
            return signed
        cursor = cursor_in(cursor, limits.page_size_max * 2)
        members = cursor_in(members, limits.page_size_max * 2)
        program_id = program_in(signed, program)
        if program_id is None:
            return await programs_page(runtime, signed, "/console/segments", cursor)
        notice = notice_of(signed.session.locale, done, ("segment_saved",))
        return await segments_page(
            runtime,
            signed,
            program_id,
            segment_id=segment_in(segment),
            cursor=cursor,
            members_cursor=members,
            before=version_in(before),
            notice=notice,
        )

    @post("/", name="console_save_segment", status_code=303)
    async def save(self, request: AnyRequest, runtime: Runtime) -> Response[Any]:
        """A new segment, or a new version of the one the form names (``segment``)."""
        fields = await request.form()
        segment_id = segment_in(str(fields.get("segment") or ""))

        async def step(form: Form) -> StoredResponse:
            command = SegmentCommand(name=form.text("name") or None, filter=read_filter(form))
            parts = (form.program_id, segment_id, form.text("name"), form.fields.get("filter"))
            mutation = form.mutation("console_save_segment", *parts)
            if segment_id is None:
                return await runtime.segments.create(
                    mutation, form.program_id, command, renderer(Segment)
                )
            return await runtime.segments.update(mutation, segment_id, command, renderer(Segment))

        def done(form: Form, stored: StoredResponse) -> Response[Any]:
            saved = json.loads(stored.body)["id"]
            target = f"/console/segments?program={form.program_id}&segment={saved}"
            return Redirect(f"{target}&done=segment_saved", status_code=303)

        return await console_action(request, runtime, on_segments(runtime, segment_id), step, done)

    @get("/{segment_id:uuid}/export", name="console_export_segment")
    async def export(
        self, request: AnyRequest, runtime: Runtime, segment_id: UUID
    ) -> Response[Any]:
        signed = await session_or_sign_in(request, runtime, None)
        if isinstance(signed, Redirect):
            return signed
        found = await runtime.segments.export(signed.actor, segment_id)
        if isinstance(found, Refused):
            locale = signed.session.locale
            return page("console/refused.html", locale, signed, 404, message=refusal(locale, found))
        lines = runtime.segments.export_lines(found, limits.export_batch_rows_default)
        filename = f"segment-{found.id}-v{found.version}.csv"
        return Stream(
            lines,
            media_type="text/csv",
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )
