"""The live consistency check (decision 0028): the worker re-verifies, a slice of customer
accounts at a time and without end, what ``bonus reconcile`` checks in one pass over the whole
ledger: each account's cached posted, reserved and debt against its entries, lots, holds and
operations; each lot's remaining and held points against its entries and active holds; each
operation's refunded and returned points against its refunds, and its entries summing to zero.

The walk is shared: workers claim the next slice from one row in Postgres, so several check
different accounts at once and every account is checked once a walk. A claimed slice whose
worker dies before checking it is left for the next walk. Each difference is a log line naming
the account, the kind and the figures, and a count by kind; the accounts whose last check
differed are kept in a table, so the gauge of them is the same whichever worker reports it."""

import asyncio
from datetime import date, datetime
from uuid import UUID

import msgspec
import structlog

from processing import telemetry
from processing.core import limits
from processing.core.live_check import (
    AccountFigures,
    Difference,
    DifferenceKind,
    LotFigures,
    OperationTotal,
    RefundFigures,
    ReportDifference,
    differences,
)
from processing.service.ports import Database

log = structlog.get_logger(__name__)

_lots = msgspec.json.Decoder(list[LotFigures])
_refunds = msgspec.json.Decoder(list[RefundFigures])
_operations = msgspec.json.Decoder(list[OperationTotal])
_figures = msgspec.json.Decoder(dict[str, int | str])


class ReportDayReport(msgspec.Struct, frozen=True, kw_only=True):
    """One program day of the rollups' walk (None: the walk went back to the start), its
    differences, and how many program days are known to differ after it."""

    day: tuple[UUID, date] | None
    differences: list[ReportDifference]
    days_differing: int


class PassReport(msgspec.Struct, frozen=True, kw_only=True):
    """One pass: the accounts it checked, the differences it found, whether it ended a walk,
    and what is known after it (accounts differing, the last complete walk)."""

    accounts: list[UUID]
    differences: list[Difference]
    ended_walk: bool
    accounts_differing: int
    walk_completed_at: datetime | None


def account_figures(row: dict[str, object]) -> AccountFigures:
    """One row of ``live_check_accounts`` as the core's figures (its jsonb lists are text)."""

    def decoded(value: object, decoder: msgspec.json.Decoder) -> list:  # type: ignore[type-arg]
        return decoder.decode(value) if isinstance(value, (str, bytes)) else []

    return msgspec.convert(
        {
            **row,
            "lot_differences": decoded(row["lot_differences"], _lots),
            "refund_differences": decoded(row["refund_differences"], _refunds),
            "unbalanced_operations": decoded(row["unbalanced_operations"], _operations),
        },
        AccountFigures,
        from_attributes=False,
    )


class LiveCheck:
    def __init__(self, database: Database, accounts_per_pass: int, pause_seconds: float) -> None:
        if not 0 < accounts_per_pass <= limits.live_check_accounts_per_pass_max:
            raise ValueError(
                "BONUS_LIVE_CHECK_ACCOUNTS_PER_PASS is from 1 to "
                f"{limits.live_check_accounts_per_pass_max} (live_check_accounts_per_pass_max); "
                f"got {accounts_per_pass}"
            )
        if not pause_seconds >= 0:
            raise ValueError(f"BONUS_LIVE_CHECK_PAUSE_SECONDS is 0 or more; got {pause_seconds}")
        self.database = database
        self.accounts_per_pass = accounts_per_pass
        self.pause_seconds = pause_seconds

    async def check_pass(self) -> PassReport:
        """Claims the next slice of the walk, checks it in one statement, and records what it
        found."""
        async with self.database.transaction() as store:
            [claim] = await store.fetch_named("live_check_claim", self.accounts_per_pass)
        accounts: list[UUID] = list(claim["accounts"])
        found: list[Difference] = []
        if accounts:
            async with self.database.reader() as reader:
                rows = await reader.fetch_named("live_check_accounts", accounts)
            for row in rows:
                found.extend(differences(account_figures(dict(row))))
        differing = sorted({difference.account_id for difference in found})
        kinds = [
            ",".join(sorted({d.kind.value for d in found if d.account_id == account}))
            for account in differing
        ]
        async with self.database.transaction() as store:
            await store.fetch_named("live_check_record", accounts, differing, kinds)
            if claim["ends_walk"]:
                await store.fetch_named("live_check_walk_completed", "accounts")
            [known] = await store.fetch_named("live_check_known")
        report = PassReport(
            accounts=accounts,
            differences=found,
            ended_walk=claim["ends_walk"],
            accounts_differing=known["accounts_differing"],
            walk_completed_at=known["walk_completed_at"],
        )
        observe(report)
        return report

    async def claim_report_day(self) -> tuple[UUID, date] | None:
        """Moves the report rollups' walk to the next program day that has operations or
        rollup rows and returns it; None when the walk went back to the start (or looked at
        ``live_check_programs_per_claim_max`` programs with nothing to check)."""
        async with self.database.transaction() as store:
            [cursor] = await store.fetch_named("live_check_report_cursor")
            program, day = cursor["program_id"], cursor["day"]
            found: tuple[UUID, date] | None = None
            for _ in range(limits.live_check_programs_per_claim_max):
                if program is not None:
                    [after] = await store.fetch_named("live_check_next_report_day", program, day)
                    if after["day"] is not None:
                        found = (program, after["day"])
                        break
                following = await store.fetch_named("live_check_next_report_program", program)
                program, day = (following[0]["id"], None) if following else (None, None)
                if program is None:
                    await store.fetch_named("live_check_walk_completed", "report_points")
                    break
            if found is not None:
                program, day = found
            await store.fetch_named("live_check_move_report_cursor", program, day)
        return found

    async def check_report_day(self) -> ReportDayReport:
        """Claims the next program day of the report rollups' walk and compares its rollups
        with its operations in one statement (decision 0028, the rollups of decision 0025)."""
        claimed = await self.claim_report_day()
        found: list[ReportDifference] = []
        if claimed is not None:
            program, day = claimed
            async with self.database.reader() as reader:
                [size] = await reader.fetch_named("live_check_report_day_operations", *claimed)
                if size["operations"] > limits.live_check_report_day_operations_max:
                    log.warning(
                        "report_day_too_busy_to_check",
                        program_id=str(program),
                        day=day.isoformat(),
                        operations=size["operations"],
                        operations_max=limits.live_check_report_day_operations_max,
                    )
                    rows = []
                else:
                    rows = await reader.fetch_named("live_check_report_day", program, day)
            found = [
                ReportDifference(
                    program_id=program,
                    day=day,
                    kind=DifferenceKind(row["kind"]),
                    figures=_figures.decode(row["figures"]),
                )
                for row in rows
            ]
        async with self.database.transaction() as store:
            if claimed is not None:
                kinds = ",".join(sorted({d.kind.value for d in found})) or None
                await store.fetch_named("live_check_record_report_day", *claimed, kinds)
            [known] = await store.fetch_named("live_check_report_days_known")
        report = ReportDayReport(day=claimed, differences=found, days_differing=known["days"])
        observe_report_day(report)
        return report

    async def run_forever(self) -> None:
        while True:
            for check in (self.check_pass, self.check_report_day):
                try:
                    await check()
                except asyncio.CancelledError:
                    raise
                except Exception:  # the check outlives a database restart; it tries again
                    log.exception("live_check_failed", check=check.__name__)
            await asyncio.sleep(self.pause_seconds)


def observe(report: PassReport) -> None:
    """The pass's metrics, and a log line for each difference."""
    telemetry.live_check_accounts_total.inc(len(report.accounts))
    for difference in report.differences:
        telemetry.live_check_differences_total.labels(kind=difference.kind.value).inc()
        log.error(
            "ledger_difference",
            account_id=str(difference.account_id),
            kind=difference.kind.value,
            **difference.figures,
        )
    telemetry.live_check_accounts_differing.set(report.accounts_differing)
    if report.walk_completed_at is not None:
        telemetry.live_check_walk_completed_seconds.set(report.walk_completed_at.timestamp())


def observe_report_day(report: ReportDayReport) -> None:
    """A program day's metrics, and a log line for each key of its rollups that differs."""
    for difference in report.differences:
        telemetry.live_check_differences_total.labels(kind=difference.kind.value).inc()
        log.error(
            "report_rollup_difference",
            program_id=str(difference.program_id),
            day=difference.day.isoformat(),
            kind=difference.kind.value,
            **difference.figures,
        )
    telemetry.live_check_report_days_differing.set(report.days_differing)
