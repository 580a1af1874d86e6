"""One JSON log line and the latency and outcome metrics for every request.

This runs on every request, so it keeps to what it needs: the request id is looked up among the
headers rather than all of them copied into a dict, and the metric children of each operation
and outcome are looked up once and kept (``labels()`` takes the metric's lock and builds its key
on every call; the labels come from route names and rejection codes, a bounded set).
"""

import functools
import time
import uuid
from typing import Any

import structlog
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from prometheus_client import Counter, Histogram

from processing import telemetry

log = structlog.get_logger("api.request")


def observe_requests(app: ASGIApp) -> ASGIApp:
    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = request_id_of(scope) or uuid.uuid4().hex
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


def request_id_of(scope: Scope) -> str:
    """The caller's ``X-Request-ID`` (the first 64 characters), or empty."""
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            return str(value.decode("latin-1")[:64])
    return ""


@functools.cache
def count_of(operation: str, outcome: str) -> Counter:
    return telemetry.requests_total.labels(operation=operation, outcome=outcome)


@functools.cache
def latency_of(operation: str) -> Histogram:
    return telemetry.request_duration_seconds.labels(operation=operation)


@functools.cache
def rejection_of(code: str) -> Counter:
    return telemetry.rejections_total.labels(code=code)


def record(scope: Scope, request_id: str, status: int, seconds: float) -> None:
    handler = scope.get("route_handler")
    operation = getattr(handler, "name", None) or "unrouted"
    state: dict[str, Any] = scope.get("state", {})
    outcome = state.get("outcome") or ("ok" if status < 400 else f"http_{status}")
    count_of(operation, outcome).inc()
    latency_of(operation).observe(seconds)
    if status >= 400 and outcome not in ("ok", "replayed"):
        rejection_of(outcome).inc()
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
