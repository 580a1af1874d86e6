"""The expiry worker loop: one sweep every interval, forever, surviving transient failures."""

import asyncio

import structlog

from processing.service.ledger.expiry import sweep
from processing.service.ports import Database

log = structlog.get_logger(__name__)


async def run_expiry_loop(database: Database, interval_seconds: float) -> None:
    while True:
        try:
            await sweep(database)
            await database_maintenance(database)
        except asyncio.CancelledError:
            raise
        except Exception:  # a failed sweep is retried next interval; the worker must not die
            log.exception("expiry_sweep_failed")
        await asyncio.sleep(interval_seconds)


async def database_maintenance(database: Database) -> None:
    from processing.core import limits

    async with database.transaction() as store:
        await store.purge_keys(limits.idempotency_retention_seconds)
