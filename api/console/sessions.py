"""The console's sessions, kept server-side in Redis.

Signing in with an API key opens a session: a random token goes to the browser in an HttpOnly,
SameSite=Strict cookie scoped to ``/console``; Redis keeps, under the token's SHA-256 (so a copy
of Redis names no live cookie), the key's digest as authentication looks keys up, a CSRF token
and the locale, for ``limits.console_session_seconds``. The key itself is never kept. Every
console request looks the digest up again, so a revoked key's session ends at once (through
another instance, within ``limits.api_key_cache_seconds``).

When Redis does not answer, every function here that touches it raises ``ConsoleUnavailable``,
which the console's controllers answer with a 503 page (``api/console/pages.py``): without its
sessions the console can neither check a signed-in operator nor sign one in.
"""

import hashlib
import hmac
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NamedTuple
from urllib.parse import parse_qsl, urlsplit

import msgspec
from litestar import Request
from litestar.datastructures import Cookie

from api.auth import admin_scopes
from processing.core import limits
from processing.runtime import Runtime, redis_errors
from processing.service.admin import secret_hash
from processing.service.records import Actor

AnyRequest = Request[Any, Any, Any]
cookie_name = "bonus_console"
cookie_path = "/console"
storage_prefix = "console:session:"
token_bytes = 32
form_key_bytes = 18
# A console form has a handful of fields; a body with more is not one of ours.
form_fields_max = 16
form_media_type = "application/x-www-form-urlencoded"
_form_key = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


class ConsoleUnavailable(Exception):
    """Redis, where the console's sessions live, did not answer."""


@contextmanager
def sessions_answering() -> Iterator[None]:
    """Redis's errors (refused, reset, timed out) as ``ConsoleUnavailable``."""
    try:
        yield
    except redis_errors as error:
        raise ConsoleUnavailable from error


class Session(msgspec.Struct, frozen=True, kw_only=True):
    key_digest: str  # the API key's SHA-256, hex, as ``Admin.look_up`` takes it
    csrf: str
    locale: str


class Signed(NamedTuple):
    """A request with a live session: its token, what Redis keeps, and the key's caller."""

    token: str
    session: Session
    actor: Actor


def storage_key(token: str) -> str:
    return storage_prefix + hashlib.sha256(token.encode()).hexdigest()


async def open_session(runtime: Runtime, secret: str, locale: str) -> tuple[str, Session]:
    token = secrets.token_urlsafe(token_bytes)
    session = Session(
        key_digest=secret_hash(secret).hex(),
        csrf=secrets.token_urlsafe(token_bytes),
        locale=locale,
    )
    with sessions_answering():
        await runtime.redis.set(
            storage_key(token), msgspec.json.encode(session), ex=limits.console_session_seconds
        )
    return token, session


async def load_session(runtime: Runtime, token: str) -> Session | None:
    with sessions_answering():
        raw = await runtime.redis.get(storage_key(token))
    if raw is None:
        return None
    try:
        return msgspec.json.decode(raw, type=Session)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None


async def keep_locale(runtime: Runtime, token: str, session: Session, locale: str) -> Session:
    """The session with another locale, for the rest of its lifetime (not a new one)."""
    changed = msgspec.structs.replace(session, locale=locale)
    with sessions_answering():
        await runtime.redis.set(
            storage_key(token), msgspec.json.encode(changed), xx=True, keepttl=True
        )
    return changed


async def drop_session(runtime: Runtime, token: str) -> None:
    with sessions_answering():
        await runtime.redis.delete(storage_key(token))


async def session_actor(runtime: Runtime, session: Session) -> Actor | None:
    """The session's key, authenticated again: None once it is revoked, expired or no longer
    an admin key."""
    try:
        digest = bytes.fromhex(session.key_digest)
    except ValueError:
        return None
    actor = runtime.admin.keys.get(digest) or await runtime.admin.look_up(digest)
    return actor if actor is not None and actor.scopes & admin_scopes else None


async def signed_in(request: AnyRequest, runtime: Runtime) -> Signed | None:
    token = request.cookies.get(cookie_name)
    if not token:
        return None
    session = await load_session(runtime, token)
    if session is None:
        return None
    actor = await session_actor(runtime, session)
    if actor is None:
        await drop_session(runtime, token)
        return None
    # Logged with the request like an API call's key, so an operator's actions can be traced.
    request.scope.setdefault("state", {})["key_id"] = str(actor.key_id)
    return Signed(token, session, actor)


def session_cookie(request: AnyRequest, token: str) -> Cookie:
    return Cookie(
        key=cookie_name,
        value=token,
        path=cookie_path,
        max_age=limits.console_session_seconds if token else 0,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def cleared_cookie(request: AnyRequest) -> Cookie:
    """The cookie emptied and expired, so the browser forgets the token."""
    return session_cookie(request, "")


async def form_of(request: AnyRequest) -> dict[str, str] | None:
    """The posted form's fields (the first of each name), or None when the body is not a URL
    encoded form of ours. Read from the body Litestar caps at ``request_body_bytes_max``."""
    if request.content_type[0] != form_media_type:
        return None
    try:
        text = (await request.body()).decode("utf-8")
        pairs = parse_qsl(text, keep_blank_values=True, max_num_fields=form_fields_max)
    except (UnicodeDecodeError, ValueError):
        return None
    form: dict[str, str] = {}
    for name, value in pairs:
        form.setdefault(name, value)
    return form


def same_origin(request: AnyRequest) -> bool:
    """A browser names the page a form was posted from; one from another site is refused
    before anything else. A client that sends no Origin (not a browser) is left to the CSRF
    token."""
    origin = request.headers.get("origin")
    if origin is None:
        return True
    return urlsplit(origin).netloc == request.headers.get("host", "")


def csrf_matches(session: Session, form: dict[str, str] | None) -> bool:
    sent = (form or {}).get("csrf", "")
    return bool(sent) and hmac.compare_digest(session.csrf.encode(), sent.encode())


def new_form_key() -> str:
    """A one-time key rendered into each form: the form's idempotency key, so a form submitted
    twice takes effect once."""
    return secrets.token_urlsafe(form_key_bytes)


def form_key_of(form: dict[str, str]) -> str | None:
    key = form.get("form_key", "")
    return f"console-{key}" if _form_key.match(key) else None
