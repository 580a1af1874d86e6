"""Charities and donations (decision 0034): the program names its charities (admin scope), and
a customer gives points to one of them (any key of the program: a till, a shop, a CRM)."""

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.params import Parameter

from api.auth import admin_scopes, program_scopes
from api.http import Cursor, PageSize, answer, mutation_for, renderer, respond
from processing.core import limits
from processing.service.ledger.donations import CharityCommand, DonationCommand, Donations
from processing.service.records import Actor
from schemas.donations import (
    Charity,
    CharityCreate,
    CharityPage,
    CharityReport,
    Donation,
    DonationCreate,
)

AnyRequest = Request[Any, Any, Any]
Starts = Annotated[datetime, Parameter(query="from", description="The period's start, included.")]
Ends = Annotated[datetime, Parameter(query="to", description="The period's end, excluded.")]


class CharitiesController(Controller):
    path = "/v1/programs/{program_id:uuid}/charities"
    opt = {"scopes": admin_scopes}
    tags = ["donations"]

    @post("", name="create_charity", status_code=201)
    async def create_charity(
        self, request: AnyRequest, program_id: UUID, data: CharityCreate, donations: Donations
    ) -> Response[Charity]:
        """Names a charity of the program: customers may then give it points
        (``POST /v1/customers/{id}/donations``)."""
        command = msgspec.convert(msgspec.to_builtins(data), CharityCommand)
        stored = await donations.create_charity(
            mutation_for(request, data, program_id), program_id, command, renderer(Charity)
        )
        return respond(request, stored)

    @get("", name="list_charities")
    async def list_charities(
        self,
        request: AnyRequest,
        program_id: UUID,
        donations: Donations,
        actor: Actor,
        limit: PageSize = limits.page_size_default,
        cursor: Cursor = None,
    ) -> Response[CharityPage]:
        """The program's charities, newest first, a page at a time."""
        outcome = await donations.page(actor, program_id, limit, cursor)
        return answer(request, outcome, CharityPage)

    @get("/{charity_id:uuid}", name="get_charity")
    async def get_charity(
        self,
        request: AnyRequest,
        program_id: UUID,
        charity_id: UUID,
        donations: Donations,
        actor: Actor,
    ) -> Response[Charity]:
        """The charity and the points it received in all."""
        outcome = await donations.get_charity(actor, program_id, charity_id)
        return answer(request, outcome, Charity)

    @get("/{charity_id:uuid}/report", name="charity_report")
    async def charity_report(
        self,
        request: AnyRequest,
        program_id: UUID,
        charity_id: UUID,
        starts_at: Starts,
        ends_at: Ends,
        donations: Donations,
        actor: Actor,
    ) -> Response[CharityReport]:
        """What the charity received over a period: points, distinct donors, donations."""
        outcome = await donations.report(actor, program_id, charity_id, starts_at, ends_at)
        return answer(request, outcome, CharityReport)


class DonationsController(Controller):
    path = "/v1/customers/{customer_id:uuid}/donations"
    opt = {"scopes": program_scopes}
    tags = ["donations"]

    @post("", name="donate", status_code=201)
    async def donate(
        self, request: AnyRequest, customer_id: UUID, data: DonationCreate, donations: Donations
    ) -> Response[Donation]:
        """Gives the customer's available points to a charity of their program, the
        soonest-expiring first: a ledger operation of type ``donation`` debiting the customer
        and crediting the charity's account, told as ``donation.made``. Refused: an unknown
        charity (404 ``charity_not_found``, field ``charity_id``), a blocked account (409
        ``account_blocked``), too few available points (409 ``insufficient_points``, field
        ``points``)."""
        command = msgspec.convert(msgspec.to_builtins(data), DonationCommand)
        stored = await donations.donate(
            mutation_for(request, data, customer_id), customer_id, command, renderer(Donation)
        )
        return respond(request, stored)


__all__ = ["CharitiesController", "DonationsController"]
