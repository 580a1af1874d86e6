"""Webhook subscriptions and their deliveries (operators): subscribe, list, disable, see
what was delivered or died, and redeliver."""

from typing import Annotated, Any, Literal
from uuid import UUID

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.params import Parameter

from api.auth import admin_scopes
from api.http import answer, mutation_for, renderer, renderer_hiding_secret, respond
from processing.core import limits
from processing.service.messaging.webhooks import WebhookCommand, Webhooks
from processing.service.records import Actor
from schemas.api import (
    Redelivery,
    Webhook,
    WebhookCreate,
    WebhookCreated,
    WebhookDeliveryPage,
)

AnyRequest = Request[Any, Any, Any]
# Delivery ids are bigserials; ids are bounded by the largest integer every JSON reader holds
# exactly (a JavaScript client included), which the sequence will never reach.
delivery_id_max = 2**53 - 1
DeliveryId = Annotated[int, Parameter(ge=1, le=delivery_id_max)]


class WebhooksController(Controller):
    path = "/v1"
    opt = {"scopes": admin_scopes}
    tags = ["webhooks"]

    @post("/programs/{program_id:uuid}/webhooks", name="subscribe_webhook", status_code=201)
    async def subscribe(
        self, request: AnyRequest, program_id: UUID, data: WebhookCreate, webhooks: Webhooks
    ) -> Response[WebhookCreated]:
        """Each event is POSTed as JSON, signed the Standard Webhooks way (``webhook-id``,
        ``webhook-timestamp``, ``webhook-signature``) with the secret this answer shows once."""
        command = msgspec.convert(data, WebhookCommand, from_attributes=True)
        stored = await webhooks.subscribe(
            mutation_for(request, data, program_id),
            program_id,
            command,
            renderer_hiding_secret(WebhookCreated, "secret"),
        )
        return respond(request, stored)

    @get("/programs/{program_id:uuid}/webhooks", name="list_webhooks")
    async def subscriptions(
        self, request: AnyRequest, program_id: UUID, webhooks: Webhooks, actor: Actor
    ) -> Response[list[Webhook]]:
        """The program's webhook subscriptions."""
        outcome = await webhooks.subscriptions(actor, program_id)
        return answer(request, outcome, list[Webhook])

    @post("/webhooks/{webhook_id:uuid}/disable", name="disable_webhook", status_code=200)
    async def disable(
        self, request: AnyRequest, webhook_id: UUID, webhooks: Webhooks
    ) -> Response[Webhook]:
        """Disables a subscription: nothing more is queued for it."""
        stored = await webhooks.disable(
            mutation_for(request, None, webhook_id), webhook_id, renderer(Webhook)
        )
        return respond(request, stored)

    @get("/webhooks/{webhook_id:uuid}/deliveries", name="webhook_deliveries")
    async def deliveries(
        self,
        request: AnyRequest,
        webhook_id: UUID,
        webhooks: Webhooks,
        actor: Actor,
        status: Literal["pending", "delivered", "dead"] | None = None,
        limit: Annotated[int, Parameter(ge=1, le=limits.page_size_max)] = limits.page_size_default,
        cursor: Annotated[str | None, Parameter(max_length=64)] = None,
    ) -> Response[WebhookDeliveryPage]:
        """Deliveries of a subscription, newest first, filtered by status, a page at a time."""
        outcome = await webhooks.deliveries(actor, webhook_id, status, limit, cursor)
        return answer(request, outcome, WebhookDeliveryPage)

    @post(
        "/webhook-deliveries/{delivery_id:int}/redeliver",
        name="redeliver_webhook",
        status_code=200,
    )
    async def redeliver(
        self, request: AnyRequest, delivery_id: DeliveryId, webhooks: Webhooks
    ) -> Response[Redelivery]:
        """Queues a dead (or still pending) delivery to be sent again at once, with a fresh
        attempt budget; a delivered one is not sent twice (404)."""
        stored = await webhooks.redeliver(
            mutation_for(request, None, delivery_id), delivery_id, renderer(Redelivery)
        )
        return respond(request, stored)
