"""Fixtures the channel tests share: our API served on a real local port."""

import asyncio
from collections.abc import AsyncIterator

import pytest
import uvicorn

from api.app import create_app
from processing.runtime import Runtime
from processing.settings import Settings
from tests.servers import free_port


@pytest.fixture
async def server(settings: Settings, runtime: Runtime) -> AsyncIterator[str]:
    """Our API on a real local port, sharing the test's runtime."""
    config = uvicorn.Config(
        create_app(settings, runtime), host="127.0.0.1", port=free_port(), log_level="warning"
    )
    served = uvicorn.Server(config)
    task = asyncio.create_task(served.serve())
    for _ in range(500):  # up to 10 s for the server to bind
        if served.started:
            break
        await asyncio.sleep(0.02)
    yield f"http://127.0.0.1:{config.port}"
    served.should_exit = True
    await task
