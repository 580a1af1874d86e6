"""Shopify's webhook receiver, ``/hooks/shopify/{connection_id}``: no API key (Shopify cannot
send ours), the delivery's HMAC over the raw body instead. A verified delivery is stored in the
inbox once per ``X-Shopify-Webhook-Id`` and acknowledged at once; the channel worker applies
it, so Shopify's five-second budget is never spent on the ledger."""

from typing import Any
from uuid import UUID

from litestar import Controller, Request, Response, post

from api.errors import problem
from api.http import partner_connection, store_json_event
from processing.core.rejections import Rejection
from processing.runtime import Runtime
from processing.service.partners.shopify import translation as shopify
from processing.service.partners.translation import signed_base64

AnyRequest = Request[Any, Any, Any]


class ShopifyController(Controller):
    path = "/hooks/shopify"
    opt = {"public": True}
    tags = ["web shops"]

    @post("/{connection_id:uuid}", name="shopify_webhook", status_code=200)
    async def receive(
        self, request: AnyRequest, connection_id: UUID, runtime: Runtime
    ) -> Response[Any]:
        """A Shopify webhook delivery (orders/paid, orders/cancelled, refunds/create)."""
        connection = await partner_connection(runtime, connection_id, "shopify", "Shopify")
        body = await request.body()
        header = request.headers.get("x-shopify-hmac-sha256", "")
        if not signed_base64(connection.secrets.get("client_secret", ""), body, header):
            raise problem(Rejection.unauthorized, "X-Shopify-Hmac-SHA256 does not match the body.")
        if request.headers.get("x-shopify-shop-domain") != connection.account:
            raise problem(
                Rejection.unauthorized,
                f"This connection serves {connection.account}.",
                "X-Shopify-Shop-Domain",
            )
        webhook_id = request.headers.get("x-shopify-webhook-id", "").strip()
        if not webhook_id or len(webhook_id) > 300:
            raise problem(Rejection.validation_error, "X-Shopify-Webhook-Id is required.")
        topic = request.headers.get("x-shopify-topic", "")
        return await store_json_event(runtime, connection, webhook_id, topic, shopify.topics, body)
