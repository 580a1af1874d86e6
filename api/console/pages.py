"""The console's shared page helpers and its sign-in, sign-out and customer search. The
customer's card is in ``api/console/customers.py``, the program's keys, partner connections
and webhooks in ``api/console/operations.py`` (an inbox and a webhook's deliveries in
``api/console/queues.py``), its rules in ``api/console/rules.py``; every form's POST goes
through ``api/console/actions.py``.

The routes are public to the bearer-key check (``opt["public"]``) and check the console's own
session instead (``api/console/sessions.py``); they are left out of the published OpenAPI.
Every POST carries the session's CSRF token and a one-time form key that becomes the action's
idempotency key; an action goes through the same use case as its API call, and a refusal is
shown on the page. When Redis, where the sessions live, does not answer, every console page
answers 503 with a page saying so.
"""

from datetime import datetime
from typing import Any

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
    form_of,
    keep_locale,
    open_session,
    same_origin,
    session_cookie,
    signed_in,
)
from api.console.words import catalogues, locale_of, words
from processing.core.rejections import Rejection
from processing.runtime import RedisError, Runtime
from processing.service.mutations import Mutation, fingerprint
from processing.service.records import Accepted, Actor, Refused, StoredResponse

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
    field: str | None = None


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


def forbidden(signed: Signed) -> Template:
    """A POST without the session's CSRF token, or from another site: nothing changes."""
    locale = signed.session.locale
    return page("console/refused.html", locale, signed, 403, message=words(locale)["forbidden"])


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
            return forbidden(signed)
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
