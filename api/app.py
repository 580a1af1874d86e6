"""The app factory: ``create_app(settings)`` builds the Litestar app; its lifespan opens the
runtime (pools, clients, services), runs the expiry worker, and closes everything on shutdown.
Nothing happens at import time."""

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

import msgspec
import structlog
from litestar import Litestar, Request, Response
from litestar.datastructures import State
from litestar.di import Provide
from litestar.exceptions import HTTPException, ValidationException
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme

from api.bodies import before_request
from api.console import console_handlers, console_static, console_templates
from api.console.bitrix24_tab import Bitrix24TabController
from api.console.enrollment import JoinController
from api.console.join_wallets import JoinWalletsController
from api.console.unsubscribe import UnsubscribePageController
from api.controllers.admin import AdminController
from api.controllers.bitrix24_app import bitrix24_app_handlers
from api.controllers.campaigns import CampaignsController
from api.controllers.certificates import (
    CertificatesController,
    PosCertificatesController,
    ShopCertificatesController,
)
from api.controllers.connections import ConnectionsController
from api.controllers.customer_reports import CustomerReportsController
from api.controllers.customers import CustomersController
from api.controllers.donations import CharitiesController, DonationsController
from api.controllers.enrollment import CardLinksController, EnrollmentPageController
from api.controllers.google_wallet import GoogleWalletController
from api.controllers.health import HealthController
from api.controllers.ledger import LedgerController
from api.controllers.loyalty import (
    CheckoutController,
    EventsController,
    PurchasesController,
    RulesController,
    TierController,
)
from api.controllers.membership import MembershipController, MembershipLevelsController
from api.controllers.messages import MessagesController
from api.controllers.partners import receivers
from api.controllers.pos import PosController
from api.controllers.promo import PromoCampaignsController
from api.controllers.promoters import PromotersController
from api.controllers.reports import ReportsController
from api.controllers.segments import SegmentsController
from api.controllers.settlement import SettlementController
from api.controllers.shop import ShopController
from api.controllers.triggers import (
    CustomerMessagesController,
    TriggersController,
    UnsubscribeController,
)
from api.controllers.wallet import AppleWalletController, PassKitController
from api.controllers.webhooks import WebhooksController
from api.docs import swagger_assets, swagger_plugin
from api.edge import RequestCap
from api.errors import ProblemError, render_problem
from api.http import AppState, provide_actor, runtime_dependency, service_dependencies
from api.middleware import observe_requests
from api.openapi import PublishedJson, Publisher
from processing import telemetry
from processing.core import limits
from processing.core.rejections import Rejection
from processing.runtime import Runtime, resolve_urls
from processing.service.ports import DatabaseRefusedData, DatabaseUnavailable
from processing.service.records import StoredResponse, refuse
from processing.settings import Settings, load_settings
from processing.workers.expiry import run_expiry_loop

log = structlog.get_logger(__name__)
_unknown_field = re.compile(r"unknown field `([^`]+)`")
_missing_parameter = re.compile(r"Missing required \w+ parameter '([^']+)'")
AnyRequest = Request[Any, Any, Any]
database_retry_after_seconds = 1
pool_observe_seconds = 5.0


def problem_response(
    request: AnyRequest, stored: StoredResponse, headers: dict[str, str] | None = None
) -> Response[Any]:
    request.scope.setdefault("state", {})["outcome"] = stored.outcome
    return Response(
        content=stored.body,
        status_code=stored.status_code,
        media_type=stored.media_type,
        headers=headers,
    )


def on_problem(request: AnyRequest, error: ProblemError) -> Response[Any]:
    retry_after = (error.refused.extra or {}).get("retry_after")
    headers = {"Retry-After": retry_after} if retry_after else None
    return problem_response(request, render_problem(error.refused), headers)


def on_validation(request: AnyRequest, error: ValidationException) -> Response[Any]:
    """Litestar's body and parameter errors, rewritten as problems that name the field."""
    details = error.extra if isinstance(error.extra, list) else []
    first = details[0] if details and isinstance(details[0], dict) else {}
    message = str(first.get("message") or error.detail)
    field = wire_name(request, first.get("key") or None)
    missing = _missing_parameter.search(message)
    if field is None and missing is not None:
        field = missing.group(1)
    unknown = _unknown_field.search(message)
    if unknown is not None:
        field = unknown.group(1) if field in (None, "data") else f"{field}.{unknown.group(1)}"
    detail = f"{field}: {message}" if field else str(message)
    refused = refuse(Rejection.validation_error, detail, field=field)
    return problem_response(request, render_problem(refused))


def wire_name(request: AnyRequest, key: str | None) -> str | None:
    """The name a client sends a parameter by: a query parameter's alias (``from`` for a
    handler's ``first``) rather than the handler's own name for it."""
    if key is None:
        return None
    parameter = request.route_handler.parsed_fn_signature.parameters.get(key)
    kwarg = getattr(parameter, "kwarg_definition", None)
    alias = getattr(kwarg, "query", None)
    return alias if isinstance(alias, str) else key


def on_http_error(request: AnyRequest, error: HTTPException) -> Response[Any]:
    if error.status_code == 413:
        refused = refuse(
            Rejection.payload_too_large,
            f"The body may not exceed {limits.request_body_bytes_max} bytes.",
        )
    elif error.status_code == 404:
        refused = refuse(Rejection.not_found, "No such resource.")
    elif error.status_code == 405:
        refused = refuse(Rejection.method_not_allowed, "This method is not allowed on this path.")
    else:
        refused = refuse(Rejection.validation_error, str(error.detail))
    allowed = {name.lower(): value for name, value in (error.headers or {}).items()}.get("allow")
    headers = {"Allow": allowed} if allowed else None
    return problem_response(request, render_problem(refused), headers)


def on_crash(request: AnyRequest, error: Exception) -> Response[Any]:
    log.exception("unhandled_error", path=request.url.path, error=repr(error))
    body = (
        b'{"type":"about:blank","title":"Internal error","status":500,"code":"internal_error",'
        b'"detail":"The request failed; nothing was changed. Retry with the same Idempotency-Key."}'
    )
    request.scope.setdefault("state", {})["outcome"] = "internal_error"
    return Response(content=body, status_code=500, media_type="application/problem+json")


def on_unstorable(request: AnyRequest, error: Exception) -> Response[Any]:
    """The net under every input check: a value the database refused or a decoder could not
    read is the request's fault and fails the same way every time, so it answers 400, never a
    500 that tells a till to retry. Logged, because a check in front of it is missing."""
    log.warning("unstorable_input", path=request.url.path, error=repr(error))
    refused = refuse(
        Rejection.validation_error,
        f"A value in the request cannot be stored or read: {str(error)[:200]}",
    )
    return problem_response(request, render_problem(refused))


def on_database_unavailable(request: AnyRequest, error: DatabaseUnavailable) -> Response[Any]:
    log.warning("database_unavailable", path=request.url.path, error=str(error))
    body = (
        b'{"type":"about:blank","title":"Service unavailable","status":503,'
        b'"code":"service_unavailable","detail":"The ledger database cannot be reached. Retry '
        b'with the same Idempotency-Key: a call that was applied returns its stored answer."}'
    )
    request.scope.setdefault("state", {})["outcome"] = "service_unavailable"
    return Response(
        content=body,
        status_code=503,
        media_type="application/problem+json",
        headers={"Retry-After": str(database_retry_after_seconds)},
    )


async def observe_pool_loop(runtime: Runtime) -> None:
    """With /metrics on a port of its own (a thread that cannot reach the pool's loop), the
    pool's gauges are refreshed here instead of on each scrape."""
    while True:
        runtime.observe_pool()
        await asyncio.sleep(pool_observe_seconds)


def start_workers(chosen: Settings, opened: Runtime) -> list[asyncio.Task[None]]:
    """The background loops the settings keep inside the API process."""
    loops: list[tuple[bool, Callable[[], Coroutine[Any, Any, None]]]] = [
        (
            chosen.expiry_worker,
            lambda: run_expiry_loop(opened.database, chosen.expiry_interval_seconds),
        ),
        (chosen.webhook_relay, opened.run_relay),
        # The rollups the relay keeps give the program gauges (decision 0027).
        (chosen.webhook_relay, opened.run_program_gauges),
        (chosen.message_relay, opened.run_messages),
        (chosen.campaign_worker, opened.run_campaigns),
        (chosen.wallet_worker, opened.run_wallet),
        (bool(chosen.metrics_port), lambda: observe_pool_loop(opened)),
        (chosen.channel_worker, opened.run_channels),
        (chosen.google_wallet_worker, opened.run_google_wallet),
    ]
    return [asyncio.create_task(loop()) for wanted, loop in loops if wanted]


def create_app(settings: Settings | None = None, runtime: Runtime | None = None) -> Litestar:
    """Builds the app. A ``runtime`` passed in is used as is and left open for its owner (the
    tests share theirs with the app); otherwise the lifespan opens one and closes it."""
    chosen = settings or load_settings()
    publisher = Publisher()

    @contextlib.asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        if runtime is not None:
            yield
            return
        telemetry.configure_logging(chosen.log_level)
        opened = await Runtime.open(resolve_urls(chosen))
        app.state.runtime = opened
        workers = start_workers(chosen, opened)
        try:
            yield
        finally:
            for worker in workers:
                worker.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await worker
            await opened.close()
            telemetry.forget_this_process()

    app_state = AppState()
    app = Litestar(
        route_handlers=[
            AdminController,
            RulesController,
            MessagesController,
            TriggersController,
            CustomerMessagesController,
            UnsubscribeController,
            CustomersController,
            EnrollmentPageController,
            CardLinksController,
            GoogleWalletController,
            LedgerController,
            CheckoutController,
            PurchasesController,
            EventsController,
            TierController,
            SegmentsController,
            CampaignsController,
            PromoCampaignsController,
            CharitiesController,
            DonationsController,
            MembershipLevelsController,
            MembershipController,
            PromotersController,
            SettlementController,
            AppleWalletController,
            PassKitController,
            ReportsController,
            CustomerReportsController,
            WebhooksController,
            ConnectionsController,
            PosController,
            ShopController,
            CertificatesController,
            PosCertificatesController,
            ShopCertificatesController,
            *receivers,
            *bitrix24_app_handlers,
            HealthController,
            swagger_assets(),
            *console_handlers,
            Bitrix24TabController,
            UnsubscribePageController,
            JoinController,
            JoinWalletsController,
            console_static(),
        ],
        template_config=console_templates(),
        lifespan=[lifespan],
        before_request=before_request,
        dependencies={
            "runtime": runtime_dependency(app_state),
            "actor": Provide(provide_actor, sync_to_thread=False),
            **service_dependencies(app_state),
        },
        middleware=[observe_requests, RequestCap(chosen.http_requests_max)],
        exception_handlers={
            ProblemError: on_problem,
            ValidationException: on_validation,
            HTTPException: on_http_error,
            DatabaseUnavailable: on_database_unavailable,
            DatabaseRefusedData: on_unstorable,
            msgspec.DecodeError: on_unstorable,
            msgspec.ValidationError: on_unstorable,
            Exception: on_crash,
        },
        request_max_body_size=limits.request_body_bytes_max,
        state=State({"runtime": runtime} if runtime is not None else {}),
        openapi_config=OpenAPIConfig(
            title="Bonus processing center",
            version="1.0.0",
            description=(
                "Loyalty points ledger: customers, cards, accruals, holds (reserve, commit, "
                "cancel), refunds and expiry. Every mutating call needs an Idempotency-Key."
            ),
            path="/schema",
            use_handler_docstrings=True,
            render_plugins=[swagger_plugin(publisher), PublishedJson(publisher)],
            components=Components(
                security_schemes={
                    "ApiKey": SecurityScheme(type="http", scheme="bearer", description="API key")
                }
            ),
            security=[{"ApiKey": []}],
        ),
    )
    app_state.state = app.state
    return app
