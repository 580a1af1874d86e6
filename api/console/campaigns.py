"""The console's campaigns pages (decision 0024): the program's campaigns newest first with
their progress, a form that schedules one over a segment, and a campaign's own page with its
figures and, while it is scheduled or running, a form that cancels it.

Both forms go through ``console_action`` and the campaigns' own use cases (``Campaigns.create``
and ``Campaigns.cancel``), as ``POST /v1/programs/{id}/campaigns`` and
``POST /v1/campaigns/{id}/cancel`` do. The create form is read with the API's own
``CampaignCreate``; a field it cannot take, or the use case's refusal, is shown on the form
with the field it names and the form as typed, and nothing is written. The form's fingerprint is
the form as typed: a blank start means "now", and the same form sent again must be the same
request whenever it is sent.
"""

import re
from datetime import UTC, date, datetime
from functools import partial
from typing import Any, Final
from uuid import UUID

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.response import Redirect, Template

from api.console.actions import Form, Place, Where, Wrong, console_action
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
    has_nul,
    page,
    security_headers,
    session_or_sign_in,
    when,
)
from api.console.rules import schema_field
from api.console.segments import segment_in
from api.console.sessions import Signed, new_form_key
from api.console.words import words
from api.http import renderer
from processing.core import limits
from processing.runtime import Runtime
from processing.service.messaging.campaigns import CampaignCommand
from processing.service.records import Accepted, Refused, StoredResponse
from schemas.campaigns import Campaign, CampaignCreate

AnyRequest = Request[Any, Any, Any]
# The create form's fields, as the page names them.
campaign_fields: Final = (
    "name",
    "segment",
    "points",
    "expiry_days",
    "expires_on",
    "reason",
    "starts_at",
)
# A campaign that can still be stopped (``Campaigns.cancel`` says the same).
cancellable_states: Final = frozenset({"scheduled", "running"})
# The form's select offers the program's newest segments, one page of the API's largest.
segment_choices_max: Final = limits.page_size_max
_missing = re.compile(r"missing required field `([^`]+)`")


def moment_of(text: str, field: str) -> str | None:
    """A form's date (``2027-01-31``, its midnight) or date and time (``2027-01-31T09:30``)
    as RFC 3339 in UTC, the zone the console shows every time in; None when blank."""
    if not text:
        return None
    try:
        moment: date = datetime.fromisoformat(text) if "T" in text else date.fromisoformat(text)
    except ValueError as error:
        raise Wrong("bad_moment", error_field=field) from error
    if not isinstance(moment, datetime):
        moment = datetime(moment.year, moment.month, moment.day, tzinfo=UTC)
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).isoformat()


def campaign_request(form: Form) -> tuple[CampaignCreate, dict[str, str]]:
    """The campaign the form asks for, read as the API reads its body, and the form as typed;
    ``Wrong`` with the field a value breaks."""
    typed = {name: form.text(name) for name in campaign_fields}
    if has_nul(*typed.values()):
        raise Wrong()
    body = {
        "name": typed["name"],
        "segment_id": typed["segment"] or None,
        "points": typed["points"] or None,
        "reason": typed["reason"],
        "expiry_days": typed["expiry_days"] or None,
        "expires_at": moment_of(typed["expires_on"], "expires_at"),
        "starts_at": moment_of(typed["starts_at"], "starts_at"),
    }
    given = {name: value for name, value in body.items() if value is not None}
    try:
        return msgspec.convert(given, CampaignCreate, strict=False), typed
    except msgspec.ValidationError as error:
        missing = _missing.search(str(error))
        field = missing.group(1) if missing else schema_field(error)
        text = f"{words(form.signed.session.locale)['campaign_refused']}: {error}"
        raise Wrong(message=text, error_field=field) from error


async def segment_choices(runtime: Runtime, signed: Signed, program_id: UUID) -> Any:
    """The program's newest segments, for the form's select and the list's names."""
    listed = await runtime.segments.page(signed.actor, program_id, segment_choices_max, None)
    return listed.value if isinstance(listed, Accepted) else None


async def campaigns_page(
    runtime: Runtime,
    signed: Signed,
    program_id: UUID,
    *,
    cursor: str | None = None,
    notice: str | None = None,
    message: str | None = None,
    error_field: str | None = None,
    form: dict[str, str] | None = None,
    status_code: int = 200,
) -> Template:
    locale, actor = signed.session.locale, signed.actor
    listed = await runtime.campaigns.page(actor, program_id, size, cursor)
    if isinstance(listed, Refused):
        message = message or refusal(locale, listed)
        status_code = status_code if status_code != 200 else 404
    segments = await segment_choices(runtime, signed, program_id)
    return page(
        "console/campaigns.html",
        locale,
        signed,
        status_code,
        program_id=program_id,
        campaigns=listed.value if isinstance(listed, Accepted) else None,
        first_page=cursor is not None,
        segments=segments,
        segment_names={item.id: item.name for item in segments.items} if segments else {},
        form=form or {},
        error_field=error_field,
        create_key=new_form_key(),
        notice=notice,
        message=message,
        when=when,
    )


async def campaign_page(
    runtime: Runtime,
    signed: Signed,
    campaign_id: UUID,
    *,
    notice: str | None = None,
    message: str | None = None,
    status_code: int = 200,
) -> Template:
    """A campaign's figures; another program's campaign is not found (404)."""
    locale, actor = signed.session.locale, signed.actor
    found = await runtime.campaigns.get(actor, campaign_id)
    if not isinstance(found, Accepted):
        text = message or (refusal(locale, found) if isinstance(found, Refused) else None)
        return page("console/refused.html", locale, signed, 404, message=text)
    campaign = found.value
    segment = await runtime.segments.get(actor, campaign.segment_id)
    cancellable = campaign.state in cancellable_states
    return page(
        "console/campaign.html",
        locale,
        signed,
        status_code,
        program_id=campaign.program_id,
        campaign=campaign,
        segment=segment.value if isinstance(segment, Accepted) else None,
        cancel_key=new_form_key() if cancellable else None,
        notice=notice,
        message=message,
        when=when,
    )


def on_campaigns(runtime: Runtime) -> Where:
    """The create form's page: a refusal shows the form as typed and the field it names."""

    def place(signed: Signed, program_id: UUID, fields: dict[str, str]) -> Place:
        typed = {name: fields.get(name, "") for name in campaign_fields}
        return Place(
            show=partial(campaigns_page, runtime, signed, program_id, form=typed),
            back=f"/console/campaigns?program={program_id}",
            missing="campaign_segment_missing",
            kept=lambda problem: {"error_field": problem.field},
            program_id=program_id,
        )

    return in_program(runtime, "/console/campaigns", place)


def on_campaign(runtime: Runtime, campaign_id: UUID) -> Where:
    async def where(signed: Signed, fields: dict[str, str]) -> Place:
        return Place(
            show=partial(campaign_page, runtime, signed, campaign_id),
            back=f"/console/campaigns/{campaign_id}",
            missing="nothing_found",
        )

    return where


class ConsoleCampaignsController(Controller):
    path = "/console/campaigns"
    opt = {"public": True}  # noqa: RUF012  (Litestar reads it as configuration)
    include_in_schema = False
    response_headers = security_headers
    exception_handlers = console_exception_handlers

    @get("/", name="console_campaigns")
    async def campaigns(
        self,
        request: AnyRequest,
        runtime: Runtime,
        lang: str | None = None,
        program: str | None = None,
        segment: str | None = None,
        cursor: str | None = None,
        done: str | None = None,
    ) -> Response[Any]:
        """The program's campaigns; ``?segment=`` picks the form's segment."""
        signed = await session_or_sign_in(request, runtime, lang)
        if isinstance(signed, Redirect):
            return signed
        cursor = cursor_in(cursor)
        program_id = program_in(signed, program)
        if program_id is None:
            return await programs_page(runtime, signed, "/console/campaigns", cursor)
        notice = notice_of(signed.session.locale, done, ("campaign_created",))
        chosen = segment_in(segment)
        return await campaigns_page(
            runtime,
            signed,
            program_id,
            cursor=cursor,
            notice=notice,
            form={"segment": str(chosen)} if chosen else None,
        )

    @post("/", name="console_create_campaign", status_code=303)
    async def create(self, request: AnyRequest, runtime: Runtime) -> Response[Any]:
        """Schedules a campaign, as ``POST /v1/programs/{id}/campaigns`` does."""

        async def step(form: Form) -> StoredResponse:
            data, typed = campaign_request(form)
            command = msgspec.convert(data, CampaignCommand, from_attributes=True)
            mutation = form.mutation("console_create_campaign", form.program_id, typed)
            return await runtime.campaigns.create(
                mutation, form.program_id, command, renderer(Campaign)
            )

        where = on_campaigns(runtime)
        return await console_action(request, runtime, where, step, "campaign_created")

    @get("/{campaign_id:uuid}", name="console_campaign")
    async def campaign(
        self,
        request: AnyRequest,
        runtime: Runtime,
        campaign_id: UUID,
        lang: str | None = None,
        done: str | None = None,
    ) -> Response[Any]:
        signed = await session_or_sign_in(request, runtime, lang)
        if isinstance(signed, Redirect):
            return signed
        notice = notice_of(signed.session.locale, done, ("campaign_cancelled",))
        return await campaign_page(runtime, signed, campaign_id, notice=notice)

    @post("/{campaign_id:uuid}/cancel", name="console_cancel_campaign", status_code=303)
    async def cancel(
        self, request: AnyRequest, runtime: Runtime, campaign_id: UUID
    ) -> Response[Any]:
        """Stops a scheduled or running campaign, as ``POST /v1/campaigns/{id}/cancel`` does;
        a finished or cancelled one is refused on its page. Needs the confirmation box."""

        async def step(form: Form) -> StoredResponse:
            if form.fields.get("confirm") != "yes":  # a cancel cannot be undone
                raise Wrong("confirm_cancel_needed")
            mutation = form.mutation("console_cancel_campaign", campaign_id)
            return await runtime.campaigns.cancel(mutation, campaign_id, renderer(Campaign))

        where = on_campaign(runtime, campaign_id)
        return await console_action(request, runtime, where, step, "campaign_cancelled")
