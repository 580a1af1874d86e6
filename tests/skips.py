"""A skipped test, or one marked as an expected failure, fails the run: it proved nothing, and
a suite that skips where a tool is missing (HAProxy, say) would otherwise pass in CI without the
proof it promises.
``BONUS_TEST_ALLOW_SKIPS=1`` lets skips pass, for a machine that knowingly cannot run them."""

import os

import pytest

allow_variable = "BONUS_TEST_ALLOW_SKIPS"


def skips_allowed() -> bool:
    return os.environ.get(allow_variable) == "1"


class SkipGuard:
    def __init__(self) -> None:
        self.skipped: list[str] = []

    def _record(self, report: pytest.TestReport | pytest.CollectReport) -> None:
        # An expected failure (xfail) is reported as skipped too, and counts as one: a test
        # that is expected to fail proves nothing about the behaviour it names.
        if report.skipped:
            self.skipped.append(report.nodeid)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self._record(report)

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        self._record(report)

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        passing = (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED)
        if self.skipped and not skips_allowed() and session.exitstatus in passing:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if not self.skipped:
            return
        allowed = skips_allowed()
        terminalreporter.section("skipped tests", sep="=", red=not allowed, bold=True)
        for nodeid in self.skipped:
            terminalreporter.line(f"skipped: {nodeid}")
        verdict = f"allowed by {allow_variable}=1" if allowed else "so the run FAILS"
        terminalreporter.line(
            f"{len(self.skipped)} skipped, {verdict}: a skipped test proved nothing. Install "
            f"what it needs, or set {allow_variable}=1 to accept skips on this machine."
        )


def pytest_configure(config: pytest.Config) -> None:
    config.pluginmanager.register(SkipGuard(), "bonus-skip-guard")
