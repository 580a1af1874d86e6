"""Promo campaigns and their codes (decision 0032). Admin scope, as the campaigns; the codes
are used at checkout (``promo_codes`` of calculate, purchase and commit)."""

from typing import Any
from uuid import UUID

import msgspec
from litestar import Controller, Request, Response, get, post

from api.auth import admin_scopes
from api.controllers.reports import csv_description, csv_file, csv_media_type
from api.http import Cursor, PageSize, accepted, answer, mutation_for, renderer, respond
from processing.core import limits
from processing.service.loyalty.promo import (
    PromoCampaignCommand,
    PromoCampaigns,
    PromoCodesCommand,
    codes_columns,
    codes_rows,
)
from processing.service.records import Actor
from processing.service.reports.points import csv_bytes
from schemas.promo import (
    PromoCampaign,
    PromoCampaignCreate,
    PromoCampaignPage,
    PromoCodesCreate,
    PromoCodesMade,
)

AnyRequest = Request[Any, Any, Any]


class PromoCampaignsController(Controller):
    path = "/v1/programs/{program_id:uuid}/promo-campaigns"
    opt = {"scopes": admin_scopes}
    tags = ["promo codes"]

    @post("", name="create_promo_campaign", status_code=201)
    async def create_promo_campaign(
        self,
        request: AnyRequest,
        program_id: UUID,
        data: PromoCampaignCreate,
        promo_campaigns: PromoCampaigns,
    ) -> Response[PromoCampaign]:
        """A promo campaign: when, where and on what its codes work, what they give, how often
        they may be used, and whether they stack. Its codes are made with ``.../codes``."""
        command = msgspec.convert(msgspec.to_builtins(data), PromoCampaignCommand)
        stored = await promo_campaigns.create(
            mutation_for(request, data, program_id), program_id, command, renderer(PromoCampaign)
        )
        return respond(request, stored)

    @get("", name="list_promo_campaigns")
    async def list_promo_campaigns(
        self,
        request: AnyRequest,
        program_id: UUID,
        promo_campaigns: PromoCampaigns,
        actor: Actor,
        limit: PageSize = limits.page_size_default,
        cursor: Cursor = None,
    ) -> Response[PromoCampaignPage]:
        """The program's promo campaigns, newest first, a page at a time, with their usage."""
        outcome = await promo_campaigns.page(actor, program_id, limit, cursor)
        return answer(request, outcome, PromoCampaignPage)

    @get("/{campaign_id:uuid}", name="get_promo_campaign")
    async def get_promo_campaign(
        self,
        request: AnyRequest,
        program_id: UUID,
        campaign_id: UUID,
        promo_campaigns: PromoCampaigns,
        actor: Actor,
    ) -> Response[PromoCampaign]:
        """The campaign and its usage: uses (counted at purchase), points and discount its
        codes gave, customers who used it, codes it has."""
        outcome = await promo_campaigns.get(actor, program_id, campaign_id)
        return answer(request, outcome, PromoCampaign)

    @post("/{campaign_id:uuid}/end", name="end_promo_campaign", status_code=200)
    async def end_promo_campaign(
        self,
        request: AnyRequest,
        program_id: UUID,
        campaign_id: UUID,
        promo_campaigns: PromoCampaigns,
    ) -> Response[PromoCampaign]:
        """Ends a running campaign now (a leaked code, a budget spent): its codes are refused
        as ``expired`` from then on; uses already made stay. A campaign that has ended is
        refused (409 ``promo_campaign_ended``)."""
        stored = await promo_campaigns.end(
            mutation_for(request, None, program_id, campaign_id),
            program_id,
            campaign_id,
            renderer(PromoCampaign),
        )
        return respond(request, stored)

    @post("/{campaign_id:uuid}/codes", name="create_promo_codes", status_code=201)
    async def create_promo_codes(
        self,
        request: AnyRequest,
        program_id: UUID,
        campaign_id: UUID,
        data: PromoCodesCreate,
        promo_campaigns: PromoCampaigns,
    ) -> Response[PromoCodesMade]:
        """Codes of the campaign: one ``shared`` code, a ``batch`` of generated unique codes
        (with a check character, so a mistyped one is refused as such), or a ``personal`` code
        bound to a customer. A code the program has already is refused (409
        ``promo_code_exists``)."""
        command = msgspec.convert(msgspec.to_builtins(data), PromoCodesCommand)
        stored = await promo_campaigns.make_codes(
            mutation_for(request, data, program_id, campaign_id),
            program_id,
            campaign_id,
            command,
            renderer(PromoCodesMade),
        )
        return respond(request, stored)

    @get(
        "/{campaign_id:uuid}/codes/export",
        name="export_promo_codes",
        media_type=csv_media_type,
        response_description=f"The codes as CSV: {csv_description}",
    )
    async def export_promo_codes(
        self, program_id: UUID, campaign_id: UUID, promo_campaigns: PromoCampaigns, actor: Actor
    ) -> Response[bytes]:
        """Every code of the campaign with its state (``unused``, ``used``, ``exhausted``) and
        uses, oldest first, as CSV."""
        outcome = await promo_campaigns.codes(actor, program_id, campaign_id)
        codes = accepted(outcome, list)
        body = csv_bytes(codes_columns, codes_rows(codes))
        return csv_file(body, f"promo-codes-{campaign_id}.csv")


__all__ = ["PromoCampaignsController"]
