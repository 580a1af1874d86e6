"""What every controller shares: the caller, the idempotent mutation, and turning outcomes into
responses. Controllers stay a few lines: map the request, call the service, answer."""

import re
from typing import Annotated, Any, TypeVar

import msgspec
from litestar import Request, Response
from litestar.datastructures import State
from litestar.di import Provide
from litestar.params import Parameter

from api.errors import ProblemError, render_problem
from processing.core import limits
from processing.core.rejections import Rejection
from processing.runtime import Runtime
from processing.service.mutations import Mutation, Render, fingerprint
from processing.service.records import (
    Accepted,
    Actor,
    Outcome,
    Refused,
    StoredResponse,
    refuse,
)

T = TypeVar("T")

# A cursor-paged list's query: the page's size, and a keyset cursor
# (processing/service/paging.py, about 100 characters).
PageSize = Annotated[int, Parameter(ge=1, le=limits.page_size_max)]
Cursor = Annotated[str | None, Parameter(max_length=128)]

json_media_type = "application/json"
_key_pattern = re.compile(rf"^[\x21-\x7e]{{1,{limits.idempotency_key_length_max}}}$")


class AppState:
    """The app's state for the dependencies, which take it from here rather than as an argument:
    asked for ``state``, Litestar built a ``State`` object and ran a signature model for it on
    every request, for every dependency that named it (most of the 5 % of a balance read that
    dependencies cost, docs/profiling.md). ``create_app`` sets it once the app exists: Litestar
    replaces an empty ``State`` it is given with a new one, so only the app's own will do."""

    def __init__(self) -> None:
        self.state: State | None = None

    def runtime(self) -> Runtime:
        if self.state is None:
            raise RuntimeError("a dependency was used before its app was built")
        runtime: Runtime = self.state.runtime
        return runtime


def runtime_dependency(app: AppState) -> Provide:
    def provide() -> Runtime:
        return app.runtime()

    return Provide(provide, sync_to_thread=False)


def actor_of(request: Request[Any, Any, Any]) -> Actor:
    """The caller ``require_key`` authenticated."""
    actor: Actor = request.scope["state"]["actor"]
    return actor


def provide_actor(request: Request[Any, Any, Any]) -> Actor:
    """The ``actor`` dependency: the caller ``require_key`` authenticated."""
    return actor_of(request)


# The runtime's use-case services a handler may name as dependencies, by the runtime's own
# attribute names; a handler names what it uses (``ledger: Ledger``) instead of the runtime.
services = (
    "admin",
    "apple_wallet",
    "bonuses",
    "campaigns",
    "certificates",
    "customers",
    "database",
    "donations",
    "enrollments",
    "google_wallet",
    "ledger",
    "loyalty",
    "memberships",
    "merchants",
    "messages",
    "pos",
    "promo_campaigns",
    "promoters",
    "reads",
    "reports",
    "customer_reports",
    "segments",
    "settlements",
    "shop",
    "sms",
    "triggers",
    "webhooks",
)
# Partners' receivers, the Bitrix24 application's calls and the unsubscribe link: no key, so
# no actor.
public_services = ("channels", "bitrix24_app", "unsubscribes", "passkit")


def provide_service(name: str, app: AppState) -> Provide:
    """A service as a dependency. It names ``actor`` only so that Litestar resolves the two one
    after the other: dependencies of one level are resolved concurrently in an anyio task
    group, which cost about 6 % of a balance read's CPU for two attribute reads."""

    def provide(actor: Actor) -> Any:
        return getattr(app.runtime(), name)

    return Provide(provide, sync_to_thread=False)


def provide_public_service(name: str, app: AppState) -> Provide:
    def provide() -> Any:
        return getattr(app.runtime(), name)

    return Provide(provide, sync_to_thread=False)


def service_dependencies(app: AppState) -> dict[str, Provide]:
    return {name: provide_service(name, app) for name in services} | {
        name: provide_public_service(name, app) for name in public_services
    }


def mutation_for(request: Request[Any, Any, Any], data: Any, *parts: object) -> Mutation:
    """The idempotent request: its key, its caller, and a fingerprint of what it asks."""
    key = request.headers.get("idempotency-key")
    if key is None or not _key_pattern.match(key):
        raise ProblemError(
            refuse(
                Rejection.validation_error,
                "The Idempotency-Key header is required on every mutating call: 1 to "
                f"{limits.idempotency_key_length_max} visible ASCII characters.",
                field="Idempotency-Key",
            )
        )
    body = b"" if data is None else msgspec.json.encode(data)
    route = request.scope["route_handler"].name or request.scope["path"]
    return Mutation(
        actor=actor_of(request),
        idempotency_key=key,
        fingerprint=fingerprint(route, *(str(part) for part in parts), body),
    )


def renderer(reply_type: type) -> Render:
    def render(outcome: Outcome) -> StoredResponse:
        if isinstance(outcome, Refused):
            return render_problem(outcome)
        reply: Any = msgspec.convert(outcome.value, reply_type, from_attributes=True)
        return StoredResponse(
            status_code=201 if outcome.created else 200,
            media_type=json_media_type,
            body=msgspec.json.encode(reply),
        )

    return render


def renderer_hiding_secret(reply_type: type, field: str = "key") -> Render:
    """For a reply whose ``field`` is a secret shown once (an API key, a webhook signing
    secret): the caller gets it, the idempotency record keeps the reply with it null, so a
    replay answers without the secret."""
    plain = renderer(reply_type)

    def render(outcome: Outcome) -> StoredResponse:
        shown = plain(outcome)
        if isinstance(outcome, Refused):
            return shown
        hidden = msgspec.structs.replace(outcome.value, **{field: None})
        kept = plain(msgspec.structs.replace(outcome, value=hidden))
        return msgspec.structs.replace(shown, kept_body=kept.body)

    return render


def respond(request: Request[Any, Any, Any], stored: StoredResponse) -> Response[Any]:
    state = request.scope.setdefault("state", {})
    state["outcome"] = "replayed" if stored.replayed else stored.outcome
    headers = {"Idempotent-Replayed": "true"} if stored.replayed else {}
    return Response(
        content=stored.body,
        status_code=stored.status_code,
        media_type=stored.media_type,
        headers=headers,
    )


def answer(request: Request[Any, Any, Any], outcome: Outcome, reply_type: type) -> Response[Any]:
    """Reads: no idempotency, the same rendering."""
    return respond(request, renderer(reply_type)(outcome))


def accepted_value(outcome: Outcome) -> Any:
    return outcome.value if isinstance(outcome, Accepted) else None


def accepted(outcome: Outcome, kind: type[T]) -> T:
    """A read's value for a route that answers something other than JSON (a CSV, a pass):
    a refusal is raised as the problem it answers with."""
    if not isinstance(outcome, Accepted):
        raise ProblemError(outcome)
    if not isinstance(outcome.value, kind):
        raise TypeError(f"expected a {kind.__name__}, got {type(outcome.value).__name__}")
    return outcome.value


def attachment(filename: str) -> dict[str, str]:
    """The header that makes a browser save an answer as ``filename``."""
    return {"Content-Disposition": f'attachment; filename="{filename}"'}
