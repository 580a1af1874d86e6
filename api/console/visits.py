"""A visitor's state on a public enrollment page, kept server-side in Redis (decision 0031).

The first page a person opens gives their browser a random token in an HttpOnly, SameSite=Lax
cookie scoped to ``/join`` (Secure over https); Redis keeps, under the token's SHA-256, the
visit's CSRF token, the code sent and the phone it went to, whether the phone is confirmed, and
once it is, the customer: that is the customer's session, for ``enrollment_session_seconds``
from the last step. Every form carries the CSRF token; a POST without it, or from another
site, changes nothing.
"""

import hashlib
import hmac
import secrets
from typing import Any

import msgspec
from litestar import Request
from litestar.datastructures import Cookie

from api.console.sessions import sessions_answering
from processing.core import limits
from processing.runtime import Runtime

AnyRequest = Request[Any, Any, Any]
cookie_name = "bonus_join"
cookie_path = "/join"
storage_prefix = "join:visit:"
token_bytes = 32


class Visit(msgspec.Struct, frozen=True, kw_only=True):
    csrf: str
    program_id: str | None = None
    purpose: str = "join"  # join: the details form follows the code; sign_in: the code only
    code_id: str | None = None
    phone: str | None = None  # E.164, where the code went
    confirmed: bool = False
    customer_id: str | None = None  # signed in: the customer's page opens
    promoter: str | None = None  # the known promoter code the page was opened with (0034)


def storage_key(token: str) -> str:
    return storage_prefix + hashlib.sha256(token.encode()).hexdigest()


async def visit_of(request: AnyRequest, runtime: Runtime) -> tuple[str, Visit] | None:
    token = request.cookies.get(cookie_name)
    if not token or len(token) > 100:
        return None
    with sessions_answering():
        raw = await runtime.redis.get(storage_key(token))
    if raw is None:
        return None
    try:
        return token, msgspec.json.decode(raw, type=Visit)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None


async def new_visit(runtime: Runtime) -> tuple[str, Visit]:
    token = secrets.token_urlsafe(token_bytes)
    visit = Visit(csrf=secrets.token_urlsafe(token_bytes))
    await keep(runtime, token, visit)
    return token, visit


async def keep(runtime: Runtime, token: str, visit: Visit) -> None:
    with sessions_answering():
        await runtime.redis.set(
            storage_key(token), msgspec.json.encode(visit), ex=limits.enrollment_session_seconds
        )


async def drop(runtime: Runtime, token: str) -> None:
    with sessions_answering():
        await runtime.redis.delete(storage_key(token))


def visit_cookie(request: AnyRequest, token: str) -> Cookie:
    return Cookie(
        key=cookie_name,
        value=token,
        path=cookie_path,
        max_age=limits.enrollment_session_seconds if token else 0,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )


def csrf_matches(visit: Visit, form: dict[str, str] | None) -> bool:
    sent = (form or {}).get("csrf", "")
    return bool(sent) and hmac.compare_digest(visit.csrf.encode(), sent.encode())
