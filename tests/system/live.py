"""One real ``bonus serve`` on a free port of this machine, against the test's own database,
with a program, an operator key and a POS key made beforehand: what a browser or a
property-based tester talks to over real HTTP."""

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from uuid import UUID

import httpx

from processing.runtime import Runtime
from processing.service.admin import create_key
from processing.settings import Settings
from tests import servers
from tests.conftest import make_program
from tests.system.processes import environment, start_serve, stop, wait_until_ready


@dataclass(frozen=True)
class Served:
    base_url: str
    program_id: str
    admin_key: str
    pos_key: str
    # A key of the program with every scope and a store: it may call every route.
    all_scopes_key: str


@contextlib.asynccontextmanager
async def served(tmp_path: Path, settings: Settings, **extra: str) -> AsyncIterator[Served]:
    """``extra``: more settings for the server, by name (``sms_provider="http"``)."""
    opened = await Runtime.open(settings)
    try:
        program_id, admin_key, pos_key = await make_program(opened)
        async with opened.database.transaction() as store:
            every = await create_key(
                store, UUID(program_id), "contract", ["admin", "crm", "pos", "shop"], "store-1"
            )
    finally:
        await opened.close()
    assert settings.database_url is not None
    assert settings.redis_url is not None
    port = servers.free_port()
    env = environment(
        database_url=settings.database_url,
        redis_url=settings.redis_url,
        port=str(port),
        expiry_worker="false",
        webhook_relay="false",
        channel_worker="false",
        log_level="WARNING",
        **extra,
    )
    stdout_path, stderr_path = tmp_path / "serve.out", tmp_path / "serve.err"
    base_url = f"http://127.0.0.1:{port}"
    process = await start_serve(env, stdout_path, stderr_path)
    try:
        async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
            await wait_until_ready(client, process, stdout_path, stderr_path)
        yield Served(base_url, program_id, admin_key, pos_key, str(every.key))
    finally:
        await stop(process)
