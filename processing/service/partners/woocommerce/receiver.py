"""WooCommerce's webhook receiver, ``/hooks/woocommerce/{connection_id}``: no API key (the shop
cannot send ours), the delivery's ``X-WC-Webhook-Signature`` over the raw body instead, and the
site it comes from. A verified delivery is stored in the inbox and acknowledged at once; the
channel worker reads the order again from the shop and applies it."""

import hashlib

from processing.core.rejections import Rejection
from processing.service.partners.receiving import Acknowledged, Inbound, Received, json_delivery
from processing.service.partners.translation import signed_base64
from processing.service.partners.woocommerce.translation import is_ping, topics
from processing.service.records import Connection, refuse

delivery_id_length_max = 200


def receive(connection: Connection, inbound: Inbound) -> Received:
    """A WooCommerce webhook delivery (order.created, order.updated), or the ping a new
    webhook sends (form ``webhook_id=<id>``, unsigned), which is acknowledged only."""
    signature = inbound.headers.get("x-wc-webhook-signature")
    if signature is None and is_ping(inbound.body):
        return Acknowledged(answer={"received": False, "ping": True})
    secret = connection.secrets.get("webhook_secret", "")
    if not signed_base64(secret, inbound.body, signature or ""):
        return refuse(Rejection.unauthorized, "X-WC-Webhook-Signature does not match the body.")
    source = inbound.headers.get("x-wc-webhook-source", "").rstrip("/")
    if source != connection.account.rstrip("/"):
        return refuse(
            Rejection.unauthorized,
            f"This connection serves {connection.account}.",
            field="X-WC-Webhook-Source",
        )
    delivery = inbound.headers.get("x-wc-webhook-delivery-id", "").strip()
    if not delivery or len(delivery) > delivery_id_length_max:
        return refuse(Rejection.validation_error, "X-WC-Webhook-Delivery-ID is required.")
    topic = inbound.headers.get("x-wc-webhook-topic", "")
    # WooCommerce's delivery id is a hash of the webhook id and the second it was sent, so
    # two updates of one order in one second share it: the body tells them apart.
    event_key = f"{delivery}:{hashlib.sha256(inbound.body).hexdigest()[:32]}"
    return json_delivery(event_key, topic, topics, inbound.body)
