"""One JSON log line and the latency and outcome metrics for every request."""

import time
import uuid
from typing import Any

import structlog
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from processing import telemetry

log = structlog.get_logger("api.request")


def observe_requests(app: ASGIApp) -> ASGIApp:
    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        started = time.perf_counter()
        headers = dict(scope.get("headers", []))
        request_id = headers.get(b"x-request-id", b"").decode("latin-1")[:64] or uuid.uuid4().hex
        status = {"code": 500}

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                message["headers"] = [
                    *message.get("headers", []),
                    (b"x-request-id", request_id.encode()),
                ]
            await send(message)

        try:
            await app(scope, receive, send_with_id)
        finally:
            record(scope, request_id, status["code"], time.perf_counter() - started)

    return middleware


def record(scope: Scope, request_id: str, status: int, seconds: float) -> None:
    handler = scope.get("route_handler")
    operation = getattr(handler, "name", None) or "unrouted"
    state: dict[str, Any] = scope.get("state", {})
    outcome = state.get("outcome") or ("ok" if status < 400 else f"http_{status}")
    telemetry.requests_total.labels(operation=operation, outcome=outcome).inc()
    telemetry.request_duration_seconds.labels(operation=operation).observe(seconds)
    if status >= 400 and outcome not in ("ok", "replayed"):
        telemetry.rejections_total.labels(code=outcome).inc()
    log.info(
        "request",
        request_id=request_id,
        method=scope.get("method"),
        # The path alone: a query string may carry a token, and is never logged.
        path=scope.get("path"),
        operation=operation,
        status=status,
        outcome=outcome,
        key_id=state.get("key_id"),
        duration_ms=round(seconds * 1000, 3),
    )
