"""A fake Shopify: sends webhook deliveries the way Shopify does, over real HTTP: a JSON body
signed with ``X-Shopify-Hmac-SHA256`` (base64 HMAC-SHA256 of the raw body with the app's client
secret), the topic, shop and a webhook id that stays the same on every retry of one delivery.
It can redeliver, tamper with a body after signing, and sign with a wrong secret. The payload
builders produce Shopify's shapes: integer ids, amounts as decimal strings, line items with
discount allocations."""

import base64
import hashlib
import hmac
import itertools
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

import aiohttp

_ids = itertools.count(820_982_911_946_154_508)


def sign(secret: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


@dataclass
class Delivery:
    webhook_id: str
    topic: str
    body: bytes
    status: int = 0
    answer: Any = None


@dataclass
class FakeShopify:
    url: str  # our receiver's URL for this shop's connection
    shop: str
    client_secret: str
    api_version: str = "2026-01"
    sent: list[Delivery] = field(default_factory=list)

    async def deliver(
        self,
        topic: str,
        payload: dict[str, Any],
        *,
        webhook_id: str | None = None,
        secret: str | None = None,
        tamper: bool = False,
        raw: bytes | None = None,
    ) -> Delivery:
        body, headers = self.signed(
            topic, payload, webhook_id=webhook_id, secret=secret, tamper=tamper, raw=raw
        )
        async with (
            aiohttp.ClientSession() as session,
            session.post(
                self.url, data=body, headers=headers, timeout=aiohttp.ClientTimeout(total=5)
            ) as response,
        ):
            text = await response.text()
            delivery = Delivery(
                webhook_id=headers["X-Shopify-Webhook-Id"],
                topic=topic,
                body=body,
                status=response.status,
                answer=json.loads(text) if text else None,
            )
        self.sent.append(delivery)
        return delivery

    def signed(
        self,
        topic: str,
        payload: dict[str, Any],
        *,
        webhook_id: str | None = None,
        secret: str | None = None,
        tamper: bool = False,
        raw: bytes | None = None,
    ) -> tuple[bytes, dict[str, str]]:
        """The body and headers of a delivery, as ``deliver`` sends them."""
        body = json.dumps(payload).encode() if raw is None else raw
        headers = {
            "Content-Type": "application/json",
            "X-Shopify-Topic": topic,
            "X-Shopify-Shop-Domain": self.shop,
            "X-Shopify-Webhook-Id": webhook_id or str(uuid.uuid4()),
            "X-Shopify-API-Version": self.api_version,
            "X-Shopify-Triggered-At": "2026-12-02T10:00:00.000Z",
            "X-Shopify-Hmac-SHA256": sign(secret or self.client_secret, body),
        }
        if tamper:
            body = body.replace(b'"quantity": 1', b'"quantity": 9')
        return body, headers

    async def redeliver(self, delivery: Delivery) -> Delivery:
        """Shopify's retry of a delivery: the same webhook id and the same body."""
        return await self.deliver(
            delivery.topic, json.loads(delivery.body), webhook_id=delivery.webhook_id
        )


def line_item(
    price: str, quantity: int = 1, sku: str = "SKU-1", discount: str = "0.00"
) -> dict[str, Any]:
    item_id = next(_ids)
    money = {"shop_money": {"amount": discount, "currency_code": "RUB"}}
    allocation = {"amount": discount, "amount_set": money, "discount_application_index": 0}
    allocations = [] if discount == "0.00" else [allocation]
    return {
        "id": item_id,
        "admin_graphql_api_id": f"gid://shopify/LineItem/{item_id}",
        "variant_id": item_id + 1,
        "product_id": item_id + 2,
        "title": f"Product {sku}",
        "sku": sku,
        "quantity": quantity,
        "price": price,
        "total_discount": "0.00",
        "discount_allocations": allocations,
        "taxable": True,
        "fulfillable_quantity": quantity,
    }


def order(phone: str | None, items: list[dict[str, Any]], currency: str = "RUB") -> dict[str, Any]:
    order_id = next(_ids)
    return {
        "id": order_id,
        "admin_graphql_api_id": f"gid://shopify/Order/{order_id}",
        "name": f"#{1000 + order_id % 1000}",
        "email": "buyer@example.com",
        "phone": None,
        "currency": currency,
        "financial_status": "paid",
        "total_price": "0.00",
        "created_at": "2026-12-02T10:00:00+03:00",
        "cancelled_at": None,
        "customer": {"id": order_id + 7, "email": "buyer@example.com", "phone": phone},
        "line_items": items,
    }


def refund(of_order: dict[str, Any], lines: list[tuple[dict[str, Any], int]]) -> dict[str, Any]:
    refund_id = next(_ids)
    return {
        "id": refund_id,
        "admin_graphql_api_id": f"gid://shopify/Refund/{refund_id}",
        "order_id": of_order["id"],
        "created_at": "2026-12-03T10:00:00+03:00",
        "note": "Returned",
        "restock": True,
        "refund_line_items": [
            {
                "id": next(_ids),
                "line_item_id": item["id"],
                "quantity": quantity,
                "restock_type": "return",
                "subtotal": item["price"],
                "line_item": item,
            }
            for item, quantity in lines
        ],
        "transactions": [],
    }
