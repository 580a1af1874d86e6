"""Shopify's webhook receiver, ``/hooks/shopify/{connection_id}``: no API key (Shopify cannot
send ours), the delivery's HMAC over the raw body instead. A verified delivery is stored in the
inbox once per ``X-Shopify-Webhook-Id`` and acknowledged at once; the channel worker applies
it, so Shopify's five-second budget is never spent on the ledger."""

from processing.core.rejections import Rejection
from processing.service.partners.receiving import Inbound, Received, json_delivery
from processing.service.partners.shopify.translation import topics
from processing.service.partners.translation import signed_base64
from processing.service.records import Connection, refuse

webhook_id_length_max = 300


def receive(connection: Connection, inbound: Inbound) -> Received:
    """A Shopify webhook delivery (orders/paid, orders/cancelled, refunds/create)."""
    header = inbound.headers.get("x-shopify-hmac-sha256", "")
    if not signed_base64(connection.secrets.get("client_secret", ""), inbound.body, header):
        return refuse(Rejection.unauthorized, "X-Shopify-Hmac-SHA256 does not match the body.")
    if inbound.headers.get("x-shopify-shop-domain") != connection.account:
        return refuse(
            Rejection.unauthorized,
            f"This connection serves {connection.account}.",
            field="X-Shopify-Shop-Domain",
        )
    webhook_id = inbound.headers.get("x-shopify-webhook-id", "").strip()
    if not webhook_id or len(webhook_id) > webhook_id_length_max:
        return refuse(Rejection.validation_error, "X-Shopify-Webhook-Id is required.")
    topic = inbound.headers.get("x-shopify-topic", "")
    return json_delivery(webhook_id, topic, topics, inbound.body)
