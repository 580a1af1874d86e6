"""Loyalty rules (operators) and the checkout calculation (tills and shops)."""

from typing import Any
from uuid import UUID

import msgspec
from litestar import Controller, Request, Response, get, post, put

from api.auth import admin_scopes, manager_scopes, program_scopes
from api.http import answer, mutation_for, renderer, respond
from processing.core.rules import Rules
from processing.service.loyalty.bonuses import Bonuses, EventCommand
from processing.service.loyalty.use_cases import (
    CalculationCommand,
    Loyalty,
    PurchaseCommand,
    TierCommand,
)
from processing.service.records import Actor
from schemas.api import Operation
from schemas.loyalty import (
    CheckoutCalculate,
    CheckoutQuote,
    CustomerTier,
    EventCreate,
    ProgramRules,
    ProgramRulesView,
    Purchase,
    PurchaseCreate,
    TierSet,
)

AnyRequest = Request[Any, Any, Any]


class RulesController(Controller):
    path = "/v1/programs/{program_id:uuid}/rules"
    opt = {"scopes": admin_scopes}
    tags = ["rules"]

    @put("", name="replace_rules", status_code=200)
    async def replace_rules(
        self, request: AnyRequest, program_id: UUID, data: ProgramRules, loyalty: Loyalty
    ) -> Response[ProgramRulesView]:
        """Replaces the program's rules with a new version; earlier versions stay as they were,
        and every operation records the version it used."""
        rules = msgspec.convert(msgspec.to_builtins(data), Rules)
        stored = await loyalty.replace_rules(
            mutation_for(request, data, program_id), program_id, rules, renderer(ProgramRulesView)
        )
        return respond(request, stored)

    @get("", name="get_rules")
    async def get_rules(
        self, request: AnyRequest, program_id: UUID, loyalty: Loyalty, actor: Actor
    ) -> Response[ProgramRulesView]:
        """The current rules; version 0 means the program was never given any (the defaults)."""
        return answer(request, await loyalty.rules(actor, program_id), ProgramRulesView)


class CheckoutController(Controller):
    path = "/v1/checkout"
    opt = {"scopes": program_scopes}
    tags = ["checkout"]

    @post("/calculate", name="calculate", status_code=200)
    async def calculate(
        self, request: AnyRequest, data: CheckoutCalculate, loyalty: Loyalty, actor: Actor
    ) -> Response[CheckoutQuote]:
        """Prices a receipt for a customer without side effects: per line the amount, the
        program's discount (``program_discount_bp``, ``program_discount_minor``: what the till
        takes off; decision 0036), the most points it may take of the price after it, the
        points allocated to it and the points it earns; the totals are the line sums. A
        requested ``redeem_points`` above what may be spent is cut to it. Each of
        ``promo_codes`` is applied (its points in the lines' earned points, its discount as
        ``promo_discount_minor``) or refused with its ``reason``; a refused code never fails
        the calculation."""
        command = msgspec.convert(msgspec.to_builtins(data), CalculationCommand)
        return answer(request, await loyalty.calculate(actor, command), CheckoutQuote)


class PurchasesController(Controller):
    path = "/v1/customers/{customer_id:uuid}/purchases"
    opt = {"scopes": program_scopes}
    tags = ["checkout"]

    @post("", name="purchase", status_code=201)
    async def purchase(
        self, request: AnyRequest, customer_id: UUID, data: PurchaseCreate, loyalty: Loyalty
    ) -> Response[Purchase]:
        """Records a purchase paid in money: it earns points under the current rules (pending
        for the activation delay) and counts toward the customer's tier. The receipt's
        ``document.id`` applies once per store. Every one of ``promo_codes`` must apply (else 409
        ``promo_code_refused`` naming it, and nothing is written); their uses are counted with
        the purchase."""
        command = msgspec.convert(msgspec.to_builtins(data), PurchaseCommand)
        stored = await loyalty.purchase(
            mutation_for(request, data, customer_id), customer_id, command, renderer(Purchase)
        )
        return respond(request, stored)


class EventsController(Controller):
    path = "/v1/customers/{customer_id:uuid}/events"
    opt = {"scopes": program_scopes}
    tags = ["bonuses"]

    @post("", name="event", status_code=201)
    async def event(
        self, request: AnyRequest, customer_id: UUID, data: EventCreate, bonuses: Bonuses
    ) -> Response[Operation]:
        """Grants the bonus the program's rules define for the event (``birthday``, or a name
        from ``bonuses.events``), at most once per period of its rule."""
        command = msgspec.convert(msgspec.to_builtins(data), EventCommand)
        stored = await bonuses.event(
            mutation_for(request, data, customer_id), customer_id, command, renderer(Operation)
        )
        return respond(request, stored)


class TierController(Controller):
    path = "/v1/customers/{customer_id:uuid}/tier"
    tags = ["tiers"]

    @get("", name="get_tier", opt={"scopes": program_scopes})
    async def get_tier(
        self, request: AnyRequest, customer_id: UUID, loyalty: Loyalty, actor: Actor
    ) -> Response[CustomerTier]:
        """The tier in force, the manual floor, the money that counts over the tier window, and
        the next tier with its threshold."""
        return answer(request, await loyalty.tier(actor, customer_id), CustomerTier)

    @put("", name="set_tier", status_code=200, opt={"scopes": manager_scopes})
    async def set_tier(
        self, request: AnyRequest, customer_id: UUID, data: TierSet, loyalty: Loyalty
    ) -> Response[CustomerTier]:
        """Sets a manual tier, a floor under what spend gives; ``tier: null`` clears it."""
        command = msgspec.convert(msgspec.to_builtins(data), TierCommand)
        stored = await loyalty.set_tier(
            mutation_for(request, data, customer_id), customer_id, command, renderer(CustomerTier)
        )
        return respond(request, stored)
