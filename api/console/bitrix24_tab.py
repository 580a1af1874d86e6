"""The customer card in a Bitrix24 portal's contact and deal tabs (docs/decisions/0021), rendered
with the console's templates and stylesheet, in Russian or English as the portal's ``LANG``
says.

``POST /apps/bitrix24/tab`` is the placement request the portal sends into the tab's frame;
it is verified against the portal (``processing/service/partners/bitrix24/tab.py``) and refused
with a 403 page otherwise. The tab has no cookie (a portal frames it from another site, where
browsers drop third-party cookies): a verified request opens a tab session in Redis for
``tab_session_seconds``, named by a random token that travels in the tab's forms beside a CSRF
token of its own and a one-time form key (the action's idempotency key, as in the console). Its
actions run as the portal's channel key through the same use cases as the API: a card issued,
blocked or unblocked, and points to write off put in the deal's field, which the channel spends
when the portal reports the change. The page may be framed by the portal's origin only.
"""

import hashlib
import hmac
import secrets
from datetime import datetime
from typing import Any
from uuid import UUID

import msgspec
from litestar import Controller, Request, Response, post
from litestar.response import Template
from litestar.types import ExceptionHandlersMap

from api.console.bitrix24_words import tab_words
from api.console.sessions import (
    ConsoleUnavailable,
    form_key_of,
    form_of,
    new_form_key,
    same_origin,
    sessions_answering,
)
from api.console.words import locale_of
from api.http import renderer
from processing.core import limits
from processing.core.rejections import Rejection
from processing.runtime import RedisError, Runtime
from processing.service.mutations import Mutation, fingerprint
from processing.service.partners.bitrix24.tab import placement_of
from processing.service.partners.translation import Unusable
from processing.service.ports import PartnerUnavailable
from processing.service.records import Accepted, Actor, Connection, Refused, StoredResponse
from schemas.api import CardCreate, CardJournal, Customer, StatusChange

AnyRequest = Request[Any, Any, Any]
html = "text/html"
tab_session_seconds = 3600  # as long as the portal's AUTH_ID that opened it
tab_session_prefix = "bitrix24:tab:"
tab_action_path = "/apps/bitrix24/tab/action"
writeoff_points_max = 1_000_000_000
# What each refusal of a placement request answers: the portal's to fix, ours to say so.
refusal_statuses = {
    Rejection.validation_error: 400,
    Rejection.unauthorized: 403,
    Rejection.partner_unavailable: 502,
}


class TabSession(msgspec.Struct, frozen=True, kw_only=True):
    connection_id: UUID
    customer_id: UUID | None
    deal_id: str | None
    phone: str | None
    csrf: str
    locale: str
    frame_origin: str


def storage_key(token: str) -> str:
    return tab_session_prefix + hashlib.sha256(token.encode()).hexdigest()


def session_of(raw: bytes | str | None) -> TabSession | None:
    if raw is None:
        return None
    try:
        return msgspec.json.decode(raw, type=TabSession)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None


def headers_for(frame_origin: str | None) -> dict[str, str]:
    """The console's headers, but framed by the portal (and by nothing else). A refusal of a
    request not known to be any portal's (``None``) may be framed anywhere, so the card it is
    framed in says why instead of showing a blocked frame: it has no form and no data."""
    ancestors = frame_origin or "*"
    return {
        "Content-Security-Policy": "default-src 'self'; style-src 'self'; form-action 'self'; "
        f"frame-ancestors {ancestors}",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
        "Cache-Control": "no-store",
    }


def when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def refused_page(locale: str, status: int, detail: str, frame_origin: str | None) -> Template:
    return Template(
        template_name="bitrix24/refused.html",
        context={"t": tab_words(locale), "locale": locale, "message": detail},
        media_type=html,
        status_code=status,
        headers=headers_for(frame_origin),
    )


def unavailable(request: AnyRequest, error: Exception) -> Template:
    """Redis, where the tab's sessions live, did not answer."""
    locale = locale_of(request.query_params.get("LANG"))
    return refused_page(locale, 503, tab_words(locale)["unavailable"], None)


tab_exception_handlers: ExceptionHandlersMap = {
    ConsoleUnavailable: unavailable,
    RedisError: unavailable,
}


def tab_mutation(actor: Actor, form_key: str, operation: str, *parts: object) -> Mutation:
    encoded = [
        msgspec.json.encode(part) if isinstance(part, msgspec.Struct) else str(part)
        for part in parts
    ]
    return Mutation(
        actor=actor, idempotency_key=form_key, fingerprint=fingerprint(operation, *encoded)
    )


def refusal_text(locale: str, stored: StoredResponse) -> str:
    try:
        problem = msgspec.json.decode(stored.body)
    except msgspec.DecodeError:
        problem = {}
    detail = problem.get("detail", "") if isinstance(problem, dict) else ""
    code = problem.get("code", stored.outcome) if isinstance(problem, dict) else stored.outcome
    return f"{tab_words(locale)['refused']}: {detail} ({code})"


async def card_context(runtime: Runtime, actor: Actor, customer_id: UUID) -> dict[str, Any]:
    """What the card shows of the customer, read as the portal's channel key."""
    customer = await runtime.customers.get(actor, customer_id)
    if not isinstance(customer, Accepted):
        return {"customer": None}
    balance = await runtime.reads.balance(actor, customer_id)
    statement = await runtime.reads.statement(
        actor, customer_id, limits.console_statement_page_size, None
    )
    tier = await runtime.loyalty.tier(actor, customer_id)
    return {
        "customer": customer.value,
        "balance": balance.value if isinstance(balance, Accepted) else None,
        "statement": statement.value if isinstance(statement, Accepted) else None,
        "tier": tier.value if isinstance(tier, Accepted) else None,
        "block_keys": {card.number: new_form_key() for card in customer.value.cards},
        "card_key": new_form_key(),
        "writeoff_key": new_form_key(),
    }


class Bitrix24TabController(Controller):
    path = "/apps/bitrix24/tab"
    # Verified against the portal (a placement request) or by its tab session, not by a key.
    opt = {"public": True}  # noqa: RUF012  (Litestar reads it as configuration)
    include_in_schema = False
    exception_handlers = tab_exception_handlers

    @post("/", name="bitrix24_tab", status_code=200)
    async def open_tab(self, request: AnyRequest, runtime: Runtime) -> Response[Any]:
        """The portal's placement request: the card of the contact's customer, or a 403 page
        saying why the request was not the portal's."""
        query = request.url.query or ""
        locale = locale_of(request.query_params.get("LANG"), "ru")
        try:
            placement = placement_of(await request.body(), query)
        except (Unusable, UnicodeDecodeError) as error:
            return refused_page(locale, 400, f"{tab_words(locale)['bad_request']}: {error}", None)
        locale = locale_of(placement.lang, "ru")
        opened = await runtime.bitrix24_tab.open(placement)
        if isinstance(opened, Refused):
            status = refusal_statuses.get(opened.rejection, 403)
            words = tab_words(locale)
            lead = words["portal_down"] if status == 502 else words["not_verified"]
            return refused_page(locale, status, f"{lead} {opened.detail}", None)
        session = TabSession(
            connection_id=opened.connection.id,
            customer_id=opened.customer_id,
            deal_id=opened.deal_id,
            phone=opened.phone,
            csrf=secrets.token_urlsafe(32),
            locale=locale,
            frame_origin=opened.frame_origin,
        )
        token = secrets.token_urlsafe(32)
        with sessions_answering():
            await runtime.redis.set(
                storage_key(token), msgspec.json.encode(session), ex=tab_session_seconds
            )
        return await self.render(runtime, opened.actor, token, session)

    @post("/action", name="bitrix24_tab_action", status_code=200)
    async def action(self, request: AnyRequest, runtime: Runtime) -> Response[Any]:
        """A form of the tab: a card issued, blocked or unblocked, or points to write off on
        the deal. Without its tab session and CSRF token, or from another site: 403, nothing
        changes."""
        form = await form_of(request)
        token = (form or {}).get("session", "")
        raw = None
        if token:
            with sessions_answering():
                raw = await runtime.redis.get(storage_key(token))
        session = session_of(raw)
        locale = session.locale if session else locale_of(None, "ru")
        words = tab_words(locale)
        sent = (form or {}).get("csrf", "")
        if (
            form is None
            or session is None
            or not same_origin(request)
            or not sent
            or not hmac.compare_digest(session.csrf.encode(), sent.encode())
        ):
            origin = session.frame_origin if session else None
            return refused_page(locale, 403, words["forbidden"], origin)
        connection = await runtime.bitrix24_tab.connection(session.connection_id)
        if connection is None:  # uninstalled meanwhile
            return refused_page(locale, 403, words["not_verified"], session.frame_origin)
        actor = runtime.channels.actor(connection)
        notice, message, status = await self.act(runtime, actor, connection, session, form)
        return await self.render(
            runtime, actor, token, session, notice=notice, message=message, status_code=status
        )

    async def act(
        self,
        runtime: Runtime,
        actor: Actor,
        connection: Connection,
        session: TabSession,
        form: dict[str, str],
    ) -> tuple[str | None, str | None, int]:
        """Runs one action; (notice, message, status)."""
        words = tab_words(session.locale)
        form_key, action = form_key_of(form), form.get("action", "")
        customer_id = session.customer_id
        if form_key is None or customer_id is None:
            return None, words["bad_text"], 422
        if action == "writeoff":
            points = form.get("points", "").strip()
            if session.deal_id is None or not points.isdigit():
                return None, words["bad_points"], 422
            if not 1 <= int(points) <= writeoff_points_max:
                return None, words["bad_points"], 422
            try:
                await runtime.bitrix24_tab.request_writeoff(
                    connection, session.deal_id, int(points)
                )
            except PartnerUnavailable:
                return None, words["portal_down"], 502
            return words["writeoff_requested"].format(points=int(points)), None, 200
        stored = await self.card_action(runtime, actor, customer_id, action, form_key, form, words)
        if isinstance(stored, str):
            return None, stored, 422
        if stored.status_code >= 400:
            return None, refusal_text(session.locale, stored), stored.status_code
        return words[f"done_{action}"], None, 200

    async def card_action(
        self,
        runtime: Runtime,
        actor: Actor,
        customer_id: UUID,
        action: str,
        form_key: str,
        form: dict[str, str],
        words: dict[str, str],
    ) -> StoredResponse | str:
        number, reason = form.get("number", "").strip(), form.get("reason", "").strip()
        if "\x00" in number + reason:
            return words["bad_text"]
        try:
            if action == "card_issue":
                card = msgspec.convert({"number": number}, CardCreate)
                mutation = tab_mutation(actor, form_key, "b24_tab_card", customer_id, card)
                return await runtime.customers.add_card(
                    mutation, customer_id, card.number, renderer(Customer)
                )
            if action in ("card_block", "card_unblock"):
                change = msgspec.convert({"reason": reason}, StatusChange)
                customer = await runtime.customers.get(actor, customer_id)
                cards = customer.value.cards if isinstance(customer, Accepted) else []
                if number not in [card.number for card in cards]:
                    return words["bad_text"]
                blocked = action == "card_block"
                mutation = tab_mutation(actor, form_key, f"b24_tab_{action}", number, change)
                return await runtime.customers.set_card_status(
                    mutation, number, blocked, change.reason, renderer(CardJournal)
                )
        except msgspec.ValidationError:
            return words["bad_text"]
        return words["bad_text"]

    @staticmethod
    async def render(
        runtime: Runtime,
        actor: Actor,
        token: str,
        session: TabSession,
        *,
        notice: str | None = None,
        message: str | None = None,
        status_code: int = 200,
    ) -> Template:
        card: dict[str, Any] = {"customer": None}
        if session.customer_id is not None:
            card = await card_context(runtime, actor, session.customer_id)
        return Template(
            template_name="bitrix24/tab.html",
            context={
                "t": tab_words(session.locale),
                "locale": session.locale,
                "session": token,
                "csrf": session.csrf,
                "deal_id": session.deal_id,
                "phone": session.phone,
                "action_path": tab_action_path,
                "notice": notice,
                "message": message,
                "when": when,
                **card,
            },
            media_type=html,
            status_code=status_code,
            headers=headers_for(session.frame_origin),
        )
