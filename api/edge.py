"""The HTTP edge, bounded in the server itself: no proxy in front is assumed.

uvicorn's httptools protocol reads a request head of any size (a 64 MB header block was answered
200 and five of them took the process from 79 to 405 MB) and waits forever for a client that
sends a byte now and then (its keep-alive timer only runs between requests, and every byte
received cancels it). ``EdgeProtocol`` is that protocol with two bounds added, both from
Settings: a request head larger than ``http_header_bytes_max`` is answered 431 and the
connection closed as soon as the bytes received pass the bound, so memory stays bounded whatever
the client sends; and a request that is not wholly received ``http_read_seconds_max`` after its
first byte (or after the connection opened) is answered 408 and closed. ``RequestCap`` caps
the requests one process works on at once and answers the rest 503 ``server_busy`` at once,
instead of letting a burst queue up behind the database pool. Each refusal is counted in
``bonus_http_edge_refusals_total{reason}``.
"""

import asyncio
import functools
from typing import Any

import httptools
import structlog
from litestar.enums import ScopeType
from litestar.types import (
    ASGIApp,
    HTTPResponseBodyEvent,
    HTTPResponseStartEvent,
    Receive,
    Scope,
    Send,
)
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol
from uvicorn.server import ServerState

from api.errors import render_problem
from processing import telemetry
from processing.core.rejections import Rejection
from processing.service.records import refuse
from processing.settings import Settings, load_settings

log = structlog.get_logger("api.edge")
# Probes and the scrape are never refused as busy: a busy server is alive and should say so.
_never_busy = ("/health/", "/metrics")
server_busy_retry_after_seconds = 1
# After a refusal the connection reads and drops what the client still sends for this long
# before closing: closing with unread bytes makes the kernel reset the connection, and the
# client would lose the refusal it was just sent.
refusal_linger_seconds = 1.0


class _HeadTooLarge(Exception):
    """Raised inside the parser's callback; httptools hands it back wrapped."""


@functools.cache
def edge_settings() -> Settings:
    """The server's settings, read once per process (uvicorn builds one protocol per
    connection, and its worker processes inherit the environment ``bonus serve`` set)."""
    return load_settings()


def problem_bytes(rejection: Rejection, detail: str, *headers: tuple[bytes, bytes]) -> bytes:
    """A whole HTTP/1.1 response carrying the problem, for the connection to close after."""
    stored = render_problem(refuse(rejection, detail))
    lines = [
        STATUS_LINE[stored.status_code],
        b"content-type: " + stored.media_type.encode() + b"\r\n",
        b"content-length: " + str(len(stored.body)).encode() + b"\r\n",
        b"connection: close\r\n",
        *(name + b": " + value + b"\r\n" for name, value in headers),
        b"\r\n",
        stored.body,
    ]
    return b"".join(lines)


class EdgeProtocol(HttpToolsProtocol):
    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        settings = edge_settings()
        self.head_bytes_max = settings.http_header_bytes_max
        self.read_seconds_max = settings.http_read_seconds_max
        self.reading_head = True  # between a request's first byte and its headers' end
        self.head_bytes_received = 0  # raw bytes received while reading the head
        self.head_size = 0  # the parsed head: request target, names and values
        self.awaiting_request = True  # no request of this connection is being answered
        self.read_deadline: asyncio.TimerHandle | None = None
        self.refused = False  # a refusal was sent: what still arrives is dropped

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.arm_read_deadline()  # a client that connects and never sends is closed too

    def connection_lost(self, exc: Exception | None) -> None:
        self.disarm_read_deadline()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        """uvicorn's, with the head counted; a parser error caused by a head too large is a
        431, any other stays uvicorn's 400."""
        if self.refused or self.transport.is_closing():
            return
        self._unset_keepalive_if_required()
        if self.awaiting_request and self.read_deadline is None:
            self.arm_read_deadline()
        if self.reading_head:
            self.head_bytes_received += len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as error:
            if isinstance(error.__context__, _HeadTooLarge):
                self.refuse_head()
                return
            self.logger.warning("Invalid HTTP request received.")
            self.send_400_response("Invalid HTTP request received.")
            return
        except httptools.HttpParserUpgrade:
            self._unsupported_upgrade_warning()
            return
        if self.reading_head and self.head_bytes_received > self.head_bytes_max:
            self.refuse_head()

    def on_url(self, url: bytes) -> None:
        self.head_size += len(url)
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self.head_size += len(name) + len(value) + 4  # ": " and CRLF
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        if self.head_size > self.head_bytes_max:
            raise _HeadTooLarge
        self.reading_head = False
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self.disarm_read_deadline()
        self.awaiting_request = False
        self.reading_head, self.head_bytes_received, self.head_size = True, 0, 0
        super().on_message_complete()

    def on_response_complete(self) -> None:
        self.awaiting_request = True
        super().on_response_complete()

    def arm_read_deadline(self) -> None:
        self.read_deadline = self.loop.call_later(self.read_seconds_max, self.read_timed_out)

    def disarm_read_deadline(self) -> None:
        if self.read_deadline is not None:
            self.read_deadline.cancel()
            self.read_deadline = None

    def read_timed_out(self) -> None:
        self.read_deadline = None
        if self.transport.is_closing():
            return
        telemetry.http_edge_refusals_total.labels(reason="read_timeout").inc()
        log.warning("http_read_timeout", client=self.client, seconds=self.read_seconds_max)
        if self.cycle is None or not self.cycle.response_started:
            detail = f"The request was not received within {self.read_seconds_max} seconds."
            self.refuse(problem_bytes(Rejection.request_timeout, detail))
        else:
            self.transport.close()

    def refuse_head(self) -> None:
        telemetry.http_edge_refusals_total.labels(reason="header_too_large").inc()
        log.warning("http_header_too_large", client=self.client, bytes=self.head_bytes_received)
        detail = f"The request line and headers may not exceed {self.head_bytes_max} bytes."
        self.refuse(problem_bytes(Rejection.headers_too_large, detail))

    def refuse(self, response: bytes) -> None:
        """Sends the refusal, ends our side, drops what still arrives, and closes soon after."""
        self.refused = True
        self.disarm_read_deadline()
        if self.cycle is not None and not self.cycle.response_complete:
            # The request the app is reading ends now: its next receive() is a disconnect.
            self.cycle.disconnected = True
            self.cycle.message_event.set()
        self.transport.write(response)
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.loop.call_later(refusal_linger_seconds, self.transport.close)


class RequestCap:
    """At most ``requests_max`` requests in progress in this process; the rest are answered 503
    ``server_busy`` with ``Retry-After`` at once. Litestar wraps each route in its own copy of
    a middleware, so the count lives here, shared by every copy."""

    def __init__(self, requests_max: int) -> None:
        self.requests_max = requests_max
        self.in_progress = 0
        self.busy = render_problem(
            refuse(
                Rejection.server_busy,
                f"The server is working on {requests_max} requests; retry after "
                f"{server_busy_retry_after_seconds} s with the same Idempotency-Key.",
            )
        )

    def __call__(self, app: ASGIApp) -> ASGIApp:
        async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != ScopeType.HTTP or scope["path"].startswith(_never_busy):
                await app(scope, receive, send)
                return
            if self.in_progress >= self.requests_max:
                await self.refuse(scope, send)
                return
            self.in_progress += 1
            try:
                await app(scope, receive, send)
            finally:
                self.in_progress -= 1

        return middleware

    async def refuse(self, scope: Scope, send: Send) -> None:
        telemetry.http_edge_refusals_total.labels(reason="server_busy").inc()
        scope.setdefault("state", {})["outcome"] = self.busy.outcome
        start: HTTPResponseStartEvent = {
            "type": "http.response.start",
            "status": 503,
            "headers": [
                (b"content-type", self.busy.media_type.encode()),
                (b"content-length", str(len(self.busy.body)).encode()),
                (b"retry-after", str(server_busy_retry_after_seconds).encode()),
            ],
        }
        body: HTTPResponseBodyEvent = {
            "type": "http.response.body",
            "body": self.busy.body,
            "more_body": False,
        }
        await send(start)
        await send(body)
