"""The program gauges (decision 0027): the liability and the customers active in the last
``limits.active_customers_days`` days, per program, read from the report rollups every
``limits.program_gauges_seconds`` rather than on each scrape, where a year of a big program
would cost every scraper a query."""

import asyncio

import structlog

from processing.core import limits
from processing.service.ports import Database
from processing.service.reports.customers import observe_programs

log = structlog.get_logger(__name__)


async def run_program_gauges_loop(
    database: Database, interval_seconds: float = limits.program_gauges_seconds
) -> None:
    while True:
        try:
            await observe_programs(database)
        except asyncio.CancelledError:
            raise
        except Exception:  # the gauges must outlive a database restart; they try again
            log.exception("program_gauges_failed")
        await asyncio.sleep(interval_seconds)
