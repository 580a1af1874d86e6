"""Authentication and scopes, checked first on every route but the public ones (health,
metrics) and the OpenAPI pages.

``Authorization: Bearer <key>``; the key's scopes must meet the route's ``opt["scopes"]``.

The check runs as the first step of the app's ``before_request`` hook (``api/bodies.py``), not
as a Litestar guard: Litestar calls each guard with a copy of the route handler, made with
``copy.copy`` on every request, which cost about 4 % of a balance read's CPU (docs/profiling.md).
The hook runs where the guard did, before the body and the parameters are read, and its errors
take the same way to the response. The request's headers and state are read from the ASGI scope
itself: Litestar's ``headers`` and ``state`` build a new object on every access.
"""

from typing import Any

from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler

from api.errors import ProblemError
from processing.core.rejections import Rejection
from processing.runtime import Runtime
from processing.service.records import Refused, refuse

program_scopes = frozenset({"pos", "shop", "crm", "admin"})
admin_scopes = frozenset({"admin"})
# Decisions about a customer a manager makes in the CRM: blocks, manual tiers.
manager_scopes = frozenset({"crm", "admin"})
# Litestar's own OpenAPI routes (the schema and its browsable page) carry no opt of ours.
_open_paths = ("/schema",)


def client_address(connection: ASGIConnection[Any, Any, Any, Any]) -> str:
    """The address failed authentications are counted against: the peer, or the client a
    trusted proxy names (uvicorn rewrites the peer from X-Forwarded-For only when the proxy is
    in ``BONUS_TRUSTED_PROXIES``)."""
    client = connection.client
    return client.host if client is not None else "unknown"


def authorization_of(connection: ASGIConnection[Any, Any, Any, Any]) -> str:
    """The ``Authorization`` header (ASGI servers give header names in lower case)."""
    for name, value in connection.scope["headers"]:
        if name == b"authorization":
            return value.decode("latin-1")
    return ""


async def require_key(
    connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler
) -> None:
    if handler.opt.get("public") or connection.scope["path"].startswith(_open_paths):
        return
    header = authorization_of(connection)
    scheme, _, secret = header.partition(" ")
    sent = secret.strip() if scheme.lower() == "bearer" and secret.strip() else None
    runtime: Runtime = connection.app.state.runtime
    actor = await runtime.admin.admit(sent, client_address(connection))
    if isinstance(actor, Refused):
        if sent is None and actor.rejection is Rejection.unauthorized:
            actor = refuse(
                Rejection.unauthorized, "Send the API key as 'Authorization: Bearer <key>'."
            )
        raise ProblemError(actor)
    state = connection.scope.setdefault("state", {})
    state["actor"] = actor
    state["key_id"] = str(actor.key_id)
    allowed: frozenset[str] = handler.opt.get("scopes", admin_scopes)
    if not actor.scopes & allowed:
        raise ProblemError(
            refuse(
                Rejection.forbidden_scope,
                f"This call needs one of the scopes {sorted(allowed)}; the key has "
                f"{sorted(actor.scopes)}.",
            )
        )
