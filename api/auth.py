"""Authentication and scopes, as one guard on every route but the public ones (health,
metrics) and the OpenAPI pages.

``Authorization: Bearer <key>``; the key's scopes must meet the route's ``opt["scopes"]``.
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


async def require_key(
    connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler
) -> None:
    if handler.opt.get("public") or connection.scope["path"].startswith(_open_paths):
        return
    header = connection.headers.get("authorization", "")
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
    connection.state.actor = actor
    connection.state.key_id = str(actor.key_id)
    allowed: frozenset[str] = handler.opt.get("scopes", admin_scopes)
    if not actor.scopes & allowed:
        raise ProblemError(
            refuse(
                Rejection.forbidden_scope,
                f"This call needs one of the scopes {sorted(allowed)}; the key has "
                f"{sorted(actor.scopes)}.",
            )
        )
