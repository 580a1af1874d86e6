"""The console's pages: sign-in, the customer search, the customer's card with its balance,
open lots, active holds, tier, cards and statement, and its actions (a manual adjustment,
cancelling a hold, blocking or unblocking a card, issuing a card, setting or clearing the manual
tier, blocking or unblocking the account). The program's keys, partner inbox and webhooks are in
``api/console/operations.py``, its rules in ``api/console/rules.py``.

The routes are public to the bearer-key check (``opt["public"]``) and check the console's own
session instead (``api/console/sessions.py``); they are left out of the published OpenAPI.
Every POST carries the session's CSRF token and a one-time form key that becomes the action's
idempotency key; an action goes through the same use case as its API call, and a refusal is
shown on the page. A successful POST answers 303 back to the customer's card. When Redis, where
the sessions live, does not answer, every console page answers 503 with a page saying so.
"""

from datetime import datetime
from typing import Any
from uuid import UUID

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.datastructures import ResponseHeader
from litestar.response import Redirect, Template
from litestar.types import ExceptionHandlersMap

from api.auth import admin_scopes, client_address
from api.console.sessions import (
    ConsoleUnavailable,
    Signed,
    cleared_cookie,
    csrf_matches,
    drop_session,
    form_key_of,
    form_of,
    keep_locale,
    new_form_key,
    open_session,
    same_origin,
    session_cookie,
    signed_in,
)
from api.console.words import catalogues, locale_of, words
from api.http import renderer
from processing.core import limits
from processing.core.rejections import Rejection
from processing.runtime import RedisError, Runtime
from processing.service.ledger.decisions import AdjustmentCommand
from processing.service.loyalty.use_cases import TierCommand
from processing.service.mutations import Mutation, fingerprint
from processing.service.records import Accepted, Actor, Refused, StoredResponse
from schemas.api import (
    AdjustmentCreate,
    CardCreate,
    CardJournal,
    Customer,
    Hold,
    Operation,
    StatusChange,
)
from schemas.loyalty import CustomerTier, TierSet

AnyRequest = Request[Any, Any, Any]
html = "text/html"
sign_in_path = "/console/sign-in"
# The pages load nothing but their own stylesheet and post only to themselves.
content_security_policy = (
    "default-src 'self'; style-src 'self'; form-action 'self'; frame-ancestors 'none'"
)
security_headers = [
    ResponseHeader(name="Content-Security-Policy", value=content_security_policy),
    ResponseHeader(name="X-Content-Type-Options", value="nosniff"),
    ResponseHeader(name="Referrer-Policy", value="same-origin"),
    ResponseHeader(name="Cache-Control", value="no-store"),
]


# What a success on the customer's card says (``?done=``).
customer_notices = frozenset(
    {
        "adjusted",
        "blocked",
        "unblocked",
        "account_blocked",
        "account_unblocked",
        "tier_set",
        "tier_cleared",
        "card_issued",
        "hold_cancelled",
    }
)
# A hold's cancel refused because the hold is no longer active (or not the key's to see).
hold_gone_codes = frozenset(
    {
        Rejection.hold_not_found.value,
        Rejection.hold_already_committed.value,
        Rejection.hold_already_cancelled.value,
        Rejection.hold_expired.value,
    }
)


class Problem(msgspec.Struct, kw_only=True):
    """What a page shows of a refusal the API would have answered as problem+json."""

    detail: str = ""
    code: str = ""


def page(
    name: str, locale: str, signed: Signed | None, status_code: int = 200, **context: Any
) -> Template:
    return Template(
        template_name=name,
        context={
            "t": words(locale),
            "locale": locale,
            "locales": sorted(catalogues),
            "csrf": signed.session.csrf if signed else None,
            **context,
        },
        media_type=html,
        status_code=status_code,
    )


def to_sign_in(request: AnyRequest, gone: bool) -> Redirect:
    """Back to the sign-in page, forgetting the cookie; ``gone``: a session just ended."""
    target = f"{sign_in_path}?gone=1" if gone else sign_in_path
    return Redirect(target, status_code=303, cookies=[cleared_cookie(request)])


async def session_or_sign_in(
    request: AnyRequest, runtime: Runtime, lang: str | None
) -> Signed | Redirect:
    signed = await signed_in(request, runtime)
    if signed is None:
        return to_sign_in(request, gone=bool(request.cookies.get("bonus_console")))
    chosen = locale_of(lang, signed.session.locale)
    if chosen != signed.session.locale:
        session = await keep_locale(runtime, signed.token, signed.session, chosen)
        signed = signed._replace(session=session)
    return signed


def refused_text(locale: str, refused: Refused | Problem, missing: str = "not_found") -> str:
    """A refusal as the page shows it; ``missing`` names the words for a thing not found."""
    t = words(locale)
    if isinstance(refused, Refused):
        refused = Problem(detail=refused.detail, code=refused.rejection.value)
    if refused.code == Rejection.not_found.value:
        return t[missing]
    if refused.code in hold_gone_codes:
        return f"{t['hold_gone']} ({refused.code})"
    return f"{t['refused']}: {refused.detail} ({refused.code})"


def problem_of(stored: StoredResponse) -> Problem:
    try:
        return msgspec.json.decode(stored.body, type=Problem)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return Problem(detail=stored.outcome, code=stored.outcome)


def when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")


async def customer_page(
    runtime: Runtime,
    signed: Signed,
    customer_id: UUID,
    *,
    cursor: str | None = None,
    notice: str | None = None,
    message: str | None = None,
    status_code: int = 200,
) -> Template:
    """The customer's card; a customer the key cannot see goes back to the search."""
    actor, locale = signed.actor, signed.session.locale
    customer = await runtime.customers.get(actor, customer_id)
    if not isinstance(customer, Accepted):
        text = refused_text(locale, customer) if isinstance(customer, Refused) else None
        return page("console/search.html", locale, signed, 404, message=text)
    balance = await runtime.reads.balance(actor, customer_id)
    statement = await runtime.reads.statement(
        actor, customer_id, limits.console_statement_page_size, cursor
    )
    if isinstance(statement, Refused):
        message = message or refused_text(locale, statement)
    lots = await runtime.reads.lots(actor, customer_id)
    holds = await runtime.reads.active_holds(actor, customer_id)
    hold_list = holds.value if isinstance(holds, Accepted) else []
    tier = await runtime.loyalty.tier(actor, customer_id)
    rules = await runtime.loyalty.rules(actor, customer.value.program_id)
    tiers = [item.name for item in rules.value.rules.tiers] if isinstance(rules, Accepted) else []
    return page(
        "console/customer.html",
        locale,
        signed,
        status_code,
        customer=customer.value,
        balance=balance.value if isinstance(balance, Accepted) else None,
        statement=statement.value if isinstance(statement, Accepted) else None,
        first_page=cursor is not None,
        adjust_key=new_form_key(),
        block_keys={card.number: new_form_key() for card in customer.value.cards},
        account_key=new_form_key(),
        lots=lots.value if isinstance(lots, Accepted) else None,
        holds=hold_list,
        hold_keys={hold.id: new_form_key() for hold in hold_list},
        tier=tier.value if isinstance(tier, Accepted) else None,
        tiers=tiers,
        tier_key=new_form_key(),
        tier_clear_key=new_form_key(),
        card_key=new_form_key(),
        notice=notice,
        message=message,
        when=when,
    )


def console_mutation(actor: Actor, form_key: str, operation: str, *parts: object) -> Mutation:
    """The idempotent request a console form makes, as ``api/http.py`` builds an API call's:
    the same form sent twice is the same request, the key reused for another is refused."""
    encoded = [
        msgspec.json.encode(part) if isinstance(part, msgspec.Struct) else str(part)
        for part in parts
    ]
    return Mutation(
        actor=actor, idempotency_key=form_key, fingerprint=fingerprint(operation, *encoded)
    )


def has_nul(*values: str) -> bool:
    return any("\x00" in value for value in values)


def unavailable(request: AnyRequest, error: Exception) -> Template:
    """Redis did not answer (``ConsoleUnavailable``, or a Redis error anywhere in a console
    request): a page saying to try again, in the locale ``?lang=`` asks for (the session that
    keeps the chosen one is out of reach), with the pages' security headers."""
    locale = locale_of(request.query_params.get("lang"))
    return Template(
        template_name="console/unavailable.html",
        context={
            "t": words(locale),
            "locale": locale,
            "locales": sorted(catalogues),
            "csrf": None,
            "message": words(locale)["unavailable"],
        },
        media_type=html,
        status_code=503,
        headers={header.name: header.value or "" for header in security_headers}
        | {"Retry-After": str(unavailable_retry_seconds)},
    )


# What a console controller answers when Redis does not: the 503 page, never a traceback.
unavailable_retry_seconds = 5
console_exception_handlers: ExceptionHandlersMap = {
    ConsoleUnavailable: unavailable,
    RedisError: unavailable,
}


class ConsoleController(Controller):
    path = "/console"
    # The console checks its own session (api/console/sessions.py), not a bearer key.
    opt = {"public": True}  # noqa: RUF012  (Litestar reads it as configuration)
    include_in_schema = False
    response_headers = security_headers
    exception_handlers = console_exception_handlers

    @get("/sign-in", name="console_sign_in_page")
    async def sign_in_page(
        self, request: AnyRequest, lang: str | None = None, gone: str | None = None
    ) -> Template:
        locale = locale_of(lang)
        message = words(locale)["signed_out"] if gone else None
        return page("console/sign_in.html", locale, None, message=message)

    @post("/sign-in", name="console_sign_in", status_code=303)
    async def sign_in(self, request: AnyRequest, runtime: Runtime) -> Response[Any]:
        """Failed attempts take from the same per-address allowance as bad API keys."""
        form = await form_of(request) or {}
        locale = locale_of(form.get("lang"))
        t = words(locale)
        if not same_origin(request):
            return page("console/refused.html", locale, None, 403, message=t["forbidden"])
        secret = form.get("key", "").strip()
        actor = await runtime.admin.admit(secret or None, client_address(request))
        if isinstance(actor, Refused):
            throttled = actor.rejection is Rejection.authentication_throttled
            text = t["key_throttled"] if throttled else t["key_refused"]
            return page(
                "console/sign_in.html", locale, None, 429 if throttled else 401, message=text
            )
        if not actor.scopes & admin_scopes:
            return page("console/sign_in.html", locale, None, 403, message=t["key_not_admin"])
        token, _ = await open_session(runtime, secret, locale)
        return Redirect("/console", status_code=303, cookies=[session_cookie(request, token)])

    @post("/sign-out", name="console_sign_out", status_code=303)
    async def sign_out(self, request: AnyRequest, runtime: Runtime) -> Response[Any]:
        signed = await signed_in(request, runtime)
        if signed is None:
            return to_sign_in(request, gone=False)
        if not same_origin(request) or not csrf_matches(signed.session, await form_of(request)):
            return self.forbidden(signed)
        await drop_session(runtime, signed.token)
        return to_sign_in(request, gone=False)

    @get("/", name="console_search")
    async def search(
        self,
        request: AnyRequest,
        runtime: Runtime,
        lang: str | None = None,
        phone: str | None = None,
        card: str | None = None,
    ) -> Response[Any]:
        signed = await session_or_sign_in(request, runtime, lang)
        if isinstance(signed, Redirect):
            return signed
        phone, card = (phone or "").strip() or None, (card or "").strip() or None
        if phone is None and card is None:
            return page("console/search.html", signed.session.locale, signed)
        found = await runtime.customers.find(signed.actor, phone, card)
        if isinstance(found, Accepted):
            return Redirect(f"/console/customers/{found.value.id}", status_code=303)
        text = refused_text(signed.session.locale, found) if isinstance(found, Refused) else None
        return page(
            "console/search.html",
            signed.session.locale,
            signed,
            phone=phone,
            card=card,
            message=text,
        )

    @get("/customers/{customer_id:uuid}", name="console_customer")
    async def customer(
        self,
        request: AnyRequest,
        runtime: Runtime,
        customer_id: UUID,
        lang: str | None = None,
        cursor: str | None = None,
        done: str | None = None,
    ) -> Response[Any]:
        signed = await session_or_sign_in(request, runtime, lang)
        if isinstance(signed, Redirect):
            return signed
        t = words(signed.session.locale)
        notice = t.get(f"done_{done}") if done in customer_notices else None
        return await customer_page(runtime, signed, customer_id, cursor=cursor, notice=notice)

    @post("/customers/{customer_id:uuid}/adjustments", name="console_adjust", status_code=303)
    async def adjust(
        self, request: AnyRequest, runtime: Runtime, customer_id: UUID
    ) -> Response[Any]:
        signed = await session_or_sign_in(request, runtime, None)
        if isinstance(signed, Redirect):
            return signed
        form = await form_of(request)
        if form is None or not same_origin(request) or not csrf_matches(signed.session, form):
            return self.forbidden(signed)
        t = words(signed.session.locale)
        form_key, reason = form_key_of(form), form.get("reason", "").strip()
        try:
            points = int(form.get("points", "").strip())
            data = msgspec.convert({"points": points, "reason": reason}, AdjustmentCreate)
        except (ValueError, msgspec.ValidationError) as error:
            wrong = "bad_text" if "reason" in str(error) else "bad_points"
            return await self.again(runtime, signed, customer_id, t[wrong])
        if form_key is None or has_nul(reason):
            return await self.again(runtime, signed, customer_id, t["bad_text"])
        command = msgspec.convert(data, AdjustmentCommand, from_attributes=True)
        mutation = console_mutation(signed.actor, form_key, "console_adjust", customer_id, data)
        stored = await runtime.ledger.adjust(mutation, customer_id, command, renderer(Operation))
        return await self.after(runtime, signed, customer_id, stored, "adjusted")

    @post("/customers/{customer_id:uuid}/cards/block", name="console_block_card", status_code=303)
    async def block_card(
        self, request: AnyRequest, runtime: Runtime, customer_id: UUID
    ) -> Response[Any]:
        return await self.card_status(request, runtime, customer_id, blocked=True)

    @post(
        "/customers/{customer_id:uuid}/cards/unblock", name="console_unblock_card", status_code=303
    )
    async def unblock_card(
        self, request: AnyRequest, runtime: Runtime, customer_id: UUID
    ) -> Response[Any]:
        return await self.card_status(request, runtime, customer_id, blocked=False)

    @post("/customers/{customer_id:uuid}/block", name="console_block_account", status_code=303)
    async def block_account(
        self, request: AnyRequest, runtime: Runtime, customer_id: UUID
    ) -> Response[Any]:
        return await self.account_block(request, runtime, customer_id, blocked=True)

    @post("/customers/{customer_id:uuid}/unblock", name="console_unblock_account", status_code=303)
    async def unblock_account(
        self, request: AnyRequest, runtime: Runtime, customer_id: UUID
    ) -> Response[Any]:
        return await self.account_block(request, runtime, customer_id, blocked=False)

    async def card_status(
        self, request: AnyRequest, runtime: Runtime, customer_id: UUID, *, blocked: bool
    ) -> Response[Any]:
        """Blocks or unblocks one of the customer's cards with a reason, as
        ``POST /v1/cards/{number}/block`` and ``/unblock`` do."""
        signed = await session_or_sign_in(request, runtime, None)
        if isinstance(signed, Redirect):
            return signed
        form = await form_of(request)
        if form is None or not same_origin(request) or not csrf_matches(signed.session, form):
            return self.forbidden(signed)
        t = words(signed.session.locale)
        form_key, number = form_key_of(form), form.get("number", "")
        reason = form.get("reason", "").strip()
        try:
            data = msgspec.convert({"reason": reason}, StatusChange)
        except msgspec.ValidationError:
            return await self.again(runtime, signed, customer_id, t["bad_text"])
        customer = await runtime.customers.get(signed.actor, customer_id)
        numbers = (
            [card.number for card in customer.value.cards] if isinstance(customer, Accepted) else []
        )
        if form_key is None or has_nul(reason) or number not in numbers:
            return await self.again(runtime, signed, customer_id, t["bad_text"])
        operation = "console_block_card" if blocked else "console_unblock_card"
        mutation = console_mutation(
            signed.actor, form_key, operation, customer_id, number, data.reason
        )
        stored = await runtime.customers.set_card_status(
            mutation, number, blocked, data.reason, renderer(CardJournal)
        )
        return await self.after(
            runtime, signed, customer_id, stored, "blocked" if blocked else "unblocked"
        )

    async def account_block(
        self, request: AnyRequest, runtime: Runtime, customer_id: UUID, *, blocked: bool
    ) -> Response[Any]:
        """Blocks or unblocks the customer's account with a reason, as
        ``POST /v1/customers/{id}/block`` and ``/unblock`` do."""
        signed = await session_or_sign_in(request, runtime, None)
        if isinstance(signed, Redirect):
            return signed
        form = await form_of(request)
        if form is None or not same_origin(request) or not csrf_matches(signed.session, form):
            return self.forbidden(signed)
        t = words(signed.session.locale)
        form_key, reason = form_key_of(form), form.get("reason", "").strip()
        try:
            data = msgspec.convert({"reason": reason}, StatusChange)
        except msgspec.ValidationError:
            return await self.again(runtime, signed, customer_id, t["bad_text"])
        if form_key is None or has_nul(reason):
            return await self.again(runtime, signed, customer_id, t["bad_text"])
        operation = "console_block_account" if blocked else "console_unblock_account"
        mutation = console_mutation(signed.actor, form_key, operation, customer_id, data.reason)
        stored = await runtime.customers.set_account_block(
            mutation, customer_id, blocked, data.reason, renderer(Customer)
        )
        done = "account_blocked" if blocked else "account_unblocked"
        return await self.after(runtime, signed, customer_id, stored, done)

    @post("/customers/{customer_id:uuid}/tier", name="console_set_tier", status_code=303)
    async def set_tier(
        self, request: AnyRequest, runtime: Runtime, customer_id: UUID
    ) -> Response[Any]:
        return await self.manual_tier(request, runtime, customer_id, clear=False)

    @post("/customers/{customer_id:uuid}/tier/clear", name="console_clear_tier", status_code=303)
    async def clear_tier(
        self, request: AnyRequest, runtime: Runtime, customer_id: UUID
    ) -> Response[Any]:
        return await self.manual_tier(request, runtime, customer_id, clear=True)

    async def manual_tier(
        self, request: AnyRequest, runtime: Runtime, customer_id: UUID, *, clear: bool
    ) -> Response[Any]:
        """Sets or clears the manual tier with a reason, as ``PUT /v1/customers/{id}/tier``
        does (``Loyalty.set_tier``); a tier the rules do not name is refused on the page."""
        signed = await session_or_sign_in(request, runtime, None)
        if isinstance(signed, Redirect):
            return signed
        form = await form_of(request)
        if form is None or not same_origin(request) or not csrf_matches(signed.session, form):
            return self.forbidden(signed)
        t = words(signed.session.locale)
        form_key, reason = form_key_of(form), form.get("reason", "").strip()
        tier = None if clear else form.get("tier", "").strip()
        if tier == "":
            return await self.again(runtime, signed, customer_id, t["bad_tier"])
        try:
            data = msgspec.convert({"tier": tier, "reason": reason}, TierSet)
        except msgspec.ValidationError as error:
            wrong = "bad_tier" if "tier" in str(error) else "bad_text"
            return await self.again(runtime, signed, customer_id, t[wrong])
        if form_key is None or has_nul(reason, tier or ""):
            return await self.again(runtime, signed, customer_id, t["bad_text"])
        command = msgspec.convert(msgspec.to_builtins(data), TierCommand)
        mutation = console_mutation(signed.actor, form_key, "console_set_tier", customer_id, data)
        stored = await runtime.loyalty.set_tier(
            mutation, customer_id, command, renderer(CustomerTier)
        )
        return await self.after(
            runtime, signed, customer_id, stored, "tier_cleared" if clear else "tier_set"
        )

    @post(
        "/customers/{customer_id:uuid}/holds/{hold_id:uuid}/cancel",
        name="console_cancel_hold",
        status_code=303,
    )
    async def cancel_hold(
        self, request: AnyRequest, runtime: Runtime, customer_id: UUID, hold_id: UUID
    ) -> Response[Any]:
        """Cancels one of the customer's active holds, as ``POST /v1/holds/{id}/cancel`` does
        (``Ledger.cancel``); a hold already committed, cancelled or expired is refused on the
        page."""
        signed = await session_or_sign_in(request, runtime, None)
        if isinstance(signed, Redirect):
            return signed
        form = await form_of(request)
        if form is None or not same_origin(request) or not csrf_matches(signed.session, form):
            return self.forbidden(signed)
        form_key = form_key_of(form)
        if form_key is None:
            t = words(signed.session.locale)
            return await self.again(runtime, signed, customer_id, t["bad_text"])
        # The hold must be this customer's: a form naming another customer's hold changes nothing.
        hold = await runtime.reads.hold(signed.actor, hold_id)
        if not isinstance(hold, Accepted) or hold.value.customer_id != customer_id:
            text = refused_text(signed.session.locale, Problem(code="hold_not_found"))
            return await self.again(runtime, signed, customer_id, text, 404)
        mutation = console_mutation(
            signed.actor, form_key, "console_cancel_hold", customer_id, hold_id
        )
        stored = await runtime.ledger.cancel(mutation, hold_id, renderer(Hold))
        return await self.after(runtime, signed, customer_id, stored, "hold_cancelled")

    @post("/customers/{customer_id:uuid}/cards", name="console_issue_card", status_code=303)
    async def issue_card(
        self, request: AnyRequest, runtime: Runtime, customer_id: UUID
    ) -> Response[Any]:
        """Issues a new card number to the customer, as ``POST /v1/customers/{id}/cards``."""
        signed = await session_or_sign_in(request, runtime, None)
        if isinstance(signed, Redirect):
            return signed
        form = await form_of(request)
        if form is None or not same_origin(request) or not csrf_matches(signed.session, form):
            return self.forbidden(signed)
        t = words(signed.session.locale)
        form_key, number = form_key_of(form), form.get("number", "").strip()
        try:
            data = msgspec.convert({"number": number}, CardCreate)
        except msgspec.ValidationError:
            return await self.again(runtime, signed, customer_id, t["bad_card"])
        if form_key is None:
            return await self.again(runtime, signed, customer_id, t["bad_text"])
        mutation = console_mutation(signed.actor, form_key, "console_issue_card", customer_id, data)
        stored = await runtime.customers.add_card(
            mutation, customer_id, data.number, renderer(Customer)
        )
        return await self.after(runtime, signed, customer_id, stored, "card_issued")

    @staticmethod
    def forbidden(signed: Signed) -> Template:
        """A POST without the session's CSRF token, or from another site: nothing changes."""
        locale = signed.session.locale
        return page("console/refused.html", locale, signed, 403, message=words(locale)["forbidden"])

    @staticmethod
    async def again(
        runtime: Runtime, signed: Signed, customer_id: UUID, message: str, status_code: int = 422
    ) -> Template:
        """The card again with what was wrong with the form; nothing was changed."""
        return await customer_page(
            runtime, signed, customer_id, message=message, status_code=status_code
        )

    @staticmethod
    async def after(
        runtime: Runtime, signed: Signed, customer_id: UUID, stored: StoredResponse, done: str
    ) -> Response[Any]:
        if stored.status_code >= 400:
            text = refused_text(signed.session.locale, problem_of(stored))
            return await ConsoleController.again(
                runtime, signed, customer_id, text, stored.status_code
            )
        return Redirect(f"/console/customers/{customer_id}?done={done}", status_code=303)
