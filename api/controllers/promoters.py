"""Promoters (decision 0034): made by the program's admin, each with a referral code, a link to
the enrollment page carrying it, and that link's QR code drawn on the server."""

import io
from typing import Any
from uuid import UUID

import msgspec
import segno
from litestar import Controller, Request, Response, get, post

from api.auth import admin_scopes
from api.errors import ProblemError
from api.http import Cursor, PageSize, accepted, answer, mutation_for, renderer, respond
from processing.core import limits
from processing.core.rejections import Rejection
from processing.service.loyalty.promoters import PromoterCommand, Promoters
from processing.service.records import Actor, Outcome, Page, PromoterRecord, Refused, refuse
from schemas.promoters import Promoter, PromoterCreate, PromoterPage

AnyRequest = Request[Any, Any, Any]
svg_media_type = "image/svg+xml"


def shown(promoters: Promoters, promoter: PromoterRecord) -> dict[str, Any]:
    fields: dict[str, Any] = msgspec.to_builtins(promoter)
    return fields | {"link": promoters.link(promoter)}


def with_links(promoters: Promoters, outcome: Outcome) -> Outcome:
    if isinstance(outcome, Refused):
        return outcome
    value = outcome.value
    if isinstance(value, Page):
        items = [shown(promoters, item) for item in value.items]
        return msgspec.structs.replace(
            outcome, value={"items": items, "next_cursor": value.next_cursor}
        )
    return msgspec.structs.replace(outcome, value=shown(promoters, value))


def qr_svg(text: str) -> bytes:
    """The link as a QR code in SVG, drawn on the server by segno (already the enrollment
    page's encoder): error correction M, a quiet zone of 4 modules."""
    buffer = io.BytesIO()
    segno.make(text, error="m", micro=False).save(buffer, kind="svg", scale=8, xmldecl=True)
    return buffer.getvalue()


class PromotersController(Controller):
    path = "/v1/programs/{program_id:uuid}/promoters"
    opt = {"scopes": admin_scopes}
    tags = ["promoters"]

    @post("", name="create_promoter", status_code=201)
    async def create_promoter(
        self, request: AnyRequest, program_id: UUID, data: PromoterCreate, promoters: Promoters
    ) -> Response[Promoter]:
        """A promoter of the program with its code and reward. Refused: a customer not of the
        program (404, field ``customer_id``), a code another promoter has (409
        ``promoter_code_taken``), no reward (400)."""
        command = msgspec.convert(msgspec.to_builtins(data), PromoterCommand)
        plain = renderer(Promoter)
        stored = await promoters.create(
            mutation_for(request, data, program_id),
            program_id,
            command,
            lambda outcome: plain(with_links(promoters, outcome)),
        )
        return respond(request, stored)

    @get("", name="list_promoters")
    async def list_promoters(
        self,
        request: AnyRequest,
        program_id: UUID,
        promoters: Promoters,
        actor: Actor,
        limit: PageSize = limits.page_size_default,
        cursor: Cursor = None,
    ) -> Response[PromoterPage]:
        """The program's promoters, newest first, a page at a time, with what each brought."""
        outcome = await promoters.page(actor, program_id, limit, cursor)
        return answer(request, with_links(promoters, outcome), PromoterPage)

    @get("/{promoter_id:uuid}", name="get_promoter")
    async def get_promoter(
        self,
        request: AnyRequest,
        program_id: UUID,
        promoter_id: UUID,
        promoters: Promoters,
        actor: Actor,
    ) -> Response[Promoter]:
        """The promoter, its link and what it brought."""
        outcome = await promoters.get(actor, program_id, promoter_id)
        return answer(request, with_links(promoters, outcome), Promoter)

    @get(
        "/{promoter_id:uuid}/qr",
        name="promoter_qr",
        media_type=svg_media_type,
        response_description="The referral link as a QR code (SVG), to print on a poster.",
    )
    async def promoter_qr(
        self, program_id: UUID, promoter_id: UUID, promoters: Promoters, actor: Actor
    ) -> Response[bytes]:
        """The promoter's referral link as a QR code image (SVG). 409 ``enrollment_page_missing``
        while the program has no enrollment page to link to."""
        promoter = accepted(await promoters.get(actor, program_id, promoter_id), PromoterRecord)
        link = promoters.link(promoter)
        if link is None:
            raise ProblemError(
                refuse(
                    Rejection.enrollment_page_missing,
                    "The program has no enrollment page for the link to open: put one first.",
                )
            )
        return Response(content=qr_svg(link), media_type=svg_media_type)


__all__ = ["PromotersController"]
