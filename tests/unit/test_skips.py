"""A skipped test fails the run unless BONUS_TEST_ALLOW_SKIPS=1, and a run without skips passes
as before (tests/skips.py, run in a pytest of its own)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

repository = Path(__file__).resolve().parents[2]

# The samples below are written to a temporary folder and run by a pytest of their own; they
# skip as the suite's own tests do, where a tool they need is missing (and this one always is).
skipping = """
import shutil
import pytest

def test_runs():
    pass

@pytest.mark.skipif(shutil.which("bonus-no-such-tool") is None, reason="the tool is missing")
def test_needs_a_tool():
    pass
"""
module_skip = """
import pytest

tool = pytest.importorskip("bonus_no_such_tool", reason="nothing here can run without it")
"""
clean = """
def test_runs():
    pass
"""


def run(tmp_path: Path, source: str, *, allow: bool) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_sample.py").write_text(source)
    env = {name: value for name, value in os.environ.items() if name != "BONUS_TEST_ALLOW_SKIPS"}
    env["PYTHONPATH"] = str(repository)
    if allow:
        env["BONUS_TEST_ALLOW_SKIPS"] = "1"
    command = [sys.executable, "-m", "pytest", "-p", "tests.skips", "-p", "no:cacheprovider"]
    return subprocess.run(  # noqa: S603 - our own interpreter on a file this test wrote
        [*command, "-q", "test_sample.py"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("source", [skipping, module_skip], ids=["marked", "module-level"])
def test_a_skip_fails_the_run_and_names_the_test(tmp_path: Path, source: str) -> None:
    result = run(tmp_path, source, allow=False)
    assert result.returncode == pytest.ExitCode.TESTS_FAILED, result.stdout
    assert "skipped: test_sample.py" in result.stdout
    assert "so the run FAILS" in result.stdout


def test_skips_pass_when_allowed(tmp_path: Path) -> None:
    result = run(tmp_path, skipping, allow=True)
    assert result.returncode == pytest.ExitCode.OK, result.stdout
    assert "allowed by BONUS_TEST_ALLOW_SKIPS=1" in result.stdout


def test_a_run_without_skips_passes(tmp_path: Path) -> None:
    result = run(tmp_path, clean, allow=False)
    assert result.returncode == pytest.ExitCode.OK, result.stdout
    assert "skipped tests" not in result.stdout
