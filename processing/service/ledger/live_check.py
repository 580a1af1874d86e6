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
from datetime import datetime
from uuid import UUID

import msgspec
import structlog

from processing import telemetry
from processing.core import limits
from processing.core.live_check import (
    AccountFigures,
    Difference,
    LotFigures,
    OperationTotal,
    RefundFigures,
    differences,
)
from processing.service.ports import Database

log = structlog.get_logger(__name__)

_lots = msgspec.json.Decoder(list[LotFigures])
_refunds = msgspec.json.Decoder(list[RefundFigures])
_operations = msgspec.json.Decoder(list[OperationTotal])


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
                await store.fetch_named("live_check_walk_completed")
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

    async def run_forever(self) -> None:
        while True:
            try:
                await self.check_pass()
            except asyncio.CancelledError:
                raise
            except Exception:  # the check outlives a database restart; it tries again
                log.exception("live_check_failed")
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
