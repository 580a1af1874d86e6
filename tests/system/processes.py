"""Running the installed ``bonus`` command as real subprocesses: its environment, waiting for a
server to be ready, and stopping it (SIGTERM first, SIGKILL only if it hangs)."""

import asyncio
import contextlib
import os
import signal
import sys
import time
from pathlib import Path

import httpx

from tests.conftest import secrets_keys

bonus = str(Path(sys.executable).parent / "bonus")
serve_ready_timeout_seconds = 90
serve_stop_timeout_seconds = 30


# The fake receivers and partners listen on 127.0.0.1 over http; a test may say otherwise.
test_defaults = {
    "outbound_allow_http": "true",
    "outbound_allow_private": "true",
    "secrets_keys": secrets_keys,
}


def environment(**bonus_settings: str) -> dict[str, str]:
    """This process's environment without any BONUS_* setting, plus the tests' defaults and
    the given ones."""
    inherited = {name: value for name, value in os.environ.items() if not name.startswith("BONUS_")}
    chosen = test_defaults | bonus_settings
    return inherited | {f"BONUS_{name.upper()}": value for name, value in chosen.items()}


def auth(secret: str, idempotency_key: str) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {secret}"}
    return headers | ({"Idempotency-Key": idempotency_key} if idempotency_key else {})


def read_both(stdout_path: Path, stderr_path: Path) -> str:
    return f"--- stdout\n{stdout_path.read_text()}\n--- stderr\n{stderr_path.read_text()}"


async def start_serve(
    env: dict[str, str], stdout_path: Path, stderr_path: Path
) -> asyncio.subprocess.Process:
    """``bonus serve`` in its own session, so that a test can signal it with all its workers."""
    with stdout_path.open("wb") as stdout, stderr_path.open("wb") as stderr:
        return await asyncio.create_subprocess_exec(
            bonus, "serve", env=env, stdout=stdout, stderr=stderr, start_new_session=True
        )


async def wait_until_ready(
    client: httpx.AsyncClient,
    process: asyncio.subprocess.Process,
    stdout_path: Path,
    stderr_path: Path,
) -> None:
    deadline = time.monotonic() + serve_ready_timeout_seconds
    while time.monotonic() < deadline:
        if process.returncode is not None:
            raise AssertionError(
                f"bonus serve exited with {process.returncode} during start-up\n"
                + read_both(stdout_path, stderr_path)
            )
        with contextlib.suppress(httpx.TransportError):
            if (await client.get("/health/ready")).status_code == 200:
                return
        await asyncio.sleep(0.25)
    raise AssertionError(f"bonus serve was not ready in {serve_ready_timeout_seconds} s")


async def stop(process: asyncio.subprocess.Process) -> None:
    """SIGTERM (so serve can drain and stop its embedded servers), then SIGKILL to the whole
    session if it hangs."""
    if process.returncode is None:
        process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(process.wait(), serve_stop_timeout_seconds)
        except TimeoutError:
            kill_session(process)
            await process.wait()


def kill_session(process: asyncio.subprocess.Process) -> None:
    """SIGKILL to the process and every worker it started (they share its session)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


def process_alive(pid: int) -> bool:
    """True while the process runs; a zombie waiting for init to reap it counts as ended."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, under another user (pgserver's own when run as root)
        pass
    with contextlib.suppress(FileNotFoundError):
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        return state not in ("Z", "X")
    return True


async def gone_soon(pid: int, limit_seconds: float = 5) -> bool:
    """``pg_ctl -w stop`` returns once postmaster.pid is removed, a moment before the
    postmaster itself has exited, so its end is awaited briefly."""
    deadline = time.monotonic() + limit_seconds
    while process_alive(pid):
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True
