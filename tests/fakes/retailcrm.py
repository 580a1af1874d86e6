"""A fake RetailCRM account: a real HTTP server speaking API v5 the way the account does
(``X-API-KEY`` or ``apiKey``, ``{"success": true, ...}`` envelopes and ``{"success": false,
"errorMsg": ...}`` errors, form-encoded POSTs with JSON-encoded ``order`` / ``customer``
fields, ``by=id``), holding orders, customers, custom field definitions (``/custom-fields``)
and the account's settings (its time zone), recording every edit, with the limit of
10 requests a second per key (429 above it; every request's time is recorded per key) and
injectable 503s and slow answers. Its trigger sender posts the form a trigger's "HTTP request"
action sends, fires again on every edit of an order (our own included), and can repeat
or reorder triggers."""

import asyncio
import itertools
import json
import re
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
from aiohttp import web

from tests.fakes.http import serve

_ids = itertools.count(7_000)
requests_per_second_max = 10
custom_field_types = frozenset(
    {"string", "text", "integer", "numeric", "boolean", "date", "email", "dictionary"}
)


def failure(status: int, message: str, errors: Any = None) -> web.Response:
    body: dict[str, Any] = {"success": False, "errorMsg": message}
    if errors is not None:
        body["errors"] = errors
    return web.json_response(body, status=status)


@dataclass
class FakeRetailCrm:
    api_key: str = "rcrm-api-key-0123456789"
    trigger_secret: str = "rcrm-trigger-secret"
    site_code: str = "shop-1"
    url: str = ""  # http://127.0.0.1:<port>, once started
    receiver: str = ""  # our trigger receiver's URL, set by the test
    trigger_on_edit: bool = True  # RetailCRM fires the order's trigger on every change
    orders: dict[int, dict[str, Any]] = field(default_factory=dict)
    customers: dict[int, dict[str, Any]] = field(default_factory=dict)
    failures: int = 0  # the next N requests answer 503
    edit_failures: int = 0  # the next N order edits answer 503 (after the reads succeeded)
    slow_seconds: float = 0.0  # each answer waits this long (a timeout, for a short client)
    requests: dict[str, list[float]] = field(default_factory=dict)  # key -> monotonic times
    limited: int = 0  # how many answers were 429
    edits: list[tuple[str, int, dict[str, Any]]] = field(default_factory=list)
    triggers: list[int] = field(default_factory=list)  # statuses of the triggers sent
    pending: set[asyncio.Task[Any]] = field(default_factory=set)
    history: list[dict[str, Any]] = field(default_factory=list)  # /orders/history, oldest first
    time_zone: str = "Europe/Moscow"  # the account's zone: every date-time it reads and writes
    history_queries: list[dict[str, str]] = field(default_factory=list)  # as they came
    # The account's custom field definitions: entity -> code -> definition.
    custom_fields: dict[str, dict[str, dict[str, Any]]] = field(
        default_factory=lambda: {"order": {}, "customer": {}, "loyalty_account": {}}
    )

    # The account's side.

    def customer(self, phone: str) -> dict[str, Any]:
        customer_id = next(_ids)
        self.customers[customer_id] = {
            "type": "customer",
            "id": customer_id,
            "site": self.site_code,
            "firstName": "Anna",
            "phones": [{"number": phone}],
            "customFields": [],
            "personalDiscount": 0,
        }
        return self.customers[customer_id]

    def order(
        self,
        customer: dict[str, Any] | None,
        items: list[tuple[float, float]],
        *,
        currency: str = "RUB",
        points: int | None = None,
        phone: str | None = None,
    ) -> dict[str, Any]:
        """A new order; ``items`` are (initialPrice, quantity) numbers, as RetailCRM has them."""
        order_id = next(_ids)
        lines = [
            {
                "id": next(_ids),
                "initialPrice": price,
                "quantity": quantity,
                "discountManualAmount": 0,
                "discountTotal": 0,
                "prices": [{"price": price, "quantity": quantity}],
                "offer": {"id": 500 + index, "article": f"ART-{index + 1}"},
                "status": "new",
            }
            for index, (price, quantity) in enumerate(items)
        ]
        self.orders[order_id] = {
            "id": order_id,
            "number": f"{order_id}A",
            "site": self.site_code,
            "status": "new",
            "currency": currency,
            "phone": phone,
            "discountManualAmount": 0,
            "customerId": customer["id"] if customer else None,
            "items": lines,
            "customFields": {"bonus_points": points} if points is not None else [],
            "createdAt": "2026-12-03 10:00:00",
        }
        self.record(order_id, "status", created=True)
        return self.shown(order_id)

    def record(self, order_id: int, field_name: str, *, created: bool = False) -> None:
        """One change in the account's order history (every change is kept, ours too)."""
        entry: dict[str, Any] = {
            "id": 7000 + len(self.history), "createdAt": self.now(),
            "source": "api", "field": field_name, "apiKey": {"current": False},
            "order": {"id": order_id, "number": self.orders[order_id]["number"]},
        }  # fmt: skip
        if created:
            entry["created"] = True
        self.history.append(entry)

    def now(self) -> str:
        """A date-time as the account writes it: ``Y-m-d H:i:s`` in its own zone."""
        return datetime.now(ZoneInfo(self.time_zone)).strftime("%Y-%m-%d %H:%M:%S")

    def shown(self, order_id: int) -> dict[str, Any]:
        """The order as ``GET /orders/{id}`` shows it: the customer inside, as it is now, and
        ``summ`` / ``totalSumm`` worked out from the items and the discount."""
        order = dict(self.orders[order_id])
        customer_id = order.pop("customerId")
        if customer_id is not None:
            order["customer"] = self.customers[customer_id]
        summ = sum(
            (item["initialPrice"] - item["discountManualAmount"]) * item["quantity"]
            for item in order["items"]
        )
        order["summ"] = summ
        order["totalSumm"] = summ - order["discountManualAmount"]
        return order

    async def set_status(self, order_id: int, status: str, *, trigger: bool = True) -> None:
        """A manager changes the status; ``trigger=False``: the trigger's call never arrived."""
        self.orders[order_id]["status"] = status
        self.record(order_id, "status")
        if trigger:
            await self.trigger(order_id)

    # The API.

    def refused(self, request: web.Request) -> web.Response | None:
        key = request.headers.get("X-API-KEY") or request.query.get("apiKey")
        if not key:
            return failure(403, '"apiKey" is missing.')
        times = self.requests.setdefault(key, [])
        now = time.monotonic()
        times.append(now)
        if key != self.api_key:
            return failure(403, 'Wrong "apiKey" value.')
        if sum(1 for moment in times if now - moment < 1.0) > requests_per_second_max:
            self.limited += 1
            return failure(429, "Rate limit exceeded: 10 requests per second")
        if self.failures:
            self.failures -= 1
            return failure(503, "Service temporarily unavailable")
        return None

    async def get_order(self, request: web.Request) -> web.Response:
        await asyncio.sleep(self.slow_seconds)
        refused = self.refused(request)
        if refused is not None:
            return refused
        if request.query.get("by", "externalId") != "id":
            return failure(404, "Not found")
        order_id = int(request.match_info["id"])
        if order_id not in self.orders:
            return failure(404, "Not found")
        return web.json_response({"success": True, "order": self.shown(order_id)})

    async def edit_order(self, request: web.Request) -> web.Response:
        refused = self.refused(request)
        if refused is not None:
            return refused
        if self.edit_failures:
            self.edit_failures -= 1
            return failure(503, "Service temporarily unavailable")
        form = await request.post()
        order_id = int(request.match_info["id"])
        if form.get("by") != "id" or order_id not in self.orders:
            return failure(404, "Not found")
        if "order" not in form:
            return failure(400, "Parameter 'order' is missing")
        try:
            changes = json.loads(str(form["order"]))
        except ValueError:
            return failure(400, "Errors in the entity format", {"order": "not JSON"})
        order = self.orders[order_id]
        for name, value in changes.items():
            if name == "customFields":  # only the fields named change, as the account does
                order[name] = {**(order[name] or {}), **value}
            else:
                order[name] = value
            self.record(order_id, name)
        self.edits.append(("order", order_id, changes))
        if self.trigger_on_edit:
            self.later(self.trigger(order_id))
        return web.json_response({"success": True, "id": order_id, "order": self.shown(order_id)})

    async def order_history(self, request: web.Request) -> web.Response:
        """``filter[sinceId]`` (changes after that one) or ``filter[startDate]``, ``limit`` of
        20, 50 or 100, ``page``, and the ``pagination`` block."""
        refused = self.refused(request)
        if refused is not None:
            return refused
        self.history_queries.append(dict(request.query))
        limit = int(request.query.get("limit", "20"))
        if limit not in (20, 50, 100):
            return failure(400, "Errors in the input parameters", {"limit": "not allowed"})
        since_id = int(request.query.get("filter[sinceId]", "0"))
        start = request.query.get("filter[startDate]", "")
        zone = ZoneInfo(self.time_zone)  # read in the account's own zone, to the second
        try:
            datetime.strptime(start, "%Y-%m-%d %H:%M:%S").replace(tzinfo=zone) if start else None
        except ValueError:
            return failure(400, "Errors in the input parameters", {"startDate": "not a date"})
        found = [
            entry for entry in self.history
            if entry["id"] > since_id and entry["createdAt"] >= start
        ]  # fmt: skip
        page = int(request.query.get("page", "1"))
        pages = max(1, -(-len(found) // limit))
        return web.json_response(
            {"success": True, "generatedAt": "2026-12-03 10:00:00",
             "history": found[(page - 1) * limit : page * limit],
             "pagination": {"limit": limit, "totalCount": len(found), "currentPage": page,
                            "totalPageCount": pages}}
        )  # fmt: skip

    async def settings(self, request: web.Request) -> web.Response:
        """``GET /settings``: the account's currency, language and time zone."""
        refused = self.refused(request)
        if refused is not None:
            return refused
        updated = "2026-01-15 09:00:00"
        return web.json_response(
            {"success": True, "settings": {
                "default_currency": {"value": "RUB", "updated_at": updated},
                "system_language": {"value": "RU", "updated_at": updated},
                "timezone": {"value": self.time_zone, "updated_at": updated}}}
        )  # fmt: skip

    async def list_custom_fields(self, request: web.Request) -> web.Response:
        """``GET /custom-fields`` with ``filter[entity]`` and ``filter[code]`` (a substring, as
        the account's filter is), ``limit`` of 20, 50 or 100."""
        refused = self.refused(request)
        if refused is not None:
            return refused
        limit = int(request.query.get("limit", "20"))
        if limit not in (20, 50, 100):
            return failure(400, "Errors in the input parameters", {"limit": "not allowed"})
        entity = request.query.get("filter[entity]")
        code = request.query.get("filter[code]", "")
        found = [
            {**definition, "entity": kind}
            for kind, fields in self.custom_fields.items() if entity in (None, kind)
            for definition in fields.values() if code in definition["code"]
        ]  # fmt: skip
        return web.json_response(
            {"success": True, "customFields": found[:limit],
             "pagination": {"limit": limit, "totalCount": len(found), "currentPage": 1,
                            "totalPageCount": max(1, -(-len(found) // limit))}}
        )  # fmt: skip

    async def create_custom_field(self, request: web.Request) -> web.Response:
        """``POST /custom-fields/{entity}/create`` with the form field ``customField`` (JSON):
        ``name``, ``code`` (lowercase latin, digits, ``_``), ``type``; a code taken is refused."""
        refused = self.refused(request)
        if refused is not None:
            return refused
        entity = request.match_info["entity"]
        if entity not in self.custom_fields:
            return failure(404, "Not found")
        form = await request.post()
        if "customField" not in form:
            return failure(400, "Parameter 'customField' is missing")
        try:
            definition = json.loads(str(form["customField"]))
        except ValueError:
            return failure(400, "Errors in the entity format", {"customField": "not JSON"})
        errors = {
            name: "This value should not be blank."
            for name in ("name", "code", "type") if not definition.get(name)
        }  # fmt: skip
        code = str(definition.get("code", ""))
        if code and not re.fullmatch(r"[a-z0-9_]{1,50}", code):
            errors["code"] = "The code may contain lowercase latin letters, digits and _."
        if definition.get("type") not in custom_field_types:
            errors["type"] = "The value you selected is not a valid choice."
        if code in self.custom_fields[entity]:
            errors["code"] = "A custom field with this code already exists."
        if errors:
            return failure(400, "Errors in the entity format", errors)
        self.custom_fields[entity][code] = definition
        return web.json_response({"success": True, "code": code})

    async def edit_customer(self, request: web.Request) -> web.Response:
        refused = self.refused(request)
        if refused is not None:
            return refused
        form = await request.post()
        customer_id = int(request.match_info["id"])
        if form.get("by") != "id" or customer_id not in self.customers:
            return failure(404, "Not found")
        try:
            changes = json.loads(str(form["customer"]))
        except (KeyError, ValueError):
            return failure(400, "Errors in the entity format")
        customer = self.customers[customer_id]
        fields = customer["customFields"] or {}
        fields.update(changes.pop("customFields", {}))
        customer.update(changes, customFields=fields)
        self.edits.append(("customer", customer_id, {"customFields": dict(fields)}))
        return web.json_response({"success": True, "id": customer_id})

    # The trigger.

    def later(self, work: Any) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self.pending.add(task)
        task.add_done_callback(self.pending.discard)

    async def settle(self) -> None:
        """Waits for the triggers the account fired on its own (after edits)."""
        while self.pending:
            await asyncio.gather(*list(self.pending))

    async def trigger(
        self, order_id: int, *, secret: str | None = None, times: int = 1
    ) -> list[int]:
        """The trigger's "HTTP request" action: a form POST of the order id and the secret."""
        statuses = []
        form = self.trigger_form(order_id, secret=secret)
        async with aiohttp.ClientSession() as session:
            for _ in range(times):
                async with session.post(
                    self.receiver, data=form, timeout=aiohttp.ClientTimeout(total=5)
                ) as response:
                    statuses.append(response.status)
        self.triggers.extend(statuses)
        return statuses

    def trigger_form(self, order_id: int, *, secret: str | None = None) -> dict[str, str]:
        """What the trigger's action sends: the order id and the secret its author typed."""
        return {"order_id": str(order_id), "secret": secret or self.trigger_secret}

    def max_per_second(self, key: str | None = None) -> int:
        """The most requests with one key in any one-second window."""
        times = sorted(self.requests.get(key or self.api_key, []))
        return max(
            (
                sum(1 for later in times[index:] if later - start < 1.0)
                for index, start in enumerate(times)
            ),
            default=0,
        )

    async def start(self) -> web.AppRunner:
        app = web.Application()
        app.router.add_get("/api/v5/settings", self.settings)
        app.router.add_get("/api/v5/custom-fields", self.list_custom_fields)
        app.router.add_post("/api/v5/custom-fields/{entity}/create", self.create_custom_field)
        app.router.add_get("/api/v5/orders/history", self.order_history)
        app.router.add_get("/api/v5/orders/{id:\\d+}", self.get_order)
        app.router.add_post("/api/v5/orders/{id:\\d+}/edit", self.edit_order)
        app.router.add_post("/api/v5/customers/{id:\\d+}/edit", self.edit_customer)
        runner, self.url = await serve(app)
        return runner
