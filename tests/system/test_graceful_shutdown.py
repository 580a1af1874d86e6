"""Graceful shutdown of ``bonus serve``: on SIGTERM the server stops accepting connections, lets
the request already in flight finish and answer, closes its Postgres pool and exits 0.

The request is held in flight the way a slow ledger write is in production: the test holds the
customer's account row lock in its own transaction, so the API's hold waits on Postgres.
"""

import asyncio
import signal
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import httpx

from processing.runtime import Runtime
from processing.settings import Settings
from tests import servers
from tests.conftest import make_program
from tests.system.processes import (
    auth,
    environment,
    read_both,
    serve_stop_timeout_seconds,
    start_serve,
    stop,
    wait_until_ready,
)

application_name = "bonus-processing"  # what the app's pool sets on its connections
wait_seconds = 10


async def eventually(check: Callable[[], Awaitable[bool]], what: str) -> None:
    """Polls an async predicate until it holds."""
    deadline = time.monotonic() + wait_seconds
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {wait_seconds} s: {what}")
        await asyncio.sleep(0.05)


async def app_connections(watcher: asyncpg.Connection, database: str) -> list[str]:
    rows = await watcher.fetch(
        "select coalesce(wait_event_type, '') as waiting from pg_stat_activity"
        " where application_name = $1 and datname = $2",
        application_name,
        database,
    )
    return [row["waiting"] for row in rows]


async def test_sigterm_finishes_the_request_in_flight_refuses_new_ones_and_closes_the_pool(
    tmp_path: Path, settings: Settings, database_url: str, redis_server: str
) -> None:
    # Closed before serve starts, so that every connection named bonus-processing is the app's.
    opened = await Runtime.open(settings)
    try:
        _, _, pos_key = await make_program(opened)
    finally:
        await opened.close()

    port = servers.free_port()
    env = environment(
        database_url=database_url, redis_url=redis_server, port=str(port), expiry_worker="false"
    )
    stdout_path, stderr_path = tmp_path / "serve.out", tmp_path / "serve.err"
    process = await start_serve(env, stdout_path, stderr_path)
    database = urlsplit(database_url).path.lstrip("/")
    watcher = await asyncpg.connect(database_url)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            await wait_until_ready(client, process, stdout_path, stderr_path)
            enrolled = await client.post(
                "/v1/customers", json={"phone": "+79120000001"}, headers=auth(pos_key, "enrol")
            )
            assert enrolled.status_code == 201, enrolled.text
            customer = enrolled.json()["id"]
            accrued = await client.post(
                f"/v1/customers/{customer}/accruals",
                json={"points": 40, "document": {"id": "r-1"}},
                headers=auth(pos_key, "accrue"),
            )
            assert accrued.status_code == 201, accrued.text

            blocker = await asyncpg.connect(database_url)
            blocking = blocker.transaction()
            await blocking.start()
            await blocker.execute("select 1 from accounts where id = $1::uuid for update", customer)
            in_flight = asyncio.create_task(
                client.post(
                    f"/v1/customers/{customer}/holds",
                    json={"points": 15, "document": {"id": "r-2"}},
                    headers=auth(pos_key, "hold-in-flight"),
                )
            )

            async def hold_waits_on_the_row_lock() -> bool:
                return "Lock" in await app_connections(watcher, database)

            await eventually(hold_waits_on_the_row_lock, "the hold waits on the account's lock")
            process.send_signal(signal.SIGTERM)

            async def new_connections_refused() -> bool:
                try:
                    async with httpx.AsyncClient(timeout=2) as fresh:
                        await fresh.get(f"http://127.0.0.1:{port}/health/live")
                except httpx.ConnectError:
                    return True
                except (httpx.ReadError, httpx.RemoteProtocolError, httpx.TimeoutException):
                    # Accepted in the moment the listener was closing, then dropped: the
                    # listener is going, not gone. Ask again until a connect is refused.
                    return False
                return False

            await eventually(new_connections_refused, "the listener closes on SIGTERM")
            assert process.returncode is None, "serve quit with a request still in flight"
            assert not in_flight.done()

            await blocking.rollback()
            await blocker.close()
            answer = await in_flight
            assert answer.status_code == 201, answer.text
            assert (answer.json()["points"], answer.json()["status"]) == (15, "active")

        code = await asyncio.wait_for(process.wait(), serve_stop_timeout_seconds)
        assert code == 0, read_both(stdout_path, stderr_path)

        async def pool_closed() -> bool:  # a backend ends a moment after its client hangs up
            return await app_connections(watcher, database) == []

        await eventually(pool_closed, "the app's connections to Postgres are closed")
        reserved = await watcher.fetchval(
            "select reserved from accounts where id = $1::uuid", customer
        )
        assert reserved == 15  # the answered hold is in the ledger
    finally:
        await watcher.close()
        await stop(process)
