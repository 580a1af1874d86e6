"""Gift certificates' expiry (decision 0033): the sweep burns what sold certificates past
their expiry still hold to the program's breakage account. The worker's loop, the admin call
and ``bonus expire`` run it after the points' sweep."""

from uuid import UUID

import structlog

from processing.core import limits
from processing.core.certificates import decide_expiry
from processing.service.certificates.money import expiry_write
from processing.service.ports import Database

log = structlog.get_logger(__name__)


async def expire_certificates(database: Database, program_id: UUID | None) -> tuple[int, int]:
    """Burns the balance of sold certificates past their expiry to the program's breakage
    account; returns (certificates closed, money burned). Each is locked and decided again
    under its row lock, so two sweeps at once burn each once."""
    async with database.reader() as reader:
        due = await reader.due_certificates(limits.expiry_batch_size, program_id)
    closed = burned = 0
    for certificate_id in due:
        async with database.transaction() as store:
            found = await store.lock_certificate(certificate_id, None)
            now = await store.clock_now()
            amount = None if found is None else decide_expiry(found.certificate, now)
            if found is None or amount is None:
                continue
            if amount == 0:  # nothing left to burn: only closed
                await store.close_certificate(certificate_id)
            else:
                await store.write_certificate_operation(
                    expiry_write(found.certificate, amount, now)
                )
        closed += 1
        burned += amount
    if closed:
        log.info("certificates_expired", certificates=closed, burned_minor=burned)
    return closed, burned
