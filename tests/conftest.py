"""Shared fixtures: one real Postgres and Redis per test session, a migrated template database,
and a fresh database cloned from it for every test that touches the ledger."""

import asyncio
import base64
import itertools
import os
import re
from collections.abc import AsyncIterator, Iterator
from typing import Any, ClassVar
from uuid import UUID, uuid4

import asyncpg
import httpx
import pytest

from api.app import create_app
from processing.adapters.postgres.migrations import migrate
from processing.runtime import Runtime
from processing.service.admin import create_key
from processing.service.records import ProgramSettings
from processing.settings import Settings
from tests import servers

# A skipped test fails the run unless BONUS_TEST_ALLOW_SKIPS=1 (see tests/skips.py).
pytest_plugins = ("tests.skips",)

_counter = itertools.count()
# The tests' key for secrets at rest (current first, "id:base64 of 32 bytes"): every Settings a
# test builds by hand needs it as well (secrets_keys=secrets_keys), since outside development
# the server refuses to start without one.
secrets_keys = "test-1:" + base64.b64encode(bytes(range(32))).decode()
_template = f"bonus_template_{os.getpid()}"


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    with servers.postgres_url() as url:
        yield url


@pytest.fixture(scope="session")
def redis_server() -> Iterator[str]:
    with servers.redis_url() as url:
        yield url


async def _admin_execute(url: str, *statements: str) -> None:
    connection = await asyncpg.connect(url)
    try:
        for statement in statements:
            await connection.execute(statement)
    finally:
        await connection.close()


@pytest.fixture(scope="session")
def template_database(postgres_server: str) -> Iterator[str]:
    async def build() -> None:
        await _admin_execute(
            postgres_server, f"drop database if exists {_template}", f"create database {_template}"
        )
        connection = await asyncpg.connect(servers.with_database(postgres_server, _template))
        try:
            await migrate(connection)
        finally:
            await connection.close()

    asyncio.run(build())
    yield _template
    asyncio.run(_admin_execute(postgres_server, f"drop database if exists {_template}"))


@pytest.fixture
async def database_url(postgres_server: str, template_database: str) -> AsyncIterator[str]:
    name = f"bonus_test_{os.getpid()}_{next(_counter)}"
    await _admin_execute(postgres_server, f"create database {name} template {template_database}")
    yield servers.with_database(postgres_server, name)
    await _admin_execute(postgres_server, f"drop database if exists {name} with (force)")


@pytest.fixture
def settings(database_url: str, redis_server: str) -> Settings:
    return Settings(
        database_url=database_url,
        redis_url=redis_server,
        expiry_worker=False,
        db_pool_min=1,
        db_pool_max=10,
        # The fake receivers and partners listen on 127.0.0.1 over http: allowed here on
        # purpose (tests of the outbound policy turn these off).
        outbound_allow_http=True,
        outbound_allow_private=True,
        secrets_keys=secrets_keys,
    )


@pytest.fixture
async def runtime(settings: Settings) -> AsyncIterator[Runtime]:
    opened = await Runtime.open(settings)
    try:
        yield opened
    finally:
        await opened.close()


class Api:
    """A test client with a program, an operator key and a POS key, and small helpers that
    keep each test about behaviour rather than headers."""

    def __init__(self, client: httpx.AsyncClient, runtime: Runtime) -> None:
        self.client = client
        self.runtime = runtime
        self.keys = itertools.count()
        self.admin_key = ""
        self.pos_key = ""
        self.program_id = ""

    def headers(
        self, key: str | None = None, idempotency_key: str | None = "auto"
    ) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {key or self.pos_key}"}
        if idempotency_key == "auto":
            idempotency_key = f"test-{next(self.keys)}"
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        return headers

    async def post(
        self,
        path: str,
        json: Any = None,
        *,
        key: str | None = None,
        idempotency_key: str | None = "auto",
    ) -> Any:
        return await self.client.post(path, json=json, headers=self.headers(key, idempotency_key))

    async def get(self, path: str, *, key: str | None = None, **params: Any) -> Any:
        return await self.client.get(path, params=params, headers=self.headers(key, None))

    @property
    def program_id_uuid(self) -> UUID:
        return UUID(self.program_id)

    async def customer(self, phone: str = "+79120000001", points: int = 0) -> str:
        response = await self.post("/v1/customers", {"phone": phone})
        assert response.status_code == 201, response.text
        customer_id: str = response.json()["id"]
        if points:
            await self.accrue(customer_id, points)
        return customer_id

    async def accrue(self, customer_id: str, points: int, **fields: Any) -> Any:
        document = {"id": f"receipt-{next(self.keys)}"}
        response = await self.post(
            f"/v1/customers/{customer_id}/accruals",
            {"points": points, "document": document, **fields},
        )
        assert response.status_code == 201, response.text
        return response.json()

    async def reserve(self, customer_id: str, points: int, **fields: Any) -> Any:
        document = {"id": f"receipt-{next(self.keys)}"}
        return await self.post(
            f"/v1/customers/{customer_id}/holds", {"points": points, "document": document, **fields}
        )

    async def balance(self, customer_id: str) -> dict[str, Any]:
        response = await self.get(f"/v1/customers/{customer_id}/balance")
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result


async def make_program(
    runtime: Runtime, name: str = "Test program", **fields: Any
) -> tuple[str, str, str]:
    """Creates a program with an operator key and a POS key; returns (program, admin, pos)."""
    async with runtime.database.transaction() as store:
        program = await store.insert_program(
            uuid4(), ProgramSettings(name=name, currency="RUB", **fields)
        )
        admin = await create_key(store, None, "operator", ["admin"], None)
        pos = await create_key(store, program.id, "till", ["pos"], "store-1")
    return str(program.id), str(admin.key), str(pos.key)


class PublishedContract:
    """The published OpenAPI, read once per test session; every answer an API test receives is
    checked against it (status and content type), so the document cannot drift from the code."""

    document: ClassVar[dict[str, Any] | None] = None
    routes: ClassVar[list[tuple[re.Pattern[str], dict[str, Any]]]] = []

    @classmethod
    async def load(cls, client: httpx.AsyncClient) -> None:
        if cls.document is not None:
            return
        response = await client.get("/schema/openapi.json")
        assert response.status_code == 200, response.text
        cls.document = response.json()
        cls.routes = [
            (re.compile("^" + re.sub(r"\{[^}]+\}", "[^/]+", path) + "$"), item)
            for path, item in cls.document["paths"].items()
        ]

    @classmethod
    async def check(cls, response: httpx.Response) -> None:
        method, path = response.request.method.lower(), response.request.url.path
        for pattern, item in cls.routes:
            if pattern.match(path) and method in item:
                operation = item[method]
                break
        else:
            return  # not an operation of the API: the docs pages, /metrics, an unknown path
        status = str(response.status_code)
        declared = operation["responses"]
        assert status in declared, (
            f"{method.upper()} {path} answered {status}, which the published contract does not "
            f"declare (it declares {sorted(declared)}): add it in api/contract.py"
        )
        media = response.headers.get("content-type", "").split(";")[0].strip()
        content = declared[status].get("content")
        if content:
            assert media in content, (
                f"{method.upper()} {path} answered {status} as {media!r}; the contract says "
                f"{sorted(content)}"
            )


@pytest.fixture
async def api(settings: Settings, runtime: Runtime) -> AsyncIterator[Api]:
    # httpx's ASGI transport runs the app on the test's own event loop, so the app and the test
    # share one runtime (Litestar's AsyncTestClient would run the app on a thread of its own).
    transport = httpx.ASGITransport(app=create_app(settings, runtime))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        await PublishedContract.load(client)
        client.event_hooks["response"].append(PublishedContract.check)
        harness = Api(client, runtime)
        harness.program_id, harness.admin_key, harness.pos_key = await make_program(runtime)
        yield harness
