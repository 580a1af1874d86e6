"""A fake WooCommerce site: a real HTTP server with the REST API the channel reads
(``GET /wp-json/wc/v3/orders/{id}`` and ``/orders/{id}/refunds``, HTTP Basic with the consumer
key and secret, WordPress's error shape, ``X-WP-Total`` pagination) and a webhook sender that
delivers the way WooCommerce's ``WC_Webhook::deliver`` does: the order's REST representation as
JSON, ``X-WC-Webhook-Signature`` = base64(HMAC-SHA256(secret, raw body)), source, topic,
resource, event, webhook id and delivery id headers, and the unsigned ping a new webhook sends.
Orders change as a shop changes them (paid, refunded by line, cancelled); faults: the REST API
answers 503 for the next N calls."""

import base64
import hashlib
import hmac
import itertools
import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp
from aiohttp import web

from tests.fakes.http import serve

_ids = itertools.count(4_100)


def sign(secret: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def gmt_now() -> str:
    """WooCommerce's GMT timestamps: ISO 8601 to the second, no offset."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S")


def wp_error(status: int, code: str, message: str) -> web.Response:
    return web.json_response(
        {"code": code, "message": message, "data": {"status": status}}, status=status
    )


@dataclass
class Delivery:
    topic: str
    body: bytes
    headers: dict[str, str]
    status: int = 0
    answer: Any = None


@dataclass
class FakeWooCommerce:
    webhook_secret: str = "wc-webhook-secret"
    consumer_key: str = "ck_test_0123456789abcdef"
    consumer_secret: str = "cs_test_0123456789abcdef"
    webhook_id: int = 17
    site: str = ""  # http://127.0.0.1:<port>, once started
    receiver: str = ""  # our receiver's URL, set by the test
    orders: dict[int, dict[str, Any]] = field(default_factory=dict)
    refunds: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    failures: int = 0  # the next N REST calls answer 503
    reads: list[str] = field(default_factory=list)
    sent: list[Delivery] = field(default_factory=list)

    # The shop's side: orders as they change.

    def order(
        self, phone: str | None, lines: list[tuple[str, int]], currency: str = "RUB"
    ) -> dict[str, Any]:
        """A new pending order; ``lines`` are (line total, quantity) as decimal strings."""
        order_id = next(_ids)
        items = []
        for index, (total, quantity) in enumerate(lines):
            item_id = next(_ids)
            items.append(
                {
                    "id": item_id,
                    "name": f"Product {index + 1}",
                    "product_id": 90 + index,
                    "variation_id": 0,
                    "quantity": quantity,
                    "tax_class": "",
                    "subtotal": total,
                    "subtotal_tax": "0.00",
                    "total": total,
                    "total_tax": "0.00",
                    "taxes": [],
                    "meta_data": [],
                    "sku": f"WC-{index + 1}",
                    "price": float(total) / quantity,
                }
            )
        self.orders[order_id] = {
            "id": order_id,
            "parent_id": 0,
            "number": str(order_id),
            "order_key": f"wc_order_{order_id}",
            "created_via": "checkout",
            "version": "9.4.0",
            "status": "pending",
            "currency": currency,
            "date_created": "2026-12-03T10:00:00",
            "date_modified": "2026-12-03T10:00:00",
            "date_modified_gmt": gmt_now(),
            "discount_total": "0.00",
            "shipping_total": "0.00",
            "total": f"{sum(float(total) for total, _ in lines):.2f}",
            "customer_id": 0,
            "billing": {
                "first_name": "Anna",
                "last_name": "Petrova",
                "email": "anna@example.com",
                "phone": phone,
            },
            "payment_method": "cod",
            "date_paid": None,
            "line_items": items,
            "refunds": [],
        }
        self.refunds[order_id] = []
        return self.orders[order_id]

    def set_status(self, order_id: int, status: str) -> dict[str, Any]:
        order = self.orders[order_id]
        order["status"] = status
        order["date_modified_gmt"] = gmt_now()
        if status in ("processing", "completed") and order["date_paid"] is None:
            order["date_paid"] = "2026-12-03T10:05:00"
        return order

    def refund(self, order_id: int, lines: list[tuple[int, int]], amount: str) -> dict[str, Any]:
        """Refunds (line index, quantity) pairs of an order, the way the admin's refund does."""
        order = self.orders[order_id]
        refund_id = next(_ids)
        items = []
        for index, quantity in lines:
            original = order["line_items"][index]
            unit = float(original["total"]) / original["quantity"]
            items.append(
                {
                    "id": next(_ids),
                    "name": original["name"],
                    "product_id": original["product_id"],
                    "variation_id": 0,
                    "quantity": -quantity,
                    "subtotal": f"{-unit * quantity:.2f}",
                    "total": f"{-unit * quantity:.2f}",
                    "meta_data": [
                        {"id": next(_ids), "key": "_refunded_item_id", "value": str(original["id"])}
                    ],
                    "sku": original["sku"],
                    "price": -unit,
                }
            )
        refund = {
            "id": refund_id,
            "date_created": "2026-12-04T10:00:00",
            "amount": amount,
            "reason": "Returned",
            "refunded_by": 1,
            "refunded_payment": False,
            "meta_data": [],
            "line_items": items,
        }
        self.refunds[order_id].insert(0, refund)  # the REST API lists the newest first
        order["refunds"].insert(0, {"id": refund_id, "reason": "Returned", "total": f"-{amount}"})
        order["date_modified_gmt"] = gmt_now()
        return order

    # The REST API.

    def refused(self, request: web.Request, forbidden: str) -> web.Response | None:
        """What every REST call meets first: the read is counted, an injected failure answers
        503, a wrong consumer key WordPress's 401."""
        self.reads.append(request.path_qs)
        if self.failures:
            self.failures -= 1
            return web.Response(status=503, text="<html>Service Unavailable</html>")
        if not self.authorized(request):
            return wp_error(401, "woocommerce_rest_cannot_view", forbidden)
        return None

    def authorized(self, request: web.Request) -> bool:
        expected = base64.b64encode(f"{self.consumer_key}:{self.consumer_secret}".encode()).decode()
        return request.headers.get("Authorization") == f"Basic {expected}"

    async def get_order(self, request: web.Request) -> web.Response:
        refused = self.refused(request, "Sorry, you cannot view this resource.")
        if refused is not None:
            return refused
        order = self.orders.get(int(request.match_info["id"]))
        if order is None:
            return wp_error(404, "woocommerce_rest_shop_order_invalid_id", "Invalid ID.")
        return web.json_response(order)

    async def list_orders(self, request: web.Request) -> web.Response:
        """``modified_after`` (with ``dates_are_gmt=true``), ``orderby=modified``, ``order``,
        ``per_page`` up to 100 and ``page``, with ``X-WP-Total`` / ``X-WP-TotalPages``."""
        refused = self.refused(request, "Sorry, you cannot list resources.")
        if refused is not None:
            return refused
        after = request.query.get("modified_after")
        if after and request.query.get("dates_are_gmt") != "true":
            return wp_error(400, "rest_invalid_param", "Invalid parameter(s): dates_are_gmt")
        found = [o for o in self.orders.values() if not after or o["date_modified_gmt"] > after]
        found.sort(key=lambda o: (o["date_modified_gmt"], o["id"]))
        if request.query.get("order") == "desc":
            found.reverse()
        per_page = min(int(request.query.get("per_page", "10")), 100)
        page = int(request.query.get("page", "1"))
        pages = max(1, -(-len(found) // per_page))
        headers = {"X-WP-Total": str(len(found)), "X-WP-TotalPages": str(pages)}
        return web.json_response(found[(page - 1) * per_page : page * per_page], headers=headers)

    async def get_refunds(self, request: web.Request) -> web.Response:
        refused = self.refused(request, "Sorry, you cannot list resources.")
        if refused is not None:
            return refused
        refunds = self.refunds.get(int(request.match_info["id"]))
        if refunds is None:
            return wp_error(404, "woocommerce_rest_order_invalid_id", "Invalid order ID.")
        per_page = min(int(request.query.get("per_page", "10")), 100)
        page = int(request.query.get("page", "1"))
        shown = refunds[(page - 1) * per_page : page * per_page]
        pages = max(1, -(-len(refunds) // per_page))
        headers = {"X-WP-Total": str(len(refunds)), "X-WP-TotalPages": str(pages)}
        return web.json_response(shown, headers=headers)

    # The webhooks.

    async def deliver(
        self,
        topic: str,
        order: dict[str, Any],
        *,
        secret: str | None = None,
        source: str | None = None,
        tamper: bool = False,
    ) -> Delivery:
        return await self.post(
            self.signed(topic, order, secret=secret, source=source, tamper=tamper)
        )

    def signed(
        self,
        topic: str,
        order: dict[str, Any],
        *,
        secret: str | None = None,
        source: str | None = None,
        tamper: bool = False,
    ) -> Delivery:
        """A delivery as ``deliver`` sends it, not sent yet."""
        body = json.dumps(order).encode()
        resource, _, event = topic.partition(".")
        delivery_id = hashlib.md5(f"{self.webhook_id}{int(time.time())}".encode()).hexdigest()  # noqa: S324 - WooCommerce's own wp_hash shape, not security
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "WooCommerce/9.4.0 Hookshot (WordPress/6.7.1)",
            "X-WC-Webhook-Source": source or f"{self.site}/",
            "X-WC-Webhook-Topic": topic,
            "X-WC-Webhook-Resource": resource,
            "X-WC-Webhook-Event": event,
            "X-WC-Webhook-Signature": sign(secret or self.webhook_secret, body),
            "X-WC-Webhook-ID": str(self.webhook_id),
            "X-WC-Webhook-Delivery-ID": delivery_id,
        }
        if tamper:
            body = body.replace(b'"quantity": 1', b'"quantity": 9')
        return Delivery(topic=topic, body=body, headers=headers)

    async def redeliver(self, delivery: Delivery) -> Delivery:
        """The same request again (an admin's "resend", a proxy's retry)."""
        return await self.post(
            Delivery(topic=delivery.topic, body=delivery.body, headers=delivery.headers)
        )

    async def ping(self) -> Delivery:
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        return await self.post(
            Delivery(topic="ping", body=f"webhook_id={self.webhook_id}".encode(), headers=headers)
        )

    async def post(self, delivery: Delivery) -> Delivery:
        async with (
            aiohttp.ClientSession() as session,
            session.post(
                self.receiver,
                data=delivery.body,
                headers=delivery.headers,
                timeout=aiohttp.ClientTimeout(total=5),
            ) as response,
        ):
            text = await response.text()
        delivery.status, delivery.answer = response.status, json.loads(text) if text else None
        self.sent.append(delivery)
        return delivery

    async def start(self) -> web.AppRunner:
        app = web.Application()
        app.router.add_get("/wp-json/wc/v3/orders", self.list_orders)
        app.router.add_get("/wp-json/wc/v3/orders/{id:\\d+}", self.get_order)
        app.router.add_get("/wp-json/wc/v3/orders/{id:\\d+}/refunds", self.get_refunds)
        runner, self.site = await serve(app)
        return runner
