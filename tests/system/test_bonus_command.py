"""The ``bonus`` console script as an operator runs it, in real subprocesses: the one-shot
commands against the test database, and ``bonus serve`` exactly as ``make run`` starts it on a
fresh machine (embedded Postgres and Redis, demo keys printed, BONUS_ADMIN_KEY honoured,
graceful stop on SIGTERM)."""

import asyncio
import json
import os
import signal
import socket
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from processing.service.admin import secret_hash
from tests.conftest import Api
from tests.servers import free_port

bonus = str(Path(sys.executable).parent / "bonus")
command_timeout_seconds = 60
serve_start_timeout_seconds = 120


async def run(
    *args: str, env: dict[str, str], limit_seconds: float = command_timeout_seconds
) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        bonus, *args, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    output, _ = await asyncio.wait_for(process.communicate(), limit_seconds)
    assert process.returncode is not None
    return process.returncode, output.decode()


def last_json(output: str) -> Any:
    """The command's result: its last line that is a JSON object (log lines come before)."""
    for line in reversed(output.splitlines()):
        if line.startswith("{"):
            value = json.loads(line)
            if "event" not in value:
                return value
    raise AssertionError(f"no JSON result in: {output}")


@pytest.fixture
def env(settings: Any) -> dict[str, str]:
    return {
        **os.environ,
        "BONUS_DATABASE_URL": settings.database_url,
        "BONUS_REDIS_URL": settings.redis_url,
    }


async def test_migrate_create_program_and_key(env: dict[str, str], api: Api) -> None:
    code, output = await run("migrate", env=env)
    assert code == 0, output

    code, output = await run(
        "create-program", "--name", "Auto service", "--currency", "RUB", "--expiry-days", "90",
        env=env,
    )  # fmt: skip
    assert code == 0, output
    program = last_json(output)
    assert (program["name"], program["expiry_days"]) == ("Auto service", 90)

    code, output = await run(
        "create-key", "--program-id", program["id"], "--name", "till 1", "--scopes", "pos",
        env=env,
    )  # fmt: skip
    assert code == 0, output
    key = last_json(output)
    stored = await api.runtime.pool.fetchrow(
        "select program_id, scopes, secret_sha256 from api_keys where id = $1::uuid", key["id"]
    )
    assert str(stored["program_id"]) == program["id"]
    assert list(stored["scopes"]) == ["pos"]
    assert bytes(stored["secret_sha256"]) == secret_hash(key["key"])
    enrolled = await api.post("/v1/customers", {"phone": "+79120001122"}, key=key["key"])
    assert enrolled.status_code == 201, enrolled.text


async def test_reconcile_exits_non_zero_on_a_difference(env: dict[str, str], api: Api) -> None:
    customer = await api.customer(points=10)
    code, output = await run("reconcile", env=env)
    assert code == 0, output
    assert last_json(output)["differences"] == []

    await api.runtime.pool.execute(
        "update accounts set posted = posted + 5 where id = $1::uuid", customer
    )
    code, output = await run("reconcile", env=env)
    assert code == 1, output
    assert any(customer in line for line in last_json(output)["differences"])


async def test_expire_runs_one_sweep(env: dict[str, str], api: Api) -> None:
    customer = await api.customer(points=25)
    await api.runtime.pool.execute(
        "update lots set expires_at = clock_timestamp() where account_id = $1::uuid", customer
    )
    code, output = await run("expire", env=env)
    assert code == 0, output
    assert last_json(output) == {"expired_lots": 1, "expired_points": 25, "expired_holds": 0}
    assert (await api.balance(customer))["available"] == 0


async def test_serve_starts_embedded_servers_prints_keys_and_stops_gracefully(
    tmp_path: Path,
) -> None:
    port = free_port()
    operator_secret = "operator-secret-for-automation-0001"
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in ("BONUS_DATABASE_URL", "BONUS_REDIS_URL")
    }
    env |= {
        "BONUS_DATA_DIR": str(tmp_path / "data"),
        "BONUS_PORT": str(port),
        "BONUS_ADMIN_KEY": operator_secret,
    }
    log_path = tmp_path / "serve.log"
    with log_path.open("wb") as log_file:
        process = await asyncio.create_subprocess_exec(
            bonus, "serve", env=env, stdout=log_file, stderr=asyncio.subprocess.STDOUT
        )
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base, timeout=5) as client:
            await wait_until_ready(client, process)
            output = log_path.read_text()
            printed = {
                label: line.split(":", 1)[1].strip()
                for line in output.splitlines()
                for label in ("admin key", "POS key (demo)", "API docs")
                if line.strip().startswith(label + ":")
            }
            assert printed["API docs"] == f"{base}/schema", output

            enrolled = await client.post(
                "/v1/customers",
                json={"phone": "8 (912) 345-67-89"},
                headers={"Authorization": f"Bearer {printed['POS key (demo)']}",
                         "Idempotency-Key": "serve-1"},
            )  # fmt: skip
            assert enrolled.status_code == 201, enrolled.text
            assert enrolled.json()["phone"] == "+79123456789"
            for admin in (printed["admin key"], operator_secret):
                program = await client.post(
                    "/v1/programs",
                    json={"name": f"Program of {admin[:6]}", "currency": "RUB"},
                    headers={"Authorization": f"Bearer {admin}", "Idempotency-Key": admin},
                )
                assert program.status_code == 201, program.text
            assert (await client.get("/schema")).status_code == 200
            metrics = await client.get("/metrics")
            assert 'bonus_requests_total{operation="enroll",outcome="ok"} 1.0' in metrics.text

        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), 30) == 0
        assert time.monotonic() - started < 30
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    lines = [json.loads(line) for line in log_path.read_text().splitlines() if line.startswith("{")]
    requests = [line for line in lines if line.get("event") == "request"]
    assert {"enroll", "create_program", "ready"} <= {line["operation"] for line in requests}
    assert all("request_id" in line and "duration_ms" in line for line in requests)
    # The embedded servers stopped with it: nothing is left running without an owner.
    assert not (tmp_path / "data" / "postgres" / "postmaster.pid").exists()
    redis_socket = next(
        line["socket"] for line in lines if line["event"] == "embedded_redis_started"
    )
    with (
        pytest.raises((FileNotFoundError, ConnectionRefusedError)),
        socket.socket(socket.AF_UNIX) as probe,
    ):
        probe.connect(redis_socket)


async def wait_until_ready(client: httpx.AsyncClient, process: asyncio.subprocess.Process) -> None:
    deadline = time.monotonic() + serve_start_timeout_seconds
    while time.monotonic() < deadline:
        assert process.returncode is None, "bonus serve exited during start-up"
        try:
            if (await client.get("/health/ready")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.25)
    raise AssertionError("bonus serve did not become ready")
