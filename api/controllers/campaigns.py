"""Campaigns: a bulk bonus accrual over a segment's members, run by the worker (decision
0024). Admin scope, as the segments."""

from typing import Any
from uuid import UUID

import msgspec
from litestar import Controller, Request, Response, get, post

from api.auth import admin_scopes
from api.http import Cursor, PageSize, answer, mutation_for, renderer, respond
from processing.core import limits
from processing.service.messaging.campaigns import CampaignCommand, Campaigns
from processing.service.records import Actor
from schemas.campaigns import Campaign, CampaignCreate, CampaignPage

AnyRequest = Request[Any, Any, Any]


class CampaignsController(Controller):
    path = "/v1"
    opt = {"scopes": admin_scopes}
    tags = ["campaigns"]

    @post("/programs/{program_id:uuid}/campaigns", name="create_campaign", status_code=201)
    async def create_campaign(
        self, request: AnyRequest, program_id: UUID, data: CampaignCreate, campaigns: Campaigns
    ) -> Response[Campaign]:
        """Schedules a bulk bonus accrual and/or a message over one of the program's segments.
        At ``starts_at`` the worker snapshots the segment's members and accrues ``points`` to
        each once, throttled (a blocked account is skipped), and makes the message of each
        member accrued to (each member, without points) through the message relay, once per
        channel. Either ``expires_at`` or ``expiry_days``, not both, and only with points;
        each template must render with sample values (else 400 naming it)."""
        command = msgspec.convert(data, CampaignCommand, from_attributes=True)
        stored = await campaigns.create(
            mutation_for(request, data, program_id), program_id, command, renderer(Campaign)
        )
        return respond(request, stored)

    @get("/programs/{program_id:uuid}/campaigns", name="list_campaigns")
    async def list_campaigns(
        self,
        request: AnyRequest,
        program_id: UUID,
        campaigns: Campaigns,
        actor: Actor,
        limit: PageSize = limits.page_size_default,
        cursor: Cursor = None,
    ) -> Response[CampaignPage]:
        """The program's campaigns, newest first, a page at a time, with their progress."""
        outcome = await campaigns.page(actor, program_id, limit, cursor)
        return answer(request, outcome, CampaignPage)

    @get("/campaigns/{campaign_id:uuid}", name="get_campaign")
    async def get_campaign(
        self, request: AnyRequest, campaign_id: UUID, campaigns: Campaigns, actor: Actor
    ) -> Response[Campaign]:
        """The campaign's state and progress: members, pending, accrued, skipped by reason,
        failed."""
        return answer(request, await campaigns.get(actor, campaign_id), Campaign)

    @post("/campaigns/{campaign_id:uuid}/cancel", name="cancel_campaign", status_code=200)
    async def cancel_campaign(
        self, request: AnyRequest, campaign_id: UUID, campaigns: Campaigns
    ) -> Response[Campaign]:
        """Stops a scheduled or running campaign: members not yet accrued stay so. A finished
        or cancelled campaign is refused (409 ``campaign_not_cancellable``)."""
        stored = await campaigns.cancel(
            mutation_for(request, None, campaign_id), campaign_id, renderer(Campaign)
        )
        return respond(request, stored)


__all__ = ["CampaignsController"]
