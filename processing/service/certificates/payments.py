"""Gift certificates at checkout (decision 0033): paying a receipt with them, and a return by
line giving their share back, in the same transaction as the purchase or the return.

The checkout's locked turn calls ``prepare`` after it locked the customer's account and before
it loads: the certificates a request names are locked (in id order, so tills paying with the
same certificates never wait on each other in a circle), their PINs checked and counted, and
what the decision needs is kept for it. The decision is the core's; ``then`` writes the
redemptions (or refunds) after the purchase's (or return's) operation, naming it. A refusal
writes nothing of the purchase; only a wrong PIN is counted, as a lookup counts it.
"""

from datetime import datetime
from uuid import UUID, uuid4

import msgspec

from processing.core.certificates import (
    Certificate,
    CertificateEvent,
    CertificateOperationType,
    CertificateStatus,
    Payment,
    Redemption,
    decide_certificate_refunds,
    decide_payments,
    is_certificate_number,
)
from processing.core.model import Rejected
from processing.core.rejections import Rejection
from processing.service.certificates.money import event_payload, try_pin
from processing.service.ports import CertificateWrite, PinKeys, Store
from processing.service.records import Actor, CertificateRefund, Refused, refuse


class CertificateRequest(msgspec.Struct, frozen=True, kw_only=True):
    """A certificate offered to pay ``amount_minor`` of a receipt."""

    number: str
    pin: str
    amount_minor: int


class Prepared(msgspec.Struct, kw_only=True):
    """What ``prepare`` found under the locks, for the decision and the write after it."""

    requested: tuple[tuple[Certificate, int], ...] = ()
    refused: Refused | None = None
    payments: tuple[Payment, ...] = ()
    certificates: dict[UUID, Certificate] = msgspec.field(default_factory=dict)
    redemptions: tuple[Redemption, ...] = ()


async def lock_for_payment(
    store: Store,
    keys: PinKeys,
    program_id: UUID | None,
    requests: tuple[CertificateRequest, ...],
) -> Prepared:
    """The certificates named, locked, their PINs checked (a wrong one counted): the pairs to
    decide on, or the refusal naming the first that failed."""
    for index, request in enumerate(requests):
        if program_id is None or not is_certificate_number(request.number):
            return Prepared(refused=unknown(index, request.number))
    if program_id is None:
        return Prepared()  # no request: nothing to lock
    numbers = [request.number for request in requests]
    locked = await store.lock_certificates_by_number(program_id, numbers)
    now = await store.clock_now()
    by_number = {found.certificate.number: found for found in locked}
    pairs: list[tuple[Certificate, int]] = []
    for index, request in enumerate(requests):
        found = by_number.get(request.number)
        if found is None:
            return Prepared(refused=unknown(index, request.number))
        refused = await try_pin(store, keys, found, request.pin, f"certificates[{index}].pin", now)
        if refused is not None:
            return Prepared(refused=refused)
        pairs.append((found.certificate, request.amount_minor))
    return Prepared(requested=tuple(pairs))


def unknown(index: int, number: str) -> Refused:
    return refuse(
        Rejection.certificate_not_found,
        f"No certificate {number} in this program.",
        field=f"certificates[{index}].number",
    )


def decide_prepared(prepared: Prepared, now: datetime) -> tuple[Payment, ...] | Refused:
    if prepared.refused is not None:
        return prepared.refused
    decided = decide_payments(prepared.requested, now)
    if isinstance(decided, Rejected):
        return refuse(decided.rejection, decided.detail, field=decided.field)
    return decided


def redemption_writes(
    prepared: Prepared,
    actor: Actor,
    purchase_id: UUID,
    document_id: str | None,
    now: datetime,
) -> list[CertificateWrite]:
    certificates = {certificate.id: certificate for certificate, _ in prepared.requested}
    writes = []
    for payment in prepared.payments:
        if payment.amount_minor == 0:
            continue
        certificate = certificates[payment.certificate_id]
        writes.append(
            CertificateWrite(
                id=uuid4(),
                program_id=certificate.program_id,
                certificate_id=certificate.id,
                type=CertificateOperationType.redemption,
                amount_minor=payment.amount_minor,
                balance_after=payment.balance_after,
                status=CertificateStatus.active,
                entries=(
                    ("certificate", -payment.amount_minor),
                    ("certificates_redeemed", payment.amount_minor),
                ),
                created_at=now,
                channel=actor.channel,
                key_id=actor.key_id,
                store_id=actor.store_id,
                document_id=document_id,
                ledger_operation_id=purchase_id,
                event_type=CertificateEvent.redeemed,
                event_payload=event_payload(
                    certificate,
                    "redemption",
                    payment.amount_minor,
                    payment.balance_after,
                    now,
                    purchase_id=str(purchase_id),
                ),
            )
        )
    return writes


async def lock_for_refund(store: Store, purchase_id: UUID) -> Prepared:
    """The certificates that paid for a purchase, locked, with their redemptions as they are
    under the locks."""
    first = await store.certificate_redemptions(purchase_id)
    if not first:
        return Prepared()
    locked = await store.lock_certificates(sorted({r.certificate_id for r in first}))
    redemptions = await store.certificate_redemptions(purchase_id)
    return Prepared(
        certificates={found.certificate.id: found.certificate for found in locked},
        redemptions=tuple(redemptions),
    )


def decide_refunds(prepared: Prepared, amount_minor: int) -> tuple[CertificateRefund, ...]:
    """What a return gives back to each certificate (``decide_certificate_refunds``), with the
    balance each is left with. A certificate already closed by its expiry takes nothing: its
    share goes to breakage (the refund passes through it to the breakage account)."""
    refunds = decide_certificate_refunds(prepared.redemptions, amount_minor)
    balances = {cid: c.balance_minor for cid, c in prepared.certificates.items()}
    told = []
    for refund in refunds:
        certificate = prepared.certificates[refund.certificate_id]
        if certificate.status is CertificateStatus.active:
            balances[certificate.id] += refund.amount_minor
        told.append(
            CertificateRefund(
                number=certificate.number,
                amount_minor=refund.amount_minor,
                balance_after=balances[certificate.id],
            )
        )
    return tuple(told)


def refund_writes(
    prepared: Prepared,
    amount_minor: int,
    actor: Actor,
    refund_id: UUID,
    document_id: str | None,
    now: datetime,
) -> list[CertificateWrite]:
    writes = []
    balances = {cid: c.balance_minor for cid, c in prepared.certificates.items()}
    for refund in decide_certificate_refunds(prepared.redemptions, amount_minor):
        certificate = prepared.certificates[refund.certificate_id]
        amount = refund.amount_minor
        closed = certificate.status is not CertificateStatus.active
        if not closed:
            balances[certificate.id] += amount
        entries = (
            (("certificates_breakage", amount), ("certificates_redeemed", -amount))
            if closed
            else (("certificate", amount), ("certificates_redeemed", -amount))
        )
        writes.append(
            CertificateWrite(
                id=uuid4(),
                program_id=certificate.program_id,
                certificate_id=certificate.id,
                type=CertificateOperationType.refund,
                amount_minor=amount,
                balance_after=balances[certificate.id],
                status=certificate.status,
                entries=entries,
                created_at=now,
                channel=actor.channel,
                key_id=actor.key_id,
                store_id=actor.store_id,
                document_id=document_id,
                ledger_operation_id=refund_id,
                refund_of=refund.redemption_id,
                event_type=CertificateEvent.refunded,
                event_payload=event_payload(
                    certificate,
                    "refund",
                    amount,
                    balances[certificate.id],
                    now,
                    refund_id=str(refund_id),
                ),
            )
        )
    return writes


async def write_all(store: Store, writes: list[CertificateWrite]) -> None:
    for write in writes:
        await store.write_certificate_operation(write)
