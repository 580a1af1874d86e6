"""WooCommerce's webhook receiver, ``/hooks/woocommerce/{connection_id}``: no API key (the shop
cannot send ours), the delivery's ``X-WC-Webhook-Signature`` over the raw body instead, and the
site it comes from. A verified delivery is stored in the inbox and acknowledged at once; the
channel worker reads the order again from the shop and applies it."""

import hashlib
from typing import Any
from uuid import UUID

from litestar import Controller, Request, Response, post

from api.errors import problem
from api.http import partner_connection, store_json_event
from processing.core.rejections import Rejection
from processing.runtime import Runtime
from processing.service.partners.translation import signed_base64
from processing.service.partners.woocommerce import translation as woocommerce

AnyRequest = Request[Any, Any, Any]


class WooCommerceController(Controller):
    path = "/hooks/woocommerce"
    opt = {"public": True}
    tags = ["web shops"]

    @post("/{connection_id:uuid}", name="woocommerce_webhook", status_code=200)
    async def receive(
        self, request: AnyRequest, connection_id: UUID, runtime: Runtime
    ) -> Response[Any]:
        """A WooCommerce webhook delivery (order.created, order.updated), or the ping a new
        webhook sends (form ``webhook_id=<id>``, unsigned), which is acknowledged only."""
        connection = await partner_connection(runtime, connection_id, "woocommerce", "WooCommerce")
        body = await request.body()
        signature = request.headers.get("x-wc-webhook-signature")
        if signature is None and woocommerce.is_ping(body):
            return Response(content={"received": False, "ping": True}, status_code=200)
        secret = connection.secrets.get("webhook_secret", "")
        if not signed_base64(secret, body, signature or ""):
            raise problem(Rejection.unauthorized, "X-WC-Webhook-Signature does not match the body.")
        source = request.headers.get("x-wc-webhook-source", "").rstrip("/")
        if source != connection.account.rstrip("/"):
            raise problem(
                Rejection.unauthorized,
                f"This connection serves {connection.account}.",
                "X-WC-Webhook-Source",
            )
        delivery = request.headers.get("x-wc-webhook-delivery-id", "").strip()
        if not delivery or len(delivery) > 200:
            raise problem(Rejection.validation_error, "X-WC-Webhook-Delivery-ID is required.")
        topic = request.headers.get("x-wc-webhook-topic", "")
        # WooCommerce's delivery id is a hash of the webhook id and the second it was sent, so
        # two updates of one order in one second share it: the body tells them apart.
        event_key = f"{delivery}:{hashlib.sha256(body).hexdigest()[:32]}"
        return await store_json_event(
            runtime, connection, event_key, topic, woocommerce.topics, body
        )
