"""Liveness, readiness and metrics: no key needed, so probes and scrapers stay simple."""

import asyncio
from typing import Any

from litestar import Controller, Response, get
from litestar.exceptions import NotFoundException
from litestar.status_codes import HTTP_200_OK, HTTP_503_SERVICE_UNAVAILABLE

from processing import telemetry
from processing.runtime import Runtime
from schemas.api import Health

readiness_timeout_seconds = 2.0


class HealthController(Controller):
    path = ""
    tags = ["health"]
    opt = {"public": True}

    @get("/health/live", name="live")
    async def live(self) -> Health:
        """Liveness: the process answers. No key needed."""
        return Health(status="ok")

    @get("/health/ready", name="ready")
    async def ready(self, runtime: Runtime) -> Response[Health]:
        """Ready when Postgres answers; Redis is reported but not required, because requests
        go on without it."""
        postgres = await postgres_up(runtime)
        redis = "up" if await runtime.redis_ready() else "down"
        health = Health(
            status="ok" if postgres else "unavailable",
            postgres="up" if postgres else "down",
            redis=redis,
        )
        status = HTTP_200_OK if postgres else HTTP_503_SERVICE_UNAVAILABLE
        return Response(content=health, status_code=status)

    @get("/metrics", name="metrics", include_in_schema=False)
    async def metrics(self, runtime: Runtime) -> Response[Any]:
        """Not found here when ``BONUS_METRICS_PORT`` serves them on a port of their own, which
        a deployment keeps off the public path."""
        if runtime.settings.metrics_port:
            raise NotFoundException
        runtime.observe_pool()
        return Response(content=telemetry.exposition(), media_type=telemetry.content_type)


async def postgres_up(runtime: Runtime) -> bool:
    try:
        async with asyncio.timeout(readiness_timeout_seconds):
            return bool(await runtime.pool.fetchval("select 1"))
    except Exception:  # a timeout, a refused connection, a failing query: all mean "not ready"
        return False
