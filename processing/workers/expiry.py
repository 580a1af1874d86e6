"""The expiry worker loop: one sweep every interval, forever, surviving transient failures."""

import asyncio
from collections.abc import Awaitable, Callable

import structlog

from processing.core import limits
from processing.service.certificates.expiry import expire_certificates
from processing.service.ledger.expiry import sweep
from processing.service.loyalty.membership import sweep_memberships
from processing.service.ports import Database, Store

log = structlog.get_logger(__name__)


async def run_expiry_loop(database: Database, interval_seconds: float) -> None:
    while True:
        try:
            await sweep(database)
            await expire_certificates(database, None)
            await sweep_memberships(database)
            await database_maintenance(database)
        except asyncio.CancelledError:
            raise
        except Exception:  # a failed sweep is retried next interval; the worker must not die
            log.exception("expiry_sweep_failed")
        await asyncio.sleep(interval_seconds)


async def database_maintenance(database: Database) -> None:
    async with database.transaction() as store:
        await store.purge_keys(limits.idempotency_retention_seconds)
    await purge_in_batches(
        database,
        lambda store: store.purge_messages(
            limits.message_retention_seconds, limits.message_purge_batch_rows
        ),
    )
    await purge_in_batches(
        database,
        lambda store: store.purge_message_events(
            limits.message_retention_seconds, limits.message_purge_batch_rows
        ),
    )


async def purge_in_batches(database: Database, purge: Callable[[Store], Awaitable[int]]) -> int:
    """Runs one purge a batch a transaction, so no delete holds its rows for long, until a
    batch comes back short or the pass's batches are spent (the rest waits for the next
    pass); how many rows went."""
    purged = 0
    for _ in range(limits.message_purge_batches_max):
        async with database.transaction() as store:
            deleted = await purge(store)
        purged += deleted
        if deleted < limits.message_purge_batch_rows:
            break
    return purged
