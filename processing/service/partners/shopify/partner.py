"""Shopify orders and refunds, applied: a paid order is a purchase that earns (once per order,
whatever Shopify redelivers), a cancelled order takes back what it earned, and a refund returns
its lines. The customer is the program's customer with the order's phone number; an order of
someone who is not in the program changes nothing.

Idempotency keys and document ids come from Shopify's own ids (``order-{id}``,
``refund-{id}``), so a webhook that arrives twice, or late after a retry, applies once.
"""

import structlog

from processing.service.ledger.decisions import RefundCommand
from processing.service.ledger.use_cases import Ledger
from processing.service.loyalty.use_cases import LineReturnCommand, Loyalty, PurchaseCommand
from processing.service.partners import shops
from processing.service.partners.channels import Applied, Channels, InboxEvent, PartnerRejected
from processing.service.partners.shopify import translation as shopify
from processing.service.partners.translation import Unusable
from processing.service.ports import Database
from processing.service.records import Document

log = structlog.get_logger(__name__)


class ShopifyPartner:
    name = "shopify"

    def __init__(self, database: Database, ledger: Ledger, loyalty: Loyalty) -> None:
        self.database = database
        self.ledger = ledger
        self.loyalty = loyalty

    async def handle(self, event: InboxEvent, channels: Channels) -> None:
        try:
            if event.topic == "orders/paid":
                applied = await self.paid(event, channels)
            elif event.topic == "orders/cancelled":
                applied = await self.cancelled(event, channels)
            elif event.topic == "refunds/create":
                applied = await self.refunded(event, channels)
            else:
                raise PartnerRejected(f"topic {event.topic} is not one we act on")
        except Unusable as error:
            raise PartnerRejected(str(error)) from error
        log.info(
            "shopify_event_applied",
            topic=event.topic,
            event_key=event.event_key,
            outcome="skipped" if applied is None else (applied.code or "applied"),
            replayed=bool(applied and applied.replayed),
        )

    async def paid(self, event: InboxEvent, channels: Channels) -> Applied | None:
        order = shopify.order_of(event.payload)
        connection = event.connection
        customer_id = await shops.customer_by_phone(
            self.database, channels.actor(connection), shopify.phone_of(order)
        )
        if customer_id is None:
            return None
        await shops.check_currency(self.database, connection, order.currency, str(order.id))
        command = PurchaseCommand(
            document=Document(id=f"order-{order.id}", name=f"Shopify order {order.name or ''}"),
            lines=shopify.receipt_of(order),
        )
        return await channels.apply(
            connection,
            f"shopify:order:{order.id}:paid",
            command,
            lambda mutation, render: self.loyalty.purchase(mutation, customer_id, command, render),
        )

    async def cancelled(self, event: InboxEvent, channels: Channels) -> Applied | None:
        """What the order earned is taken back; an order cancelled before it was paid never
        earned, so there is nothing to do."""
        order = shopify.order_of(event.payload)
        purchase_id = await shops.purchase_of(self.database, event.connection, f"order-{order.id}")
        if purchase_id is None:
            return None
        command = RefundCommand(document=Document(id=f"order-{order.id}-cancelled"))
        return await channels.apply(
            event.connection,
            f"shopify:order:{order.id}:cancelled",
            command,
            lambda mutation, render: self.ledger.refund(mutation, purchase_id, command, render),
        )

    async def refunded(self, event: InboxEvent, channels: Channels) -> Applied | None:
        refund = shopify.refund_of(event.payload)
        lines = shopify.returned_lines(refund)
        purchase_id = await shops.purchase_of(
            self.database, event.connection, f"order-{refund.order_id}"
        )
        if purchase_id is None or not lines:
            return None  # a refund of an order that earned nothing, or of shipping alone
        command = LineReturnCommand(document=Document(id=f"refund-{refund.id}"), lines=lines)
        return await channels.apply(
            event.connection,
            f"shopify:refund:{refund.id}",
            command,
            lambda mutation, render: self.loyalty.return_lines(
                mutation, purchase_id, command, render
            ),
        )
