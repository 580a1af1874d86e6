"""A fake Bitrix24 portal: a real HTTP server with the REST API the channel calls through an
inbound webhook (``/rest/{user}/{code}/{method}[.json]``, JSON or form bodies, case-insensitive
``ID``/``FIELDS``), numbers as strings in ``crm.*.get``, the legacy error envelope with an empty
``error`` code, ``batch`` with ``$result[...]`` substitution and PHP's ``[]`` for an empty map,
the ``time`` block, ``UF_CRM_`` prefixing of custom field names, and a real leaky bucket that
answers ``503 QUERY_LIMIT_EXCEEDED`` above its limit. Every change of a deal (ours included)
sends ``ONCRMDEALUPDATE`` to the outgoing webhook's handler, form-encoded with the application
token, the way the portal's queue server does; events can be held back, sent twice or
reordered."""

import asyncio
import itertools
import json
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import aiohttp
from aiohttp import web

from tests.fakes.http import serve

_ids = itertools.count(700)
_field_name = re.compile(r"^[A-Z0-9_]+$")


def time_block() -> dict[str, Any]:
    now = time.time()
    return {"start": now, "finish": now, "duration": 0.001, "processing": 0.0005,
            "date_start": "2026-12-03T10:00:00+03:00", "date_finish": "2026-12-03T10:00:00+03:00",
            "operating_reset_at": int(now) + 600, "operating": 0}  # fmt: skip


def legacy_error(description: str, status: int = 400) -> web.Response:
    return web.json_response({"error": "", "error_description": description}, status=status)


def system_error(code: str, description: str, status: int) -> web.Response:
    return web.json_response({"error": code, "error_description": description}, status=status)


def event_form(event: str, deal_id: str, domain: str, token: str) -> bytes:
    return urlencode(
        {
            "event": event,
            "event_handler_id": "975",
            "data[FIELDS][ID]": deal_id,
            "ts": str(int(time.time())),
            "auth[domain]": domain,
            "auth[client_endpoint]": f"https://{domain}/rest/",
            "auth[server_endpoint]": "https://oauth.bitrix.info/rest/",
            "auth[member_id]": "d897063e1ce7c5eb9f04b9751eef5915",
            "auth[application_token]": token,
        }
    ).encode()


@dataclass
class LeakyBucket:
    """Bitrix24's limiter: each request adds one; above ``limit`` the request is refused; the
    level drains by ``drain`` a second."""

    limit: int = 50
    drain: float = 2.0
    level: float = 0.0
    at: float = field(default_factory=time.monotonic)

    def admit(self) -> bool:
        now = time.monotonic()
        self.level = max(0.0, self.level - (now - self.at) * self.drain)
        self.at = now
        if self.level + 1 > self.limit:
            return False
        self.level += 1
        return True


@dataclass
class FakeBitrix24:
    domain: str = "b24-test.bitrix24.ru"
    user_id: int = 1
    code: str = "k3y0fw3bh00k"
    application_token: str = "jvh9y1ulvt2m6k5or90v9mg8nn32ozas"
    base: str = ""  # http://127.0.0.1:<port>, once started
    handler: str = ""  # our receiver's URL, set by the test
    bucket: LeakyBucket = field(default_factory=LeakyBucket)
    deals: dict[str, dict[str, Any]] = field(default_factory=dict)
    contacts: dict[str, dict[str, Any]] = field(default_factory=dict)
    deal_contacts: dict[str, list[str]] = field(default_factory=dict)
    userfields: dict[str, list[dict[str, Any]]] = field(
        default_factory=lambda: {"contact": [], "deal": []}
    )
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    refused: int = 0  # requests the bucket turned away
    hold_events: bool = False  # keep events back (for reordering or dropping them)
    held: list[bytes] = field(default_factory=list)
    events_sent: list[bytes] = field(default_factory=list)
    failures: int = 0  # the next N calls answer 503 with an HTML page
    emitting: set["asyncio.Task[None]"] = field(default_factory=set)

    async def settled(self) -> None:
        """Waits until the events our own calls made have been sent."""
        while self.emitting:
            await asyncio.gather(*self.emitting)

    @property
    def webhook_url(self) -> str:
        return f"{self.base}/rest/{self.user_id}/{self.code}/"

    # The portal's side: contacts and deals as a manager changes them.

    def contact(self, phone: str, name: str = "Anna") -> str:
        contact_id = str(next(_ids))
        self.contacts[contact_id] = {
            "ID": contact_id, "NAME": name, "LAST_NAME": "Petrova", "HAS_PHONE": "Y",
            "PHONE": [{"ID": str(next(_ids)), "VALUE_TYPE": "WORK", "VALUE": phone,
                       "TYPE_ID": "PHONE"}],
        }  # fmt: skip
        return contact_id

    def deal(self, contact_id: str | None, amount: str, currency: str = "RUB") -> str:
        deal_id = str(next(_ids))
        self.deals[deal_id] = {
            "ID": deal_id, "TITLE": f"Deal #{deal_id}", "TYPE_ID": "SALE",
            "STAGE_ID": "NEW", "STAGE_SEMANTIC_ID": "P", "CATEGORY_ID": "0",
            "CURRENCY_ID": currency,
            "OPPORTUNITY": amount, "IS_MANUAL_OPPORTUNITY": "N", "TAX_VALUE": "0.00",
            "CONTACT_ID": contact_id, "CLOSED": "N", "ASSIGNED_BY_ID": "1",
            "DATE_MODIFY": datetime.now(UTC).isoformat(timespec="seconds"),
        }  # fmt: skip
        self.deal_contacts[deal_id] = [contact_id] if contact_id else []
        return deal_id

    async def change(self, deal_id: str, **fields: Any) -> None:
        """A manager edits the deal in the portal; the update event goes out."""
        self.update_deal(deal_id, fields)
        await self.emit("ONCRMDEALUPDATE", deal_id)

    def update_deal(self, deal_id: str, fields: dict[str, Any]) -> None:
        deal = self.deals[deal_id]
        deal["DATE_MODIFY"] = datetime.now(UTC).isoformat(timespec="seconds")
        for name, value in fields.items():
            deal[name] = "" if value is None else str(value)
        stage = deal["STAGE_ID"]
        deal["STAGE_SEMANTIC_ID"] = (
            "S" if stage.endswith("WON") else "F" if stage.endswith("LOSE") else "P"
        )
        deal["CLOSED"] = "N" if deal["STAGE_SEMANTIC_ID"] == "P" else "Y"

    # The event emitter (the portal's queue server: no retries, no signature).

    async def emit(self, event: str, deal_id: str) -> None:
        body = event_form(event, deal_id, self.domain, self.application_token)
        if self.hold_events:
            self.held.append(body)
            return
        await self.send(body)

    async def send(self, body: bytes) -> int:
        self.events_sent.append(body)
        if not self.handler:
            return 0
        async with (
            aiohttp.ClientSession() as session,
            session.post(
                self.handler,
                data=body,
                headers={"Content-Type": "application/x-www-form-urlencoded"},
                timeout=aiohttp.ClientTimeout(total=5),
            ) as response,
        ):
            await response.read()
            return response.status

    async def release(self, order: list[int] | None = None) -> None:
        """Sends the held events (in ``order``, by index, if given), then stops holding."""
        held, self.held, self.hold_events = self.held, [], False
        for index in order if order is not None else range(len(held)):
            await self.send(held[index])

    # The REST API.

    async def rest(self, request: web.Request) -> web.Response:
        if (request.match_info["user"], request.match_info["code"]) != (
            str(self.user_id),
            self.code,
        ):
            return system_error("NO_AUTH_FOUND", "Wrong authorization data", 401)
        if not self.bucket.admit():
            self.refused += 1
            return system_error("QUERY_LIMIT_EXCEEDED", "Too many requests", 503)
        if self.failures:
            self.failures -= 1
            return web.Response(status=503, text="<html>Service Temporarily Unavailable</html>")
        method = request.match_info["method"].removesuffix(".json")
        if request.content_type == "application/json":
            params = await request.json()
        else:
            params = dict((await request.post()) or {}) | dict(request.query)
        self.calls.append((method, params))
        if method == "batch":
            return await self.batch(params)
        answer = self.method(method, params)
        if isinstance(answer, web.Response):
            return answer
        return web.json_response({"result": answer, "time": time_block()})

    def method(self, method: str, params: dict[str, Any]) -> Any:
        upper = {str(key).upper(): value for key, value in params.items()}
        item_id = str(upper.get("ID", ""))
        handlers = {
            "crm.deal.get": lambda: self.deals.get(item_id) or legacy_error("Not found"),
            "crm.deal.list": lambda: self.deal_list(params),
            "crm.deal.contact.items.get": lambda: self.contact_items(item_id),
            "crm.contact.get": lambda: self.contacts.get(item_id) or legacy_error("Not found"),
            "crm.deal.update": lambda: self.deal_update(item_id, upper.get("FIELDS")),
            "crm.contact.update": lambda: self.contact_update(item_id, upper.get("FIELDS")),
            "crm.contact.userfield.list": lambda: self.userfields["contact"],
            "crm.deal.userfield.list": lambda: self.userfields["deal"],
            "crm.contact.userfield.add": lambda: self.add_userfield("contact", params),
            "crm.deal.userfield.add": lambda: self.add_userfield("deal", params),
        }
        handler = handlers.get(method)
        if handler is None:
            return system_error("ERROR_METHOD_NOT_FOUND", "Method not found!", 404)
        return handler()

    def deal_list(self, params: dict[str, Any]) -> web.Response:
        """``filter`` with ``>DATE_MODIFY`` only, ``order`` by DATE_MODIFY then ID, pages of 50
        with ``next`` and ``total`` beside ``result``, as list methods answer."""
        after = (params.get("filter") or {}).get(">DATE_MODIFY")
        since = datetime.fromisoformat(after) if after else None
        found = [
            deal for deal in self.deals.values()
            if since is None or datetime.fromisoformat(deal["DATE_MODIFY"]) > since
        ]  # fmt: skip
        found.sort(key=lambda deal: (datetime.fromisoformat(deal["DATE_MODIFY"]), int(deal["ID"])))
        start = int(params.get("start") or 0)
        select = params.get("select") or list(self.deals and next(iter(self.deals.values())))
        page = [{name: deal.get(name) for name in select} for deal in found[start : start + 50]]
        body: dict[str, Any] = {"result": page, "total": len(found), "time": time_block()}
        if start + 50 < len(found):
            body["next"] = start + 50
        return web.json_response(body)

    def contact_items(self, deal_id: str) -> Any:
        if deal_id not in self.deals:
            return legacy_error("Not found")
        return [{"CONTACT_ID": int(c), "SORT": 100 * (i + 1), "ROLE_ID": 0,
                 "IS_PRIMARY": "Y" if i == 0 else "N"}
                for i, c in enumerate(self.deal_contacts[deal_id])]  # fmt: skip

    def deal_update(self, deal_id: str, fields: Any) -> Any:
        if deal_id not in self.deals:
            return legacy_error("Not found")
        if not isinstance(fields, dict):
            return legacy_error("Parameter 'fields' must be array")
        self.update_deal(deal_id, fields)
        # The portal reports every change, the one our own call made too.
        task = asyncio.get_running_loop().create_task(self.emit("ONCRMDEALUPDATE", deal_id))
        self.emitting.add(task)
        task.add_done_callback(self.emitting.discard)
        return True

    def contact_update(self, contact_id: str, fields: Any) -> Any:
        contact = self.contacts.get(contact_id)
        if contact is None:
            return legacy_error("Contact is not found")
        if not isinstance(fields, dict):
            return legacy_error("Parameter 'fields' must be array")
        contact.update({name: "" if v is None else str(v) for name, v in fields.items()})
        return True

    def add_userfield(self, entity: str, params: dict[str, Any]) -> Any:
        fields = params.get("fields") or params.get("FIELDS")
        if not isinstance(fields, dict) or "FIELD_NAME" not in fields:
            return legacy_error("The 'FIELD_NAME' field is not found.")
        if "USER_TYPE_ID" not in fields:
            return legacy_error("The 'USER_TYPE_ID' field is not found.")
        name = str(fields["FIELD_NAME"]).upper().removeprefix("UF_").removeprefix("CRM_")
        name = f"UF_CRM_{name}"
        if len(name) > 50 or not _field_name.match(name):
            return system_error(
                "ERROR_CORE", "Field name is too long (more than 50 characters).", 400
            )
        if any(existing["FIELD_NAME"] == name for existing in self.userfields[entity]):
            return system_error("ERROR_CORE", "A field with this name already exists.", 400)
        field_id = next(_ids)
        self.userfields[entity].append(
            {"ID": str(field_id), "ENTITY_ID": f"CRM_{entity.upper()}", "FIELD_NAME": name,
             "USER_TYPE_ID": fields["USER_TYPE_ID"], "MULTIPLE": fields.get("MULTIPLE", "N")}
        )  # fmt: skip
        return field_id

    async def batch(self, params: dict[str, Any]) -> web.Response:
        commands = params.get("cmd") or {}
        if len(commands) > 50:
            return system_error("ERROR_BATCH_LENGTH_EXCEEDED", "Max batch length exceeded", 400)
        results: dict[str, Any] = {}
        errors: dict[str, Any] = {}
        for name, command in commands.items():
            method, _, query = str(command).partition("?")
            if method == "batch":
                return system_error("ERROR_BATCH_METHOD_NOT_ALLOWED", "Method not allowed", 405)
            query = re.sub(
                r"\$result\[(\w+)\]\[(\d+)\]\[(\w+)\]",
                lambda m: str(
                    (results.get(m.group(1)) or [{}])[int(m.group(2))].get(m.group(3), "")
                    if int(m.group(2)) < len(results.get(m.group(1)) or [])
                    else ""
                ),
                query,
            )
            sub = dict(part.partition("=")[::2] for part in query.split("&") if part)
            answer = self.method(method, sub)
            if isinstance(answer, web.Response):
                errors[name] = json.loads(answer.body)  # type: ignore[arg-type]
                if params.get("halt") in (1, "1", True):
                    break
            else:
                results[name] = answer
        body = {
            "result": {
                "result": results or [],  # PHP's empty array
                "result_error": errors or [],
                "result_total": [],
                "result_next": [],
                "result_time": [],
            },
            "time": time_block(),
        }
        return web.json_response(body)

    async def start(self) -> web.AppRunner:
        app = web.Application()
        app.router.add_route("*", "/rest/{user}/{code}/{method}", self.rest)
        runner, self.base = await serve(app)
        return runner
