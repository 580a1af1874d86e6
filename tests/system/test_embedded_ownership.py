"""Who stops the embedded servers of a data directory: the process recorded as their owner,
and no other. A short command that started them hands them over to a ``bonus serve`` started
beside it, and leaves them running when it ends; servers whose owner was killed with SIGKILL
are adopted by the next process, which stops them when it is done."""

import asyncio
import contextlib
import json
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx

from processing.adapters import embedded
from tests import servers
from tests.system.processes import (
    environment,
    gone_soon,
    read_both,
    start_serve,
    stop,
    wait_until_ready,
)
from tests.system.test_cli_and_serve import embedded_server_pids, run_bonus

# Attaches to the data directory's servers as a command would, says so, and stops what it owns
# once its standard input closes.
holder_script = """
import sys
from pathlib import Path
from processing.adapters import embedded
embedded.start(Path(sys.argv[1]))
print("attached", flush=True)
sys.stdin.read()
embedded.stop_all()
"""
holder_ready_seconds = 60


@contextlib.asynccontextmanager
async def holder(data_dir: Path) -> AsyncIterator[asyncio.subprocess.Process]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", holder_script, str(data_dir),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        env=environment(),
    )  # fmt: skip
    try:
        assert process.stdout is not None
        await asyncio.wait_for(attached(process.stdout), holder_ready_seconds)
        yield process
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def attached(stdout: asyncio.StreamReader) -> None:
    """Reads the holder's output (log lines first) up to its "attached"."""
    while (line := await stdout.readline()) != b"attached\n":
        assert line, "the holder ended before it attached"


def owner_pid(data_dir: Path) -> int:
    return int(json.loads((data_dir / embedded.owner_file_name).read_text())["pid"])


async def test_serve_takes_the_servers_over_from_the_command_that_started_them(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    port = servers.free_port()
    env = environment(data_dir=str(data_dir), port=str(port))
    stdout_path, stderr_path = tmp_path / "serve.out", tmp_path / "serve.err"
    pids: dict[str, int] = {}
    async with holder(data_dir) as command:
        pids = embedded_server_pids(data_dir)
        assert owner_pid(data_dir) == command.pid
        process = await start_serve(env, stdout_path, stderr_path)
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
                await wait_until_ready(client, process, stdout_path, stderr_path)
                assert owner_pid(data_dir) == process.pid
                assert command.stdin is not None
                command.stdin.close()  # the command ends first, and stops nothing
                assert await asyncio.wait_for(command.wait(), holder_ready_seconds) == 0
                assert embedded_server_pids(data_dir) == pids
                ready = await client.get("/health/ready")
                assert ready.status_code == 200, ready.text
                assert ready.json()["redis"] == "up", ready.text
            await stop(process)
            assert process.returncode == 0, read_both(stdout_path, stderr_path)
            for name, pid in pids.items():
                assert await gone_soon(pid), f"embedded {name} (pid {pid}) still running"
        finally:
            await stop(process)
            for pid in pids.values():  # only if the test failed: leave no servers behind
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)


async def test_servers_of_a_killed_owner_are_adopted_and_stopped_by_the_next(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    pids: dict[str, int] = {}
    try:
        async with holder(data_dir) as command:
            pids = embedded_server_pids(data_dir)
            command.kill()  # no clean-up runs: the servers are left without a live owner
            await command.wait()
        finished = await run_bonus("migrate", env=environment(data_dir=str(data_dir)))
        assert finished.code == 0, finished
        for name, pid in pids.items():
            assert await gone_soon(pid), f"embedded {name} (pid {pid}) still running"
        assert not (data_dir / embedded.owner_file_name).exists()
    finally:
        for pid in pids.values():  # only if the test failed: leave no servers behind
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
