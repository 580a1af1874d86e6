"""CPU per request of the app alone: the balance read and the liveness probe driven straight
through the ASGI app, in this process, with a runtime that answers from memory (no server, no
socket, no Postgres). What routing, the key check, the hook, dependencies, the handler, the
response, the log line and the metrics cost, measured steadily enough on shared cores to compare
two builds of ``api/`` (run it from each tree, alternating)::

    PYTHONPATH=. python -m loadtests.app_cost --repeats 5

The log line is written to /dev/null. Prints the fastest and the median batch, in µs per request.
"""

import argparse
import asyncio
import os
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from api.app import create_app
from processing import telemetry
from processing.core.balances import Balance, Expiring
from processing.runtime import Runtime
from processing.service.ledger.reads import Reads
from processing.service.records import Accepted, Actor, Outcome
from processing.settings import load_settings

actor = Actor(
    key_id=uuid.uuid4(), program_id=uuid.uuid4(), scopes=frozenset({"pos"}), store_id="store-1"
)
balance = Balance(
    available=1_000,
    reserved=50,
    pending=0,
    expiring=(Expiring(points=30, expires_at=datetime(2027, 1, 1, tzinfo=UTC)),),
)


class KnownKey:
    async def admit(self, secret: str | None, address: str) -> Actor:
        return actor


class FixedReads(Reads):
    """A ``Reads`` (so the handler's type check of its dependency passes) that knows one balance."""

    def __init__(self) -> None:
        pass

    async def balance(self, caller: Actor, customer_id: uuid.UUID) -> Outcome:
        return Accepted(value=balance)


class MemoryRuntime(Runtime):
    """Only what a balance read touches (a Runtime, so Litestar's type check passes)."""

    def __init__(self) -> None:
        self.admin = KnownKey()  # type: ignore[assignment]
        self.reads = FixedReads()


def scope_of(path: str) -> dict[str, Any]:
    return {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
        "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
        "root_path": "", "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000),
        "headers": [(b"host", b"127.0.0.1:8000"), (b"authorization", b"Bearer bench"),
                    (b"accept", b"*/*"), (b"user-agent", b"bench")],
        "state": {},
    }  # fmt: skip


async def measure(app: Any, path: str, repeats: int, batch: int) -> list[float]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def run(count: int) -> None:
        for _ in range(count):
            await app(scope_of(path), receive, send)

    await run(300)
    if sent[0]["status"] != 200:
        raise SystemExit(f"{path} answered {sent[0]['status']}: {sent[1]['body']!r}")
    batches = []
    for _ in range(repeats):
        sent.clear()
        started = time.process_time()
        await run(batch)
        batches.append((time.process_time() - started) / batch * 1_000_000)
    return batches


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="app_cost", description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch", type=int, default=2_000)
    args = parser.parse_args(argv)
    stdout = sys.stdout
    with open(os.devnull, "w") as null:
        sys.stdout = null  # the log line's stream is taken from here when logging is configured
        telemetry.configure_logging("INFO")
        sys.stdout = stdout
        app = create_app(load_settings(), runtime=MemoryRuntime())
        paths = {
            "balance-read": f"/v1/customers/{uuid.uuid4()}/balance",
            "http-floor": "/health/live",
        }
        for name, path in paths.items():
            batches = asyncio.run(measure(app, path, args.repeats, args.batch))
            print(
                f"{name:<13} fastest {min(batches):6.1f} µs  "
                f"median {statistics.median(batches):6.1f} µs per request "
                f"({args.repeats} batches of {args.batch})"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
