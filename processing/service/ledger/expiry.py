"""The expiry sweep: releases holds past their TTL and burns lots past their expiry, by the
database clock. The worker loop and the admin call run this same code. Accounts are locked with
SKIP LOCKED and every decision is made again under the lock, so two sweeps at once burn each lot
exactly once."""

from uuid import UUID

import msgspec
import structlog

from processing import telemetry
from processing.core import limits
from processing.core.holds import decide_hold_expiry
from processing.core.invariants import invariant
from processing.core.ledger import decide_expire
from processing.core.model import HoldStatus, OperationType
from processing.service.ledger.decisions import posting_change, release_change
from processing.service.ports import Database
from processing.service.records import SweepReport

log = structlog.get_logger(__name__)

# Bounds one call: a backlog larger than this is left for the next sweep.
sweep_rounds_max = 20


async def sweep(database: Database, program_id: UUID | None = None) -> SweepReport:
    report = SweepReport()
    for _ in range(sweep_rounds_max):
        holds = await release_due_holds(database, program_id)
        lots, points, accounts = await burn_expired_lots(database, program_id)
        report = SweepReport(
            expired_lots=report.expired_lots + lots,
            expired_points=report.expired_points + points,
            expired_holds=report.expired_holds + holds,
        )
        if holds + accounts == 0:
            break
    async with database.reader() as reader:
        backlog = (await reader.fetch_named("expiry_backlog"))[0]
    telemetry.expiry_backlog.set(backlog["holds"] + backlog["accounts"])
    telemetry.expiry_sweeps_total.inc()
    telemetry.expired_holds_total.inc(report.expired_holds)
    telemetry.points_moved_total.labels(movement="expired").inc(report.expired_points)
    if report.expired_holds or report.expired_lots:
        log.info("expiry_sweep", **msgspec.structs.asdict(report))
    return report


async def release_due_holds(database: Database, program_id: UUID | None) -> int:
    async with database.reader() as reader:
        due = await reader.due_holds(limits.expiry_batch_size, program_id)
    released = 0
    for hold_id, account_id in due:
        async with database.transaction() as store:
            locked = await store.lock_account(account_id, None, skip_if_busy=True)
            hold = await store.lock_hold(hold_id, None, None) if locked else None
            plan = decide_hold_expiry(hold, locked.now) if locked and hold else None
            if locked is None or hold is None or plan is None:
                continue
            operation, change = release_change(
                locked, None, hold, plan.released, HoldStatus.expired
            )
            await store.write(change)
            resolved = await store.resolve_hold(hold.id, HoldStatus.expired, None, operation.id)
            invariant(resolved, "a hold read as active under the account lock resolves once")
            released += 1
    return released


async def burn_expired_lots(database: Database, program_id: UUID | None) -> tuple[int, int, int]:
    """Returns (lots burned, points burned, accounts touched)."""
    async with database.reader() as reader:
        accounts = await reader.accounts_with_expired_lots(limits.expiry_batch_size, program_id)
    lots = points = 0
    for account_id in accounts:
        async with database.transaction() as store:
            locked = await store.lock_account(account_id, None, skip_if_busy=True)
            posting = decide_expire(locked.account, locked.now) if locked else None
            if locked is None or posting is None:
                continue
            _, change = posting_change(locked, None, OperationType.expire, posting)
            await store.write(change)
            lots += len(posting.lot_deltas)
            points += -posting.customer_delta
    return lots, points, len(accounts)
