"""Paid membership (decision 0035): an operator defines the program's levels (admin scope);
a till, web shop, CRM or operator sells a customer a level, renews and cancels it, each with
the money and the document it was paid with, and reads it. Its privileges are applied by the
checkout calls."""

from typing import Any
from uuid import UUID

import msgspec
from litestar import Controller, Request, Response, get, post

from api.auth import admin_scopes, program_scopes
from api.http import answer, mutation_for, renderer, respond
from processing.service.loyalty.membership import LevelCommand, Memberships, PaymentCommand
from processing.service.records import Actor
from schemas.membership import (
    Membership,
    MembershipCancel,
    MembershipLevel,
    MembershipLevelCreate,
    MembershipLevelList,
    MembershipPurchase,
    MembershipRenewal,
)

AnyRequest = Request[Any, Any, Any]


def _command(data: Any) -> PaymentCommand:
    return msgspec.convert(msgspec.to_builtins(data), PaymentCommand)


class MembershipLevelsController(Controller):
    path = "/v1/programs/{program_id:uuid}/membership-levels"
    opt = {"scopes": admin_scopes}
    tags = ["paid membership"]

    @post("", name="create_membership_level", status_code=201)
    async def create_level(
        self,
        request: AnyRequest,
        program_id: UUID,
        data: MembershipLevelCreate,
        memberships: Memberships,
    ) -> Response[MembershipLevel]:
        """A level the program sells for a month or a year: its price in the program's
        currency, its grace period, its privileges and its cancellation rule (``no_refund``
        or ``pro_rata`` by unused whole days, rounded down)."""
        command = msgspec.convert(msgspec.to_builtins(data), LevelCommand)
        stored = await memberships.create_level(
            mutation_for(request, data, program_id), program_id, command, renderer(MembershipLevel)
        )
        return respond(request, stored)

    @get("", name="list_membership_levels")
    async def list_levels(
        self, request: AnyRequest, program_id: UUID, memberships: Memberships, actor: Actor
    ) -> Response[MembershipLevelList]:
        """The program's membership levels, oldest first."""
        return answer(request, await memberships.levels(actor, program_id), MembershipLevelList)


class MembershipController(Controller):
    path = "/v1/customers/{customer_id:uuid}/membership"
    opt = {"scopes": program_scopes}
    tags = ["paid membership"]

    @get("", name="get_membership")
    async def get_membership(
        self, request: AnyRequest, customer_id: UUID, memberships: Memberships, actor: Actor
    ) -> Response[Membership]:
        """The customer's newest membership and its state now: ``active``, ``grace`` (the
        period ended, privileges continue until ``grace_ends_at``), ``lapsed`` or
        ``cancelled``."""
        return answer(request, await memberships.get(actor, customer_id), Membership)

    @post("/purchase", name="purchase_membership", status_code=201)
    async def purchase(
        self,
        request: AnyRequest,
        customer_id: UUID,
        data: MembershipPurchase,
        memberships: Memberships,
    ) -> Response[Membership]:
        """Sells the customer a level's first period, paid with ``amount_minor`` (its price)
        by ``document``. Refused while a membership is in force (409 ``membership_exists``)
        and for a document that paid already (409 ``duplicate_document``)."""
        stored = await memberships.purchase(
            mutation_for(request, data, customer_id),
            customer_id,
            _command(data),
            renderer(Membership),
        )
        return respond(request, stored)

    @post("/renew", name="renew_membership", status_code=200)
    async def renew(
        self,
        request: AnyRequest,
        customer_id: UUID,
        data: MembershipRenewal,
        memberships: Memberships,
    ) -> Response[Membership]:
        """Pays one more period of the membership active or in grace; the period continues
        the chain (it starts where the last one ended). A lapsed or cancelled one is refused
        (409 ``membership_not_active``): buy again."""
        stored = await memberships.renew(
            mutation_for(request, data, customer_id),
            customer_id,
            _command(data),
            renderer(Membership),
        )
        return respond(request, stored)

    @post("/cancel", name="cancel_membership", status_code=200)
    async def cancel(
        self,
        request: AnyRequest,
        customer_id: UUID,
        data: MembershipCancel,
        memberships: Memberships,
    ) -> Response[Membership]:
        """Cancels the membership in force at once; ``refund_minor`` is what to give back by
        the level's rule (recorded as a refund payment with ``document``)."""
        stored = await memberships.cancel(
            mutation_for(request, data, customer_id),
            customer_id,
            _command(data),
            renderer(Membership),
        )
        return respond(request, stored)
