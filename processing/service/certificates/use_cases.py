"""Gift certificates' own use cases (decision 0033): issue, sell, unblock, read, look up by
number and PIN, and burn the expired.

Every write loads under the certificate's row lock, decides in the pure core
(``processing/core/certificates.py``) and applies in the same transaction, with its answer
under the Idempotency-Key (``MutationRunner.serialized_change``). A lookup is a read a till or a
shop sends as POST, but a wrong PIN is counted (and blocks at the limit) in Postgres under the
same row lock, so concurrent wrong tries never count less than they are.
"""

import hashlib
import hmac
from datetime import datetime
from uuid import UUID, uuid4

import msgspec
import structlog

from processing.core import limits
from processing.core.certificates import (
    Certificate,
    CertificateEvent,
    CertificateOperationType,
    CertificateState,
    CertificateStatus,
    check_pin,
    decide_expiry,
    decide_issue,
    decide_sale,
    is_certificate_number,
    new_number,
    new_pin,
)
from processing.core.invariants import invariant
from processing.core.rejections import Rejection
from processing.service.mutations import Change, Decision, Mutation, MutationRunner, Render
from processing.service.paging import decode_position, encode_position, first, invalid_cursor
from processing.service.ports import (
    Answer,
    CertificateOperationRow,
    CertificateWrite,
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
    Refused,
    StoredResponse,
    refuse,
)

log = structlog.get_logger(__name__)

not_found = refuse(Rejection.certificate_not_found, "No such certificate.", field="number")


class CertificateRecord(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    number: str
    currency: str
    nominal_minor: int
    balance_minor: int
    state: CertificateState
    wrong_pins: int
    expires_at: datetime
    store_id: str | None
    issued_at: datetime
    activated_at: datetime | None


class IssuedCertificate(CertificateRecord, frozen=True, kw_only=True):
    pin: str | None  # shown in the issue's answer only; a replay answers it null


class IssuedBatch(msgspec.Struct, frozen=True, kw_only=True):
    batch_id: UUID
    certificates: list[IssuedCertificate]


class LookupRecord(msgspec.Struct, frozen=True, kw_only=True):
    """What a till or a shop is told of a certificate once its PIN was right."""

    number: str
    currency: str
    balance_minor: int
    nominal_minor: int
    expires_at: datetime
    state: CertificateState


class StatementPage(msgspec.Struct, frozen=True, kw_only=True):
    items: list[CertificateOperationRow]
    next_cursor: str | None


class IssueCommand(msgspec.Struct, frozen=True, kw_only=True):
    nominal_minor: int
    expires_at: datetime
    count: int = 1
    store_id: str | None = None
    sell: bool = False  # sold (activated) at once, as a gift from the program


def record_of(certificate: Certificate, now: datetime) -> CertificateRecord:
    return CertificateRecord(
        id=certificate.id,
        number=certificate.number,
        currency=certificate.currency,
        nominal_minor=certificate.nominal_minor,
        balance_minor=certificate.balance_minor,
        state=certificate.state(now),
        wrong_pins=certificate.wrong_pins,
        expires_at=certificate.expires_at,
        store_id=certificate.store_id,
        issued_at=certificate.issued_at,
        activated_at=certificate.activated_at,
    )


def pin_digest(key: bytes, certificate_id: UUID, pin: str) -> bytes:
    """HMAC-SHA256 under a server-side key: a leaked row does not give its PIN up to a search
    of every PIN, as a bare hash would."""
    return hmac.new(key, certificate_id.bytes + pin.encode(), hashlib.sha256).digest()


def pin_matches(keys: PinKeys, stored: StoredCertificate, pin: str) -> bool:
    key = keys.certificate_pin_key(stored.pin_key_id)
    return key is not None and hmac.compare_digest(
        stored.pin_hmac, pin_digest(key, stored.certificate.id, pin)
    )


def sale_write(
    certificate: Certificate, actor: Actor | None, now: datetime, store_id: str | None
) -> CertificateWrite:
    """The sale: the certificate's account gets its nominal from ``certificates_sold``."""
    amount = certificate.nominal_minor
    return CertificateWrite(
        id=uuid4(),
        program_id=certificate.program_id,
        certificate_id=certificate.id,
        type=CertificateOperationType.sale,
        amount_minor=amount,
        balance_after=amount,
        status=CertificateStatus.active,
        entries=(("certificate", amount), ("certificates_sold", -amount)),
        created_at=now,
        channel=actor.channel if actor else "system",
        key_id=actor.key_id if actor else None,
        store_id=store_id,
        event_type=CertificateEvent.sold,
        event_payload=event_payload(certificate, "sale", amount, amount, now),
    )


def event_payload(
    certificate: Certificate, kind: str, amount: int, balance_after: int, now: datetime, **more: str
) -> dict[str, object]:
    return {
        "certificate_id": str(certificate.id),
        "number": certificate.number,
        "operation": kind,
        "amount_minor": amount,
        "balance_after": balance_after,
        "currency": certificate.currency,
        "created_at": now.isoformat(),
        **more,
    }


def hide_pins(render: Render) -> Render:
    """The PINs are in the issue's answer once; the idempotency record keeps them null."""

    def hidden(outcome: Outcome) -> StoredResponse:
        shown = render(outcome)
        if isinstance(outcome, Refused):
            return shown
        batch: IssuedBatch = outcome.value
        without = msgspec.structs.replace(
            batch,
            certificates=[msgspec.structs.replace(c, pin=None) for c in batch.certificates],
        )
        kept = render(msgspec.structs.replace(outcome, value=without))
        return msgspec.structs.replace(shown, kept_body=kept.body)

    return hidden


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
        key_id = self.keys.current_id
        key = self.keys.certificate_pin_key(key_id)
        invariant(key is not None, "the current key is in the key ring")
        assert key is not None  # noqa: S101 - for the type checker; invariant() said it
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
            made = [
                Certificate(
                    id=certificate_id,
                    program_id=program_id,
                    number=number,
                    currency=currency,
                    nominal_minor=command.nominal_minor,
                    balance_minor=command.nominal_minor if command.sell else 0,
                    status=CertificateStatus.active if command.sell else CertificateStatus.issued,
                    wrong_pins=0,
                    blocked=False,
                    expires_at=command.expires_at,
                    store_id=command.store_id,
                    issued_at=now,
                    activated_at=now if command.sell else None,
                )
                for certificate_id, number, _ in drawn
            ]
            batch = IssuedBatch(
                batch_id=batch_id,
                certificates=[
                    IssuedCertificate(**msgspec.structs.asdict(record_of(c, now)), pin=pin)
                    for c, (_, _, pin) in zip(made, drawn, strict=True)
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
                if command.sell:
                    for certificate in made:
                        issued = msgspec.structs.replace(
                            certificate, status=CertificateStatus.issued, balance_minor=0
                        )
                        await store.write_certificate_operation(
                            sale_write(issued, actor, now, command.store_id)
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

        async def load(store: Store) -> tuple[StoredCertificate | None, datetime]:
            found = await store.lock_certificate(certificate_id, actor.program_id)
            return found, await store.clock_now()

        def decide(facts: tuple[StoredCertificate | None, datetime]) -> Change | Outcome:
            found, now = facts
            if found is None:
                return refuse(Rejection.certificate_not_found, "No such certificate.")
            certificate = found.certificate
            refused = decide_sale(certificate, now)
            if refused is not None:
                return refuse(refused.rejection, refused.detail, field=refused.field)
            sold = msgspec.structs.replace(
                certificate,
                status=CertificateStatus.active,
                balance_minor=certificate.nominal_minor,
                activated_at=now,
            )
            operation = sale_write(certificate, actor, now, store_id or actor.store_id)

            async def write(store: Store, answer: Answer) -> bool:
                await store.ensure_money_accounts(certificate.program_id, certificate.currency)
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

        async def load(store: Store) -> tuple[StoredCertificate | None, datetime]:
            found = await store.lock_certificate(certificate_id, actor.program_id)
            return found, await store.clock_now()

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
            checked = await count_pin(store, found, pin_matches(self.keys, found, pin), "pin", now)
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


class LiabilityRecord(msgspec.Struct, frozen=True, kw_only=True):
    program_id: UUID
    currency: str
    sold_minor: int  # nominal of every certificate sold
    redeemed_minor: int  # paid for receipts, less what returns gave back
    breakage_minor: int  # burned at expiry
    outstanding_minor: int  # what sold certificates still hold: the liability


async def count_pin(
    store: Store, found: StoredCertificate, matches: bool, field: str, now: datetime
) -> Refused | None:
    """Checks a PIN under the certificate's row lock and stores what it counts; the refusal,
    if any. The caller's transaction keeps the count even when it refuses."""
    checked = check_pin(found.certificate, matches, field)
    if checked.wrong_pins is not None:
        await store.set_certificate_wrong_pins(
            found.certificate.id, checked.wrong_pins, checked.blocks, now
        )
    if checked.refused is None:
        return None
    refused = checked.refused
    return refuse(refused.rejection, refused.detail, field=refused.field)


async def no_serialization(store: Store) -> None:
    """The certificate's row lock, taken by the load, is all the serialization it needs."""


async def store_answer(store: Store, answer: Answer) -> bool:
    return await store.store_answer(answer.key_id, answer.key, answer.fingerprint, answer.response)


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


def expiry_write(certificate: Certificate, amount: int, now: datetime) -> CertificateWrite:
    """Closes an expired certificate: its balance burns to breakage. (One with nothing left is
    only closed: an entry is never zero.)"""
    return CertificateWrite(
        id=uuid4(),
        program_id=certificate.program_id,
        certificate_id=certificate.id,
        type=CertificateOperationType.expiry,
        amount_minor=amount,
        balance_after=0,
        status=CertificateStatus.expired,
        entries=(("certificate", -amount), ("certificates_breakage", amount)),
        created_at=now,
        channel="system",
        event_type=CertificateEvent.expired,
        event_payload=event_payload(certificate, "expiry", amount, 0, now),
    )
