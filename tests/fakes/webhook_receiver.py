"""A webhook receiver: a real HTTP server on a free local port that records every POST it gets
and answers as a test scripts it (a status per call, a delay that outlasts the sender's
timeout, or a hang until released), so the relay is tested over real HTTP."""

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from aiohttp import web

from tests.fakes.http import serve


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes


@dataclass
class WebhookReceiver:
    url: str = ""
    received: list[Received] = field(default_factory=list)
    # Statuses to answer in order; once used up, ``then`` for every later call.
    statuses: list[int] = field(default_factory=list)
    then: int = 200
    delay_seconds: float = 0.0
    hang: asyncio.Event | None = None  # when set up, calls wait until it is set

    @property
    def ids(self) -> Counter[str]:
        return Counter(item.headers["webhook-id"] for item in self.received)

    async def handle(self, request: web.Request) -> web.Response:
        self.received.append(
            Received(
                headers={name.lower(): value for name, value in request.headers.items()},
                body=await request.read(),
            )
        )
        status = self.statuses.pop(0) if self.statuses else self.then
        if self.hang is not None:
            await self.hang.wait()
        if self.delay_seconds:
            await asyncio.sleep(self.delay_seconds)
        return web.Response(status=status, text="ok" if status < 300 else "not now")


@contextlib.asynccontextmanager
async def webhook_receiver() -> AsyncIterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    app = web.Application()
    app.router.add_post("/hooks/{name}", receiver.handle)
    runner, base = await serve(app)
    receiver.url = f"{base}/hooks/bonus"
    try:
        yield receiver
    finally:
        if receiver.hang is not None:
            receiver.hang.set()
        await runner.cleanup()
