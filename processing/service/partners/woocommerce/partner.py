"""WooCommerce orders, applied. Every delivery names an order; the order is read again from the
shop's REST API before anything is applied, so deliveries that arrive twice or out of order
(an old ``processing`` after a newer ``cancelled``) act on the order as it is now, never as an
old body said it was.

A paid order (``processing`` or ``completed``) is a purchase that earns, once per order; each of
its refunds (``/orders/{id}/refunds``) returns its lines, once per refund; a cancelled order
takes back what it still holds. Idempotency keys and document ids come from WooCommerce's own
ids (``wc-order-{id}``, ``wc-refund-{id}``). The customer is the program's customer with the
billing phone; an order of someone outside the program changes nothing.
"""

import base64
from datetime import UTC
from typing import Any
from uuid import UUID, uuid4

import structlog

from processing.service.ledger.decisions import RefundCommand
from processing.service.ledger.use_cases import Ledger
from processing.service.loyalty.use_cases import LineReturnCommand, Loyalty, PurchaseCommand
from processing.service.mutations import Mutation, Render
from processing.service.partners import shops
from processing.service.partners.channels import (
    Applied,
    Channels,
    InboxEvent,
    Operation,
    PartnerRejected,
)
from processing.service.partners.translation import Unusable
from processing.service.partners.woocommerce import translation as woocommerce
from processing.service.ports import Database, PartnerApi
from processing.service.records import Connection, Document, StoredResponse

log = structlog.get_logger(__name__)
refunds_page_size = 100  # the REST API's largest page
refunds_pages_max = 20
sweep_pages_max = 20  # of 100 orders: 2,000 orders a sweep, the rest at the next one


class WooCommercePartner:
    name = "woocommerce"

    def __init__(self, database: Database, ledger: Ledger, loyalty: Loyalty, api: PartnerApi):
        self.database = database
        self.ledger = ledger
        self.loyalty = loyalty
        self.api = api

    async def handle(self, event: InboxEvent, channels: Channels) -> None:
        if event.topic not in woocommerce.topics:
            raise PartnerRejected(f"topic {event.topic} is not one we act on")
        try:
            order_id = woocommerce.order_id_of(event.payload)
            current = await self.read(event.connection, f"orders/{order_id}")
            order = woocommerce.order_of(current)
            applied = await self.apply_order(event.connection, order, channels)
        except Unusable as error:
            raise PartnerRejected(str(error)) from error
        log.info(
            "woocommerce_event_applied",
            topic=event.topic,
            event_key=event.event_key,
            order_id=order.id,
            status=order.status,
            applied=[f"{name}:{answer.code or 'ok'}" for name, answer in applied],
        )

    async def apply_order(
        self, connection: Connection, order: woocommerce.Order, channels: Channels
    ) -> list[tuple[str, Applied]]:
        customer_id = await shops.customer_by_phone(
            self.database, channels.actor(connection), order.billing.phone
        )
        if customer_id is None:
            return []
        applied: list[tuple[str, Applied]] = []
        if order.status in woocommerce.paid_statuses:
            await shops.check_currency(self.database, connection, order.currency, str(order.id))
            command = PurchaseCommand(
                document=Document(
                    id=f"wc-order-{order.id}", name=f"WooCommerce order {order.number or order.id}"
                ),
                lines=woocommerce.receipt_of(order),
            )
            answer = await channels.apply(
                connection,
                f"woocommerce:order:{order.id}:paid",
                command,
                lambda mutation, render: self.loyalty.purchase(
                    mutation, customer_id, command, render
                ),
            )
            applied.append(("paid", answer))
        purchase_id = await shops.purchase_of(self.database, connection, f"wc-order-{order.id}")
        if purchase_id is None:
            return applied  # never paid, or paid before the connection: nothing to take back
        if order.refunds:
            for refund in await self.refunds(connection, order.id):
                lines = woocommerce.returned_lines(refund)
                if not lines:
                    continue  # an amount alone (shipping, goodwill): no line came back
                returned = LineReturnCommand(
                    document=Document(id=f"wc-refund-{refund.id}"), lines=lines
                )
                answer = await channels.apply(
                    connection,
                    f"woocommerce:refund:{refund.id}",
                    returned,
                    self.returning(purchase_id, returned),
                )
                applied.append((f"refund-{refund.id}", answer))
        if order.status == woocommerce.cancelled_status:
            cancelled = RefundCommand(document=Document(id=f"wc-order-{order.id}-cancelled"))
            answer = await channels.apply(
                connection,
                f"woocommerce:order:{order.id}:cancelled",
                cancelled,
                lambda mutation, render: self.ledger.refund(
                    mutation, purchase_id, cancelled, render
                ),
            )
            applied.append(("cancelled", answer))
        return applied

    async def sweep(self, connection: Connection, channels: Channels) -> int:
        """A delivery that failed is never sent again once WooCommerce disables the webhook or
        gives up, so the sweep lists the orders modified since the last sweep (oldest first,
        ``modified_after`` in GMT, page by page) and queues each as an ``order.updated``, folded
        into one still waiting; the worker reads each again, and one that changed nothing for
        us is a no-op."""
        since, started = await channels.sweep_window(connection)
        after = since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")
        queued, reached = 0, None
        for page in range(1, sweep_pages_max + 1):
            listed = await self.read(
                connection,
                f"orders?modified_after={after}&dates_are_gmt=true&orderby=modified&order=asc"
                f"&per_page={refunds_page_size}&page={page}",
            )
            if not isinstance(listed, list):
                raise Unusable("the order list is not a list")
            for order in listed:
                if not isinstance(order, dict) or not isinstance(order.get("id"), int):
                    continue
                reached = str(order.get("date_modified_gmt") or "") or reached
                queued += await channels.receive(
                    connection, f"sweep:{order['id']}:{uuid4()}", "order.updated",
                    {"id": order["id"]}, coalesce=True,
                )  # fmt: skip
            if len(listed) < refunds_page_size:
                reached = None  # every page read: the sweep is complete
                break
        else:
            log.warning("woocommerce_sweep_truncated", connection_id=str(connection.id))
        await channels.sweep_done(connection, reached or started.isoformat())
        return queued

    def returning(self, purchase_id: UUID, command: LineReturnCommand) -> Operation:
        async def run(mutation: Mutation, render: Render) -> StoredResponse:
            return await self.loyalty.return_lines(mutation, purchase_id, command, render)

        return run

    async def refunds(self, connection: Connection, order_id: int) -> list[woocommerce.Refund]:
        found: list[woocommerce.Refund] = []
        for page in range(1, refunds_pages_max + 1):
            batch = woocommerce.refunds_of(
                await self.read(
                    connection,
                    f"orders/{order_id}/refunds?per_page={refunds_page_size}&page={page}",
                )
            )
            found.extend(batch)
            if len(batch) < refunds_page_size:
                return found
        raise Unusable(f"order {order_id} has more than {len(found)} refunds")

    async def read(self, connection: Connection, resource: str) -> Any:
        """GET ``/wp-json/wc/v3/{resource}`` with the connection's consumer key and secret."""
        key = connection.secrets.get("consumer_key", "")
        secret = connection.secrets.get("consumer_secret", "")
        token = base64.b64encode(f"{key}:{secret}".encode()).decode()
        url = f"{connection.account.rstrip('/')}/wp-json/wc/v3/{resource}"
        return await self.api.get_json(url, {"Authorization": f"Basic {token}"})
