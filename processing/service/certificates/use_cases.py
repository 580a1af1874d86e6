"""Gift certificates' own use cases (decision 0033): issue, sell, unblock, read, and look up
by number and PIN (their expiry is ``expiry.py``, paying with them ``payments.py``).

Every write loads under the certificate's row lock, decides in the pure core
(``processing/core/certificates.py``) and applies in the same transaction, with its answer
under the Idempotency-Key (``MutationRunner.serialized_change``). A lookup is a read a till or a
shop sends as POST, but a wrong PIN is counted (and blocks at the limit) in Postgres under the
same row lock, so concurrent wrong tries never count less than they are.
"""

from collections.abc import Awaitable, Callable
from datetime import datetime
from uuid import UUID, uuid4

import msgspec
import structlog

from processing.core import limits
from processing.core.certificates import (
    Certificate,
    CertificateStatus,
    decide_issue,
    decide_sale,
    is_certificate_number,
    new_number,
    new_pin,
)
from processing.core.invariants import invariant
from processing.core.rejections import Rejection
from processing.service.certificates.money import current_pin_key, pin_digest, sale_write, try_pin
from processing.service.certificates.records import (
    IssueCommand,
    IssuedBatch,
    IssuedCertificate,
    LiabilityRecord,
    LookupRecord,
    StatementPage,
    hide_pins,
    record_of,
)
from processing.service.mutations import Change, Decision, Mutation, MutationRunner, Render
from processing.service.paging import decode_position, encode_position, first, invalid_cursor
from processing.service.ports import (
    Answer,
    Database,
    NewCertificates,
    PinKeys,
    Store,
    StoredCertificate,
)
from processing.service.records import (
    Accepted,
    Actor,
    Outcome,
    Page,
    Position,
    StoredResponse,
    refuse,
)

log = structlog.get_logger(__name__)

not_found = refuse(Rejection.certificate_not_found, "No such certificate.", field="number")


def drawn_certificates(
    drawn: list[tuple[UUID, str, str]],
    program_id: UUID,
    currency: str,
    command: IssueCommand,
    now: datetime,
) -> list[Certificate]:
    """The certificates an issue makes from the ids, numbers and PINs drawn for it, before any
    sale: holding nothing."""
    return [
        Certificate(
            id=certificate_id,
            program_id=program_id,
            number=number,
            currency=currency,
            nominal_minor=command.nominal_minor,
            balance_minor=0,
            status=CertificateStatus.issued,
            wrong_pins=0,
            blocked=False,
            expires_at=command.expires_at,
            store_id=command.store_id,
            issued_at=now,
            activated_at=None,
        )
        for certificate_id, number, _ in drawn
    ]


def sold_at(certificate: Certificate, now: datetime) -> Certificate:
    """A certificate as its sale leaves it: active, holding its nominal."""
    return msgspec.structs.replace(
        certificate,
        status=CertificateStatus.active,
        balance_minor=certificate.nominal_minor,
        activated_at=now,
    )


class Certificates:
    def __init__(self, database: Database, runner: MutationRunner, keys: PinKeys) -> None:
        self.database = database
        self.runner = runner
        self.keys = keys

    async def issue(
        self, mutation: Mutation, program_id: UUID, command: IssueCommand, render: Render
    ) -> StoredResponse:
        """A batch of ``count`` certificates of one nominal and expiry; sold at once with
        ``sell``. Numbers and PINs are drawn before deciding, so a decision made again writes
        the same ones; the PINs are in this answer only."""
        invariant(1 <= command.count <= limits.certificate_batch_max, "a bounded batch")
        actor = mutation.actor
        key_id, key = self.keys.current_id, current_pin_key(self.keys)
        drawn = [(uuid4(), new_number(), new_pin()) for _ in range(command.count)]
        batch_id = uuid4()

        async def load(store: Store) -> tuple[tuple[UUID, str] | None, datetime]:
            return await store.certificate_program(program_id, actor.program_id), (
                await store.clock_now()
            )

        def decide(facts: tuple[tuple[UUID, str] | None, datetime]) -> Change | Outcome:
            program, now = facts
            if program is None:
                return refuse(Rejection.not_found, "No program with this id.")
            refused = decide_issue(command.nominal_minor, command.expires_at, now)
            if refused is not None:
                return refuse(refused.rejection, refused.detail, field=refused.field)
            currency = program[1]
            made = drawn_certificates(drawn, program_id, currency, command, now)
            shown = [sold_at(c, now) for c in made] if command.sell else made
            batch = IssuedBatch(
                batch_id=batch_id,
                certificates=[
                    IssuedCertificate(**msgspec.structs.asdict(record_of(c, now)), pin=pin)
                    for c, (_, _, pin) in zip(shown, drawn, strict=True)
                ],
            )
            new = NewCertificates(
                program_id=program_id,
                currency=currency,
                batch_id=batch_id,
                ids=[c.id for c in made],
                numbers=[c.number for c in made],
                pin_hmacs=[
                    pin_digest(key, c.id, pin) for c, (_, _, pin) in zip(made, drawn, strict=True)
                ],
                pin_key_id=key_id,
                nominal_minor=command.nominal_minor,
                expires_at=command.expires_at,
                store_id=command.store_id,
                issued_at=now,
            )

            async def write(store: Store, answer: Answer) -> bool:
                await store.ensure_money_accounts(program_id, currency)
                await store.insert_certificates(new)
                for certificate in made if command.sell else ():
                    await store.write_certificate_operation(
                        sale_write(certificate, actor, now, command.store_id)
                    )
                return await store_answer(store, answer)

            return Change(outcome=Accepted(value=batch, created=True), write=write)

        return await self.runner.serialized_change(
            mutation, Decision(load, decide), hide_pins(render), no_serialization
        )

    async def sell(
        self, mutation: Mutation, certificate_id: UUID, store_id: str | None, render: Render
    ) -> StoredResponse:
        """Sells (activates) an issued certificate: its nominal lands on its account."""
        actor = mutation.actor
        load = locked_certificate(certificate_id, actor)

        def decide(facts: tuple[StoredCertificate | None, datetime]) -> Change | Outcome:
            found, now = facts
            if found is None:
                return refuse(Rejection.certificate_not_found, "No such certificate.")
            certificate = found.certificate
            refused = decide_sale(certificate, now)
            if refused is not None:
                return refuse(refused.rejection, refused.detail, field=refused.field)
            sold = sold_at(certificate, now)
            operation = sale_write(certificate, actor, now, store_id or actor.store_id)

            async def write(store: Store, answer: Answer) -> bool:
                # The program's money accounts were made with the certificate (``issue``).
                await store.write_certificate_operation(operation)
                return await store_answer(store, answer)

            return Change(outcome=Accepted(value=record_of(sold, now)), write=write)

        return await self.runner.serialized_change(
            mutation, Decision(load, decide), render, no_serialization
        )

    async def unblock(
        self, mutation: Mutation, certificate_id: UUID, render: Render
    ) -> StoredResponse:
        """An operator unblocks a certificate blocked by wrong PINs: the count starts again."""
        actor = mutation.actor
        load = locked_certificate(certificate_id, actor)

        def decide(facts: tuple[StoredCertificate | None, datetime]) -> Change | Outcome:
            found, now = facts
            if found is None:
                return refuse(Rejection.certificate_not_found, "No such certificate.")
            certificate = found.certificate
            if not certificate.blocked:
                return refuse(
                    Rejection.validation_error,
                    f"Certificate {certificate.number} is not blocked.",
                )
            unblocked = msgspec.structs.replace(certificate, blocked=False, wrong_pins=0)

            async def write(store: Store, answer: Answer) -> bool:
                await store.unblock_certificate(certificate.id)
                return await store_answer(store, answer)

            return Change(outcome=Accepted(value=record_of(unblocked, now)), write=write)

        stored = await self.runner.serialized_change(
            mutation, Decision(load, decide), render, no_serialization
        )
        if stored.status_code == 200 and not stored.replayed:
            log.info("certificate_unblocked", id=str(certificate_id), key_id=str(actor.key_id))
        return stored

    async def get(self, actor: Actor, certificate_id: UUID) -> Outcome:
        async with self.database.reader() as store:
            found = await store.get_certificate(certificate_id, actor.program_id)
            now = await store.clock_now()
        if found is None:
            return refuse(Rejection.certificate_not_found, "No such certificate.")
        return Accepted(value=record_of(found.certificate, now))

    async def list(
        self,
        actor: Actor,
        program_id: UUID,
        state: str | None,
        limit: int,
        cursor: str | None,
    ) -> Outcome:
        """The program's certificates, newest first, a page at a time, in one ``state``."""
        if actor.program_id not in (None, program_id):
            return refuse(Rejection.not_found, "No program with this id.")
        after = decode_position(cursor)
        if after is None:
            return invalid_cursor
        size = min(limit, limits.page_size_max)
        position = None if after == first else (after.at, after.id)
        async with self.database.reader() as store:
            if await store.certificate_program(program_id, actor.program_id) is None:
                return refuse(Rejection.not_found, "No program with this id.")
            items = await store.list_certificates(program_id, state, position, size + 1)
            now = await store.clock_now()
        shown = items[:size]
        more = len(items) > size and bool(shown)
        next_cursor = (
            encode_position(Position(at=shown[-1].issued_at, id=shown[-1].id)) if more else None
        )
        return Accepted(
            value=Page(items=[record_of(c, now) for c in shown], next_cursor=next_cursor)
        )

    async def statement(
        self, actor: Actor, certificate_id: UUID, limit: int, cursor: str | None
    ) -> Outcome:
        """One certificate's money operations, newest first; the cursor is the last one's
        sequence number."""
        before = None
        if cursor is not None:
            if not cursor.isdigit() or len(cursor) > 18:
                return refuse(Rejection.validation_error, "cursor is not valid.", field="cursor")
            before = int(cursor)
        size = min(limit, limits.page_size_max)
        async with self.database.reader() as store:
            if await store.get_certificate(certificate_id, actor.program_id) is None:
                return refuse(Rejection.certificate_not_found, "No such certificate.")
            rows = await store.certificate_statement(certificate_id, before, size + 1)
        shown = rows[:size]
        more = len(rows) > size and bool(shown)
        return Accepted(
            value=StatementPage(items=shown, next_cursor=str(shown[-1].seq) if more else None)
        )

    async def lookup(self, actor: Actor, number: str, pin: str) -> Outcome:
        """A till's or a shop's look at a certificate by number and PIN: its balance, expiry
        and state. A wrong PIN is counted under the certificate's row lock and blocks it at
        ``certificate_wrong_pins_max``; a number that fails its check digit, or is not the
        program's, is not found (and counts nothing: there is no certificate to count on)."""
        program_id = actor.program_id
        if program_id is None or not is_certificate_number(number):
            return not_found
        async with self.database.transaction() as store:
            locked = await store.lock_certificates_by_number(program_id, [number])
            now = await store.clock_now()
            if not locked:
                return not_found
            found = locked[0]
            checked = await try_pin(store, self.keys, found, pin, "pin", now)
        if checked is not None:
            return checked
        certificate = found.certificate
        return Accepted(
            value=LookupRecord(
                number=certificate.number,
                currency=certificate.currency,
                balance_minor=certificate.balance_minor,
                nominal_minor=certificate.nominal_minor,
                expires_at=certificate.expires_at,
                state=certificate.state(now),
            )
        )

    async def liability(self, actor: Actor, program_id: UUID) -> Outcome:
        """The program's certificates as money: sold, paid out, burned, and outstanding (the
        liability: what sold certificates still hold)."""
        async with self.database.reader() as store:
            program = await store.certificate_program(program_id, actor.program_id)
            if program is None:
                return refuse(Rejection.not_found, "No program with this id.")
            totals = await store.certificates_liability(program_id)
        sold = totals.get("certificates_sold", 0)
        redeemed = -totals.get("certificates_redeemed", 0)
        breakage = -totals.get("certificates_breakage", 0)
        return Accepted(
            value=LiabilityRecord(
                program_id=program_id,
                currency=program[1],
                sold_minor=sold,
                redeemed_minor=redeemed,
                breakage_minor=breakage,
                outstanding_minor=sold - redeemed - breakage,
            )
        )


async def no_serialization(store: Store) -> None:
    """The certificate's row lock, taken by the load, is all the serialization it needs."""


async def store_answer(store: Store, answer: Answer) -> bool:
    return await store.store_answer(answer.key_id, answer.key, answer.fingerprint, answer.response)


def locked_certificate(
    certificate_id: UUID, actor: Actor
) -> Callable[[Store], Awaitable[tuple[StoredCertificate | None, datetime]]]:
    """The load of a change to one certificate: it under its row lock (None: not the caller's
    program's), and the database's time."""

    async def load(store: Store) -> tuple[StoredCertificate | None, datetime]:
        found = await store.lock_certificate(certificate_id, actor.program_id)
        return found, await store.clock_now()

    return load
