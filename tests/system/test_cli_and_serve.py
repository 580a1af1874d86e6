"""The installed ``bonus`` console script works when run as a real subprocess.

Against the test Postgres and Redis (passed as BONUS_DATABASE_URL / BONUS_REDIS_URL):
``migrate`` builds the schema in an empty database, ``create-program`` and ``create-key`` print
what they created (the key's secret authenticates: its SHA-256 is the stored hash and the app
accepts it), ``reconcile`` exits 0 on a clean ledger and non-zero naming a tampered account,
and ``expire`` burns overdue lots and releases overdue holds, printing the report.

``bonus serve`` the way ``make run`` starts it on a fresh machine: no URLs, so it starts the
embedded Postgres and Redis under BONUS_DATA_DIR, prints an admin key, a demo POS key and the
docs URL, honours BONUS_ADMIN_KEY, answers the API, /schema and /metrics, and on SIGTERM exits 0
within seconds, stopping the embedded servers it started.
"""

import asyncio
import contextlib
import json
import os
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, NamedTuple
from uuid import uuid4

import asyncpg
import httpx
import pytest

from processing.adapters.sealing import Keyring, parse_keys
from processing.service.admin import secret_hash
from tests import servers
from tests.conftest import Api, secrets_keys
from tests.fakes.bitrix24 import FakeBitrix24
from tests.fakes.retailcrm import FakeRetailCrm
from tests.integration.test_expiry import swept
from tests.system.processes import (
    auth,
    bonus,
    environment,
    gone_soon,
    process_alive,
    read_both,
    serve_stop_timeout_seconds,
    start_serve,
    stop,
    wait_until_ready,
)

command_timeout_seconds = 60  # a hang guard, not a speed check: the benches measure speed


class Finished(NamedTuple):
    code: int
    stdout: str
    stderr: str

    @property
    def result(self) -> Any:
        """What the command printed as its result: the last JSON object on stdout that is not
        a structured log line (log lines carry an "event")."""
        for line in reversed(self.stdout.splitlines()):
            if line.startswith("{"):
                value = json.loads(line)
                if "event" not in value:
                    return value
        raise AssertionError(f"no JSON result on stdout:\n{self}")

    def __str__(self) -> str:
        return f"exit {self.code}\n--- stdout\n{self.stdout}\n--- stderr\n{self.stderr}"


async def run_bonus(
    *args: str, env: dict[str, str], timeout_seconds: float = command_timeout_seconds
) -> Finished:
    process = await asyncio.create_subprocess_exec(
        bonus, *args, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), timeout_seconds)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode is not None
    return Finished(process.returncode, stdout.decode(), stderr.decode())


@pytest.fixture
def cli_env(database_url: str, redis_server: str) -> dict[str, str]:
    return environment(database_url=database_url, redis_url=redis_server)


@pytest.fixture
async def empty_database_url(postgres_server: str) -> AsyncIterator[str]:
    name = f"bonus_cli_empty_{os.getpid()}"
    admin = await asyncpg.connect(postgres_server)
    try:
        await admin.execute(f"drop database if exists {name} with (force)")
        await admin.execute(f"create database {name}")
        yield servers.with_database(postgres_server, name)
        await admin.execute(f"drop database if exists {name} with (force)")
    finally:
        await admin.close()


async def test_migrate_builds_the_schema_in_an_empty_database(
    empty_database_url: str, redis_server: str
) -> None:
    env = environment(database_url=empty_database_url, redis_url=redis_server)
    for _ in range(2):  # the second run finds nothing to do and still succeeds
        finished = await run_bonus("migrate", env=env)
        assert finished.code == 0, finished
        assert finished.result == {"migrated": True}

    connection = await asyncpg.connect(empty_database_url)
    try:
        tables = {
            row["tablename"]
            for row in await connection.fetch(
                "select tablename from pg_tables where schemaname = 'public'"
            )
        }
    finally:
        await connection.close()
    assert {"programs", "api_keys", "customers", "accounts", "lots", "holds"} <= tables


async def test_create_program_and_key_print_a_secret_that_authenticates(
    cli_env: dict[str, str], database_url: str, api: Api
) -> None:
    finished = await run_bonus(
        "create-program", "--name", "Car wash", "--currency", "RUB", env=cli_env
    )
    assert finished.code == 0, finished
    program = finished.result
    assert (program["name"], program["currency"], program["country"]) == ("Car wash", "RUB", "RU")

    finished = await run_bonus(
        "create-key", "--program-id", program["id"], "--name", "till", "--scopes", "pos",
        "--store-id", "wash-1", env=cli_env,
    )  # fmt: skip
    assert finished.code == 0, finished
    key = finished.result
    secret = key["key"]
    assert secret.startswith("bk_")
    assert (key["program_id"], key["scopes"], key["store_id"]) == (program["id"], ["pos"], "wash-1")

    connection = await asyncpg.connect(database_url)
    try:
        stored = await connection.fetchrow(
            "select p.name, k.program_id, k.scopes, k.secret_sha256"
            " from api_keys k join programs p on p.id = k.program_id where k.id = $1::uuid",
            key["id"],
        )
    finally:
        await connection.close()
    assert stored is not None
    assert (stored["name"], str(stored["program_id"])) == ("Car wash", program["id"])
    assert list(stored["scopes"]) == ["pos"]
    assert bytes(stored["secret_sha256"]) == secret_hash(secret)

    # The app, opened in-process on the same database, accepts the secret for that program.
    enrolled = await api.post("/v1/customers", {"phone": "+79120001122"}, key=secret)
    assert enrolled.status_code == 201, enrolled.text
    customer = f"/v1/customers/{enrolled.json()['id']}"
    assert (await api.get(customer, key=secret)).status_code == 200
    assert (await api.get(customer)).status_code == 404  # another program's key cannot see it
    refused = await api.post("/v1/customers", {"phone": "+79120001123"}, key=secret + "x")
    assert refused.status_code == 401, refused.text


@pytest.mark.parametrize(
    ("args", "code", "says"),
    [
        pytest.param(["--name", "ops"], 0, "", id="operator-key-defaults-to-admin"),
        pytest.param(["--name", "ops", "--scopes", "pos"], 2, "--scopes admin", id="operator-pos"),
        pytest.param(
            ["--name", "t", "--program-id", "00000000-0000-0000-0000-000000000001"],
            2, "no program with id", id="unknown-program",
        ),
        pytest.param(["--name", "t", "--program-id", "not-a-uuid"], 2, "invalid", id="bad-uuid"),
    ],
)  # fmt: skip
async def test_create_key_refuses_bad_arguments_with_a_clear_message(
    cli_env: dict[str, str], args: list[str], code: int, says: str
) -> None:
    finished = await run_bonus("create-key", *args, env=cli_env)
    assert finished.code == code, finished
    assert says in finished.stderr
    assert "Traceback" not in finished.stderr
    if code == 0:
        assert finished.result["scopes"] == ["admin"]
        assert finished.result["program_id"] is None


async def test_connect_and_install_a_bitrix24_portal(cli_env: dict[str, str], api: Api) -> None:
    portal = FakeBitrix24()
    runner = await portal.start()
    try:
        missing = await run_bonus(
            "connect", "--program-id", api.program_id, "--partner", "bitrix24",
            "--account", portal.domain, "--secret", f"webhook_url={portal.webhook_url}",
            env=cli_env,
        )  # fmt: skip
        assert missing.code == 2, missing
        assert "application_token" in missing.stderr
        connected = await run_bonus(
            "connect", "--program-id", api.program_id, "--partner", "bitrix24",
            "--account", portal.domain, "--secret", f"webhook_url={portal.webhook_url}",
            "--secret", f"application_token={portal.application_token}", env=cli_env,
        )  # fmt: skip
        assert connected.code == 0, connected
        connection = connected.result
        assert connection["webhook_path"] == f"/hooks/bitrix24/{connection['connection_id']}"
        assert portal.code not in connected.stdout  # the webhook's secret is not printed

        installed = await run_bonus(
            "bitrix24-install", "--connection-id", connection["connection_id"], env=cli_env
        )
        assert installed.code == 0, installed
        assert len(installed.result["created"]) == 5
        assert installed.result["handler_path"] == connection["webhook_path"]
        assert len(portal.userfields["deal"]) == 2
        unknown = await run_bonus("bitrix24-install", "--connection-id", str(uuid4()), env=cli_env)
        assert unknown.code == 2, unknown
    finally:
        await runner.cleanup()


async def test_connect_and_install_a_retailcrm_account(cli_env: dict[str, str], api: Api) -> None:
    account = FakeRetailCrm(api_key=f"rcrm-{uuid4().hex}")
    runner = await account.start()
    try:
        connected = await run_bonus(
            "connect", "--program-id", api.program_id, "--partner", "retailcrm",
            "--account", account.url, "--secret", f"api_key={account.api_key}",
            "--secret", f"trigger_secret={account.trigger_secret}", env=cli_env,
        )  # fmt: skip
        assert connected.code == 0, connected
        connection = connected.result["connection_id"]
        installed = await run_bonus("retailcrm-install", "--connection-id", connection, env=cli_env)
        assert installed.code == 0, installed
        assert len(installed.result["created"]) == 5
        assert installed.result["trigger_path"] == f"/hooks/retailcrm/{connection}"
        assert account.api_key not in installed.stdout + installed.stderr
        again = await run_bonus("retailcrm-install", "--connection-id", connection, env=cli_env)
        assert (again.code, again.result["created"], len(again.result["found"])) == (0, [], 5)
        unknown = await run_bonus("retailcrm-install", "--connection-id", str(uuid4()), env=cli_env)
        assert unknown.code == 2, unknown
    finally:
        await runner.cleanup()


async def test_reconcile_exits_zero_when_clean_and_non_zero_naming_a_tampered_account(
    cli_env: dict[str, str], api: Api
) -> None:
    customer = await api.customer("+79120000001", points=40)
    await api.customer("+79120000002", points=7)

    finished = await run_bonus("reconcile", env=cli_env)
    assert finished.code == 0, finished
    assert finished.result == {"accounts_checked": 2, "differences": []}

    await api.runtime.pool.execute(
        "update accounts set posted = posted + 1 where kind = 'customer' and id = $1::uuid",
        customer,
    )
    finished = await run_bonus("reconcile", env=cli_env)
    assert finished.code != 0, finished
    differences = finished.result["differences"]
    assert differences, finished
    assert all(customer in difference for difference in differences), differences


async def test_expire_burns_overdue_lots_and_releases_overdue_holds(
    cli_env: dict[str, str], api: Api
) -> None:
    overdue = await api.customer("+79120000001", points=25)
    holding = await api.customer("+79120000002", points=10)
    hold = await api.reserve(holding, 4)
    assert hold.status_code == 201, hold.text
    await api.runtime.pool.execute(
        "update lots set expires_at = clock_timestamp() where account_id = $1::uuid", overdue
    )
    await api.runtime.pool.execute(
        "update holds set expires_at = clock_timestamp() where account_id = $1::uuid", holding
    )

    finished = await run_bonus("expire", env=cli_env)
    assert finished.code == 0, finished
    assert finished.result == swept(lots=1, points=25, holds=1)
    assert (await api.balance(overdue))["available"] == 0
    assert (await api.balance(holding))["available"] == 10

    finished = await run_bonus("expire", env=cli_env)
    assert finished.code == 0, finished
    assert finished.result == swept(lots=0, points=0, holds=0)
    finished = await run_bonus("reconcile", env=cli_env)
    assert finished.code == 0, finished


async def test_serve_runs_on_embedded_servers_and_stops_them_on_sigterm(tmp_path: Path) -> None:
    """With BONUS_ADMIN_KEY set, as automation does, that key is the only operator key."""
    port = servers.free_port()
    data_dir = tmp_path / "data"
    admin_secret = "automation-operator-secret-0123456789"
    env = environment(data_dir=str(data_dir), port=str(port), admin_key=admin_secret)
    stdout_path, stderr_path = tmp_path / "serve.out", tmp_path / "serve.err"
    base = f"http://127.0.0.1:{port}"
    process = await start_serve(env, stdout_path, stderr_path)
    embedded: dict[str, int] = {}
    try:
        async with httpx.AsyncClient(base_url=base, timeout=10) as client:
            await wait_until_ready(client, process, stdout_path, stderr_path)
            embedded = embedded_server_pids(data_dir)
            printed = banner(stdout_path.read_text())
            assert printed["API docs"] == f"{base}/schema"

            enrolled = await client.post(
                "/v1/customers",
                json={"phone": "8 (912) 345-67-89"},
                headers=auth(printed["POS key (demo)"], "serve-enroll-1"),
            )
            assert enrolled.status_code == 201, enrolled.text
            assert enrolled.json()["phone"] == "+79123456789"

            # The given key is the operator key: none is made beside it, and it is not echoed.
            assert printed["admin key"] == "the one in BONUS_ADMIN_KEY"
            assert admin_secret not in stdout_path.read_text() + stderr_path.read_text()
            assert await operator_keys(data_dir) == 1
            created = await client.post(
                "/v1/programs",
                json={"name": "x by the operator", "currency": "RUB"},
                headers=auth(admin_secret, "serve-program-1"),
            )
            assert created.status_code == 201, created.text
            demo = await client.get(
                f"/v1/programs/{printed['demo program id']}", headers=auth(admin_secret, "")
            )
            assert demo.status_code == 200, demo.text
            assert demo.json()["name"] == "Demo coffee shop"

            schema = await client.get("/schema")
            assert schema.status_code == 200, schema.text
            metrics = await client.get("/metrics")
            assert metrics.status_code == 200, metrics.text
            assert metrics.headers["content-type"].startswith("text/plain")
            assert 'bonus_requests_total{operation="enroll",outcome="ok"} 1.0' in metrics.text

        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(process.wait(), serve_stop_timeout_seconds)
        assert code == 0, read_both(stdout_path, stderr_path)
        assert time.monotonic() - started < serve_stop_timeout_seconds
        # The embedded servers went with it: nothing is left running without an owner.
        for name, pid in embedded.items():
            assert await gone_soon(pid), f"embedded {name} (pid {pid}) still running"
        assert not (data_dir / "postgres" / "postmaster.pid").exists()
        # One JSON log line per request on stdout, with its id, operation and duration.
        logged = [json.loads(x) for x in stdout_path.read_text().splitlines() if x.startswith("{")]
        requests = [line for line in logged if line.get("event") == "request"]
        assert {"enroll", "create_program", "ready"} <= {line["operation"] for line in requests}
        assert all(line["request_id"] and line["duration_ms"] > 0 for line in requests)
    finally:
        await stop(process)
        for pid in embedded.values():  # only if the test failed: leave no servers behind
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


async def test_serve_refuses_a_placeholder_admin_key_outside_development(
    database_url: str, redis_server: str
) -> None:
    env = environment(
        database_url=database_url,
        redis_url=redis_server,
        admin_key="change-me-local-admin-key",
        port=str(servers.free_port()),
    )
    finished = await run_bonus("serve", env=env)
    assert finished.code == 2, finished
    assert "BONUS_ADMIN_KEY is a placeholder" in finished.stderr
    assert "Traceback" not in finished.stderr
    connection = await asyncpg.connect(database_url)
    try:
        operator_keys = await connection.fetchval(
            "select count(*) from api_keys where name = 'BONUS_ADMIN_KEY'"
        )
    finally:
        await connection.close()
    assert operator_keys == 0


async def test_a_command_beside_serve_leaves_its_embedded_servers_running(
    tmp_path: Path,
) -> None:
    """A command run against the data directory that ``bonus serve`` serves only attaches to
    its embedded Postgres and Redis: once it ends, both still run and the server still answers
    with Redis up. Run alone afterwards, the same command starts the servers and stops them."""
    port = servers.free_port()
    data_dir = tmp_path / "data"
    env = environment(data_dir=str(data_dir), port=str(port))
    stdout_path, stderr_path = tmp_path / "serve.out", tmp_path / "serve.err"
    process = await start_serve(env, stdout_path, stderr_path)
    embedded: dict[str, int] = {}
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            await wait_until_ready(client, process, stdout_path, stderr_path)
            embedded = embedded_server_pids(data_dir)
            printed = banner(stdout_path.read_text())
            pos_key = printed["POS key (demo)"]
            assert printed["admin key"].startswith("bk_")  # none given: one is made and shown
            for command in ("reconcile", "expire"):
                finished = await run_bonus(command, env=env)
                assert finished.code == 0, finished
            assert embedded_server_pids(data_dir) == embedded
            ready = await client.get("/health/ready")
            assert ready.status_code == 200, ready.text
            assert ready.json()["redis"] == "up", ready.text
            enrolled = await client.post(
                "/v1/customers", json={"phone": "+79123450001"}, headers=auth(pos_key, "beside-1")
            )
            assert enrolled.status_code == 201, enrolled.text
        await stop(process)
        assert process.returncode == 0, read_both(stdout_path, stderr_path)
        for name, pid in embedded.items():
            assert await gone_soon(pid), f"embedded {name} (pid {pid}) still running"

        alone = await run_bonus("reconcile", env=env)
        assert alone.code == 0, alone
        assert alone.result == {"accounts_checked": 1, "differences": []}
        assert not (data_dir / "postgres" / "postmaster.pid").exists()
        assert not (data_dir / "redis.pid").exists()
    finally:
        await stop(process)
        for pid in embedded.values():  # only if the test failed: leave no servers behind
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def banner(stdout: str) -> dict[str, str]:
    """The "label: value" lines ``serve`` prints once it is ready, by label."""
    labels = ("admin key", "POS key (demo)", "demo program id", "API docs")
    printed = {
        label: line.split(":", 1)[1].strip()
        for line in stdout.splitlines()
        for label in labels
        if line.strip().startswith(f"{label}:")
    }
    assert set(printed) == set(labels), stdout
    return printed


async def operator_keys(data_dir: Path) -> int:
    """Operator (program-less) keys in the embedded ledger, read through Postgres's socket."""
    lines = (data_dir / "postgres" / "postmaster.pid").read_text().splitlines()
    connection = await asyncpg.connect(
        host=lines[4], port=int(lines[3]), user="postgres", database="postgres"
    )
    try:
        count: int = await connection.fetchval(
            "select count(*) from api_keys where program_id is null and revoked_at is null"
        )
    finally:
        await connection.close()
    return count


def embedded_server_pids(data_dir: Path) -> dict[str, int]:
    """The running embedded servers' pids, from Postgres's postmaster.pid and Redis's pid file."""
    postmaster = int((data_dir / "postgres" / "postmaster.pid").read_text().splitlines()[0])
    redis = int((data_dir / "redis.pid").read_text())
    pids = {"postgres": postmaster, "redis": redis}
    assert all(process_alive(pid) for pid in pids.values()), pids
    return pids


async def test_connect_retailcrm_keeps_its_secrets_and_settings(
    cli_env: dict[str, str], database_url: str
) -> None:
    program = (await run_bonus("create-program", "--name", "Shop", env=cli_env)).result
    finished = await run_bonus(
        "connect", "--program-id", program["id"], "--partner", "retailcrm",
        "--account", "https://x.retailcrm.ru", "--secret", "api_key=rcrm-key",
        "--secret", "trigger_secret=t0ken", "--setting", 'completed_statuses=["complete","paid"]',
        "--setting", "points_field=points_to_spend", env=cli_env,
    )  # fmt: skip
    assert finished.code == 0, finished
    assert finished.result["webhook_path"] == f"/hooks/retailcrm/{finished.result['connection_id']}"
    connection = await asyncpg.connect(database_url)
    try:
        stored = await connection.fetchrow(
            "select secrets::text, secrets_sealed, settings::text from channel_connections"
            " where id = $1::uuid",
            finished.result["connection_id"],
        )
    finally:
        await connection.close()
    assert stored is not None
    # Sealed at rest (docs/decisions/0004): nothing in clear, and they open as given.
    assert json.loads(stored["secrets"]) == {}
    assert stored["secrets_sealed"].startswith("sealed:v1:test-1:")
    assert "rcrm-key" not in stored["secrets_sealed"]
    opened = Keyring(parse_keys(secrets_keys)).open(
        stored["secrets_sealed"], f"connection:{finished.result['connection_id']}"
    )
    assert json.loads(opened) == {"api_key": "rcrm-key", "trigger_secret": "t0ken"}
    assert json.loads(stored["settings"]) == {
        "completed_statuses": ["complete", "paid"],
        "points_field": "points_to_spend",
    }

    missing = await run_bonus(
        "connect", "--program-id", program["id"], "--partner", "retailcrm",
        "--account", "https://x.retailcrm.ru", "--secret", "api_key=rcrm-key", env=cli_env,
    )  # fmt: skip
    assert missing.code == 2
