"""The published OpenAPI is true of the running server: Schemathesis, every check and every
phase, against a real ``bonus serve`` with a program key that holds every scope. Seeded and
bounded (tests/contract/schemathesis.toml); its allowances and their reasons are there and in
tests/contract/hooks.py. Any failure fails the test with Schemathesis' report, which says how to
reproduce each one."""

import asyncio
import os
import sys
from pathlib import Path

import pytest

from processing.settings import Settings
from tests.system.live import served

schemathesis = str(Path(sys.executable).parent / "schemathesis")
root = Path(__file__).resolve().parents[2]
config = root / "tests" / "contract" / "schemathesis.toml"
# About a minute and a half on an idle two-core machine; room for a loaded one.
run_timeout_seconds = 540


@pytest.mark.timeout(run_timeout_seconds + 60)
async def test_schemathesis_finds_no_failure(tmp_path: Path, settings: Settings) -> None:
    async with served(tmp_path, settings) as server:
        process = await asyncio.create_subprocess_exec(
            schemathesis,
            "--config-file",
            str(config),
            "run",
            f"{server.base_url}/schema/openapi.json",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            cwd=tmp_path,
            env={
                **os.environ,
                "PYTHONPATH": str(root),
                "BONUS_CONTRACT_KEY": server.all_scopes_key,
            },
        )
        output, _ = await asyncio.wait_for(process.communicate(), run_timeout_seconds)
    text = output.decode()
    assert process.returncode == 0, text
