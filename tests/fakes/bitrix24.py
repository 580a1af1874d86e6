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
import html
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


def event_form(
    event: str,
    deal_id: str,
    domain: str,
    token: str,
    member_id: str = "d897063e1ce7c5eb9f04b9751eef5915",
) -> bytes:
    return urlencode(
        {
            "event": event,
            "event_handler_id": "975",
            "data[FIELDS][ID]": deal_id,
            "ts": str(int(time.time())),
            "auth[domain]": domain,
            "auth[client_endpoint]": f"https://{domain}/rest/",
            "auth[server_endpoint]": "https://oauth.bitrix.info/rest/",
            "auth[member_id]": member_id,
            "auth[application_token]": token,
        }
    ).encode()


def oauth_error(code: str, description: str, status: int = 401) -> web.Response:
    """An OAuth failure as the portal and the OAuth server write it."""
    return web.json_response({"error": code, "error_description": description}, status=status)


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
    # The application path: the portal's id, its OAuth pairs (an access token lives until its
    # time; a refresh token is spent by its refresh), what was bound, and the OAuth server.
    member_id: str = "d897063e1ce7c5eb9f04b9751eef5915"
    client_id: str = "local.5f2a9c0e1b7d34.81234567"
    client_secret: str = "Zq8cVw2mXo4pTn6rYs1uLk3jHd5gFb7e"
    access_tokens: dict[str, float] = field(default_factory=dict)  # token: expires (monotonic)
    refresh_tokens: set[str] = field(default_factory=set)
    spent_refresh_tokens: list[str] = field(default_factory=list)
    refreshes: int = 0
    refresh_delay_seconds: float = 0.0  # the OAuth server's time to answer
    placements: list[dict[str, Any]] = field(default_factory=list)
    bindings: list[dict[str, Any]] = field(default_factory=list)
    offline_events: bool = True  # the plan lets the application bind offline events
    offline_queue: list[dict[str, Any]] = field(default_factory=list)
    installed: bool = True

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
        body = event_form(event, deal_id, self.domain, self.application_token, self.member_id)
        if event == "ONCRMDEALUPDATE" and any(
            binding["event_type"] == "offline" for binding in self.bindings
        ):
            # The offline queue keeps one entry per deal: its latest change.
            self.offline_queue = [
                entry for entry in self.offline_queue
                if entry["EVENT_DATA"]["FIELDS"]["ID"] != deal_id
            ]  # fmt: skip
            self.offline_queue.append(
                {"ID": str(next(_ids)), "TIMESTAMP_X": datetime.now(UTC).isoformat(),
                 "EVENT_NAME": event, "EVENT_DATA": {"FIELDS": {"ID": deal_id}},
                 "EVENT_ADDITIONAL": {"user_id": "1"}, "MESSAGE_ID": str(next(_ids))}
            )  # fmt: skip
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

    # The application path: OAuth pairs, the install call, the application's events.

    def issue_pair(self, lifetime_seconds: float = 3600.0) -> tuple[str, str]:
        access, refresh = f"acc{next(_ids)}x{time.time_ns()}", f"ref{next(_ids)}x{time.time_ns()}"
        self.access_tokens[access] = time.monotonic() + lifetime_seconds
        self.refresh_tokens.add(refresh)
        return access, refresh

    def expire(self, access_token: str) -> None:
        self.access_tokens[access_token] = time.monotonic() - 1

    def install_form(self, access: str, refresh: str, expires: int = 3600) -> bytes:
        """The install page's POST body (DOMAIN and PROTOCOL go in the query)."""
        return urlencode(
            {"AUTH_ID": access, "AUTH_EXPIRES": str(expires), "REFRESH_ID": refresh,
             "SERVER_ENDPOINT": "https://oauth.bitrix.info/rest/", "member_id": self.member_id,
             "status": "L", "PLACEMENT": "DEFAULT", "PLACEMENT_OPTIONS": "{}",
             "APPLICATION_TOKEN": self.application_token, "APPLICATION_SCOPE": "crm,placement"}
        ).encode()  # fmt: skip

    @property
    def install_query(self) -> str:
        return urlencode({"DOMAIN": self.domain, "PROTOCOL": "0", "LANG": "ru", "APP_SID": "s1"})

    def uninstall_form(self, token: str | None = None) -> bytes:
        return urlencode(
            {"event": "ONAPPUNINSTALL", "data[CLEAN]": "0", "data[LANGUAGE_ID]": "ru",
             "ts": str(int(time.time())), "auth[domain]": self.domain,
             "auth[member_id]": self.member_id,
             "auth[application_token]": token or self.application_token}
        ).encode()  # fmt: skip

    def placement_request(
        self, placement: str, entity_id: str, auth_id: str, lang: str = "ru"
    ) -> tuple[str, dict[str, str]]:
        """What the portal POSTs into a tab's frame: the query and the form fields."""
        query = urlencode(
            {"DOMAIN": self.domain, "PROTOCOL": "0", "LANG": lang, "APP_SID": f"sid{next(_ids)}"}
        )
        form = {
            "AUTH_ID": auth_id, "AUTH_EXPIRES": "3600", "REFRESH_ID": f"user-refresh-{next(_ids)}",
            "SERVER_ENDPOINT": "https://oauth.bitrix.info/rest/", "member_id": self.member_id,
            "status": "L", "PLACEMENT": placement,
            "PLACEMENT_OPTIONS": json.dumps({"ID": entity_id}),
            "APPLICATION_TOKEN": self.application_token, "APPLICATION_SCOPE": "crm,placement",
        }  # fmt: skip
        return query, form

    async def card_page(self, request: web.Request) -> web.Response:
        """A CRM card with our tab open, as the portal renders it: the tab is a frame, and a form
        the page submits into it carries the placement request (a user's fresh token each time)."""
        entity = request.match_info["entity"]
        placement = {"contact": "CRM_CONTACT_DETAIL_TAB", "deal": "CRM_DEAL_DETAIL_TAB"}[entity]
        [handler] = [bound["HANDLER"] for bound in self.placements
                     if bound["PLACEMENT"] == placement]  # fmt: skip
        access, _ = self.issue_pair()
        if request.query.get("forged"):  # a page that posts a token the portal never issued
            access = "forged-token"
        query, form = self.placement_request(
            placement, request.match_info["id"], access, request.query.get("lang", "ru")
        )
        fields = "".join(
            f'<input type="hidden" name="{name}" value="{html.escape(value)}">'
            for name, value in form.items()
        )
        page = (
            "<!doctype html><html><head><meta charset='utf-8'><title>Bitrix24</title></head>"
            "<body style='margin:0;font-family:sans-serif;background:#eef2f4'>"
            f"<div style='padding:12px;background:#2fc6f6;color:#fff'>CRM · {entity} "
            f"{request.match_info['id']}</div>"
            f"<form id='placement' method='post' target='placement' "
            f"action='{html.escape(handler)}?{html.escape(query)}'>{fields}</form>"
            "<iframe name='placement' style='width:100%;height:1400px;border:0'></iframe>"
            "<script>document.getElementById('placement').submit();</script></body></html>"
        )
        return web.Response(text=page, content_type="text/html")

    async def oauth_token(self, request: web.Request) -> web.Response:
        """``GET /oauth/token/?grant_type=refresh_token&...``: a new pair for a refresh token
        that was never spent; the old refresh token is spent by it."""
        query = request.query
        if query.get("grant_type") != "refresh_token":
            return oauth_error("unsupported_grant_type", "Unsupported grant type", 400)
        if (query.get("client_id"), query.get("client_secret")) != (
            self.client_id, self.client_secret,
        ):  # fmt: skip
            return oauth_error("invalid_client", "Invalid client credentials", 400)
        refresh = query.get("refresh_token", "")
        if refresh not in self.refresh_tokens:
            return oauth_error("invalid_grant", "Invalid refresh token", 400)
        self.refresh_tokens.discard(refresh)
        self.spent_refresh_tokens.append(refresh)
        self.refreshes += 1
        if self.refresh_delay_seconds:
            await asyncio.sleep(self.refresh_delay_seconds)
        access, new_refresh = self.issue_pair()
        return web.json_response(
            {"access_token": access, "refresh_token": new_refresh,
             "expires": int(time.time()) + 3600, "expires_in": 3600,
             "scope": "crm,placement", "domain": "oauth.bitrix.info",
             "server_endpoint": "https://oauth.bitrix.info/rest/", "status": "L",
             "client_endpoint": f"https://{self.domain}/rest/", "member_id": self.member_id,
             "user_id": self.user_id}
        )  # fmt: skip

    async def app_rest(self, request: web.Request) -> web.Response:
        """``/rest/{method}`` with an OAuth access token (``auth`` in the body or the query)."""
        if not self.bucket.admit():
            self.refused += 1
            return system_error("QUERY_LIMIT_EXCEEDED", "Too many requests", 503)
        if self.failures:
            self.failures -= 1
            return web.Response(status=503, text="<html>Service Temporarily Unavailable</html>")
        if request.content_type == "application/json":
            params = await request.json()
        else:
            params = dict((await request.post()) or {})
        params = dict(request.query) | params
        token = str(params.pop("auth", ""))
        expires = self.access_tokens.get(token)
        if expires is None:
            return oauth_error("invalid_token", "The access token provided is invalid.")
        if expires < time.monotonic():
            return oauth_error("expired_token", "The access token provided has expired.")
        if not self.installed:
            return oauth_error("APPLICATION_NOT_FOUND", "Application not installed", 401)
        method = request.match_info["method"].removesuffix(".json")
        self.calls.append((method, params))
        if method == "batch":
            return await self.batch(params)
        answer = self.app_method(method, params)
        if isinstance(answer, web.Response):
            return answer
        return web.json_response({"result": answer, "time": time_block()})

    def app_method(self, method: str, params: dict[str, Any]) -> Any:
        handlers = {
            "app.info": lambda: {"ID": "17", "CODE": self.client_id, "VERSION": "1",
                                 "STATUS": "L", "INSTALLED": True, "PAYMENT_EXPIRED": "N",
                                 "DAYS": None, "LICENSE": "ru_project"},
            "profile": lambda: {"ID": str(self.user_id), "ADMIN": True, "NAME": "Olga",
                                "LAST_NAME": "Manager", "PERSONAL_GENDER": "F",
                                "TIME_ZONE": "Europe/Moscow", "TIME_ZONE_OFFSET": 10800},
            "placement.bind": lambda: self.bind_placement(params),
            "event.bind": lambda: self.bind_event(params),
            "event.offline.get": lambda: self.offline_get(params),
        }  # fmt: skip
        handler = handlers.get(method)
        return handler() if handler else self.method(method, params)

    def bind_placement(self, params: dict[str, Any]) -> Any:
        placement, handler = params.get("PLACEMENT"), params.get("HANDLER")
        if not placement or not handler:
            return system_error("ERROR_ARGUMENT", "Argument 'PLACEMENT' is null or empty", 400)
        if any(
            (bound["PLACEMENT"], bound["HANDLER"]) == (placement, handler)
            for bound in self.placements
        ):
            return system_error("ERROR_PLACEMENT_HANDLER", "Handler already binded", 400)
        self.placements.append({"PLACEMENT": placement, "HANDLER": handler,
                                "TITLE": params.get("TITLE", "")})  # fmt: skip
        return True

    def bind_event(self, params: dict[str, Any]) -> Any:
        event = str(params.get("event") or params.get("EVENT") or "").upper()
        event_type = str(params.get("event_type") or "online")
        handler = str(params.get("handler") or "")
        if not event:
            return system_error("ERROR_EVENT_NOT_FOUND", "Event not found", 400)
        if event_type == "offline" and not self.offline_events:
            return system_error("ACCESS_DENIED", "Access denied", 403)
        if event_type == "online" and not handler:
            return system_error("ERROR_ARGUMENT", "Handler is required", 400)
        binding = {"event": event, "handler": handler, "event_type": event_type}
        if binding in self.bindings:
            return system_error("ERROR_CORE", "Handler already binded", 400)
        self.bindings.append(binding)
        return True

    def offline_get(self, params: dict[str, Any]) -> Any:
        limit = int(params.get("limit") or 50)
        events, self.offline_queue = self.offline_queue[:limit], self.offline_queue[limit:]
        return {"process_id": None, "events": events}

    async def start(self) -> web.AppRunner:
        app = web.Application()
        app.router.add_route("*", "/rest/{user}/{code}/{method}", self.rest)
        app.router.add_route("*", "/rest/{method}", self.app_rest)
        app.router.add_route("GET", "/oauth/token/", self.oauth_token)
        app.router.add_route("GET", "/crm/{entity}/details/{id}/", self.card_page)
        runner, self.base = await serve(app)
        return runner
