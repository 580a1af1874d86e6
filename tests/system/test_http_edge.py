"""The HTTP edge of a real ``bonus serve``, with no proxy in front: a request head beyond 32 KiB
is answered 431 and the connection closed while the server's memory stays flat (a 64 MB header
block once took it from 79 to 405 MB); clients that send too slowly, or not at all, are answered
408 and closed once the read timeout passes (they were once held forever); requests beyond the
concurrency cap are answered 503 ``server_busy``; and /metrics is served on its own port, with
each refusal counted there."""

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, NamedTuple

import httpx
import pytest

from processing.runtime import Runtime
from processing.settings import Settings
from tests import servers
from tests.conftest import make_program
from tests.system.processes import auth, environment, start_serve, stop, wait_until_ready

read_seconds = 1.0
header_bytes_max = 32 * 1024
close_wait_seconds = 15  # far above the read timeout: only a server that never closes fails


class Served(NamedTuple):
    pid: int
    port: int
    metrics_port: int
    pos_key: str


@pytest.fixture
async def served(
    tmp_path: Path, settings: Settings, database_url: str, redis_server: str
) -> AsyncIterator[Served]:
    opened = await Runtime.open(settings)
    try:
        _, _, pos_key = await make_program(opened)
    finally:
        await opened.close()
    port, metrics_port = servers.free_port(), servers.free_port()
    env = environment(
        database_url=database_url,
        redis_url=redis_server,
        port=str(port),
        metrics_port=str(metrics_port),
        http_read_seconds_max=str(read_seconds),
        http_requests_max="1",
        expiry_worker="false",
        webhook_relay="false",
        channel_worker="false",
    )
    stdout_path, stderr_path = tmp_path / "serve.out", tmp_path / "serve.err"
    process = await start_serve(env, stdout_path, stderr_path)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            await wait_until_ready(client, process, stdout_path, stderr_path)
        yield Served(process.pid, port, metrics_port, pos_key)
    finally:
        await stop(process)


def resident_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


async def connect(served: Served) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", served.port)


def head(extra_header_bytes: int = 0) -> bytes:
    filler = b"X-Filler: " + b"a" * extra_header_bytes + b"\r\n" if extra_header_bytes else b""
    return b"GET /health/live HTTP/1.1\r\nHost: edge\r\n" + filler + b"\r\n"


def answer_of(raw: bytes) -> tuple[int, dict[str, Any]]:
    status_line, _, rest = raw.partition(b"\r\n")
    _, _, body = rest.partition(b"\r\n\r\n")
    return int(status_line.split()[1]), json.loads(body) if body.startswith(b"{") else {}


async def send_until_closed(served: Served, total_bytes: int) -> tuple[int, bytes]:
    """Streams a header block of up to ``total_bytes`` until the server stops taking it;
    returns how many bytes were written and what the server answered."""
    reader, writer = await connect(served)
    answering = asyncio.create_task(asyncio.wait_for(reader.read(), close_wait_seconds))
    written = 0
    with contextlib.suppress(ConnectionError):
        writer.write(b"GET /health/live HTTP/1.1\r\nHost: edge\r\nX-Filler: ")
        chunk = b"a" * 65_536
        while written < total_bytes and not answering.done():
            writer.write(chunk)
            await asyncio.wait_for(writer.drain(), close_wait_seconds)
            written += len(chunk)
    answer = await answering
    writer.close()
    return written, answer


async def refusals(served: Served) -> dict[str, float]:
    async with httpx.AsyncClient(timeout=10) as client:
        text = (await client.get(f"http://127.0.0.1:{served.metrics_port}/metrics")).text
    counted: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("bonus_http_edge_refusals_total{"):
            reason = line.split('reason="')[1].split('"')[0]
            counted[reason] = float(line.rsplit(" ", 1)[1])
    return counted


async def test_a_head_beyond_32_kib_is_refused_431_and_memory_stays_flat(served: Served) -> None:
    reader, writer = await connect(served)
    writer.write(head(16 * 1024))
    fitting = await asyncio.wait_for(reader.readuntil(b"}"), close_wait_seconds)
    writer.close()
    assert fitting.startswith(b"HTTP/1.1 200"), fitting[:200]

    reader, writer = await connect(served)
    writer.write(head(64 * 1024))
    status, problem = answer_of(await asyncio.wait_for(reader.read(), close_wait_seconds))
    writer.close()
    assert (status, problem["code"], problem["status"]) == (431, "headers_too_large", 431)

    before = resident_bytes(served.pid)
    for _ in range(5):
        written, answer = await send_until_closed(served, 64 * 1024 * 1024)
        assert written < 64 * 1024 * 1024, "the server took a 64 MB header block"
        assert answer.startswith(b"HTTP/1.1 431"), answer[:200]
    grown = resident_bytes(served.pid) - before
    assert grown < 16 * 1024 * 1024, f"the server grew by {grown} bytes"
    assert (await refusals(served)).get("header_too_large", 0) >= 6


async def test_slow_and_silent_clients_are_answered_408_and_closed_after_the_read_timeout(
    served: Served,
) -> None:
    async def trickle() -> tuple[float, bytes]:
        """One header byte every 100 ms, for ever, until the server closes the connection."""
        started = time.monotonic()
        reader, writer = await connect(served)
        writer.write(b"GET /health/live HTTP/1.1\r\nHost: edge\r\nX-Slow: ")

        async def drip() -> None:
            with contextlib.suppress(ConnectionError):
                while True:
                    writer.write(b"a")
                    await writer.drain()
                    await asyncio.sleep(0.1)

        dripping = asyncio.create_task(drip())
        try:
            answer = await asyncio.wait_for(reader.read(), close_wait_seconds)
        finally:
            dripping.cancel()
            writer.close()
        return time.monotonic() - started, answer

    async def silent() -> tuple[float, bytes]:
        started = time.monotonic()
        reader, writer = await connect(served)
        answer = await asyncio.wait_for(reader.read(), close_wait_seconds)
        writer.close()
        return time.monotonic() - started, answer

    results = await asyncio.gather(*[trickle() for _ in range(20)], silent())

    for seconds, answer in results:
        assert seconds >= read_seconds * 0.9, f"closed after {seconds} s, before the timeout"
        status, problem = answer_of(answer)
        assert (status, problem["code"]) == (408, "request_timeout"), answer[:300]
    assert (await refusals(served)).get("read_timeout", 0) >= 21

    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{served.port}") as client:
        assert (await client.get("/health/live")).status_code == 200  # the control


async def test_a_request_beyond_the_concurrency_cap_is_answered_503_server_busy(
    served: Served,
) -> None:
    # The cap is one request: this one stays in progress, its body promised but not sent.
    reader, writer = await connect(served)
    writer.write(
        b"POST /v1/customers HTTP/1.1\r\nHost: edge\r\nContent-Type: application/json\r\n"
        b"Content-Length: 100\r\nIdempotency-Key: held\r\n"
        b"Authorization: Bearer " + served.pos_key.encode() + b"\r\n\r\n{"
    )
    await writer.drain()
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{served.port}") as client:
        headers, phone = auth(served.pos_key, ""), {"phone": "+79120000001"}
        busy = await client.get("/v1/customers", params=phone, headers=headers)
        assert busy.status_code == 503, busy.text
        assert busy.json()["code"] == "server_busy"
        assert busy.headers["retry-after"] == "1"
        assert (await client.get("/health/ready")).status_code == 200  # probes are never busy

        await asyncio.wait_for(reader.read(), close_wait_seconds)  # the read timeout ends it
        writer.close()
        for _ in range(100):  # until the app has seen the held request end, at most 5 s
            after = await client.get("/v1/customers", params=phone, headers=headers)
            if after.status_code != 503:
                break
            await asyncio.sleep(0.05)
        assert after.status_code == 404, after.text  # served again: no such customer
    assert (await refusals(served)).get("server_busy", 0) >= 1


async def test_metrics_are_served_on_their_own_port_and_not_on_the_api_port(
    served: Served,
) -> None:
    async with httpx.AsyncClient(timeout=10) as client:
        own = await client.get(f"http://127.0.0.1:{served.metrics_port}/metrics")
        api = await client.get(f"http://127.0.0.1:{served.port}/metrics")
    assert own.status_code == 200
    assert "bonus_requests_total" in own.text
    assert "bonus_db_pool_connections" in own.text
    assert api.status_code == 404
