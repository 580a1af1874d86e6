"""Gift certificates' PINs and money operations (decision 0033): a PIN checked against its
HMAC and counted under the certificate's row lock, and the money operations a sale and an
expiry write, with their outbox events."""

import hashlib
import hmac
from datetime import datetime
from uuid import UUID, uuid4

from processing.core.certificates import (
    Certificate,
    CertificateEvent,
    CertificateOperationType,
    CertificateStatus,
    check_pin,
)
from processing.core.invariants import InvariantViolation
from processing.core.rejections import Rejection
from processing.service.ports import CertificateWrite, PinKeys, Store, StoredCertificate
from processing.service.records import Actor, Refused, refuse


def pin_digest(key: bytes, certificate_id: UUID, pin: str) -> bytes:
    """HMAC-SHA256 under a server-side key: a leaked row does not give its PIN up to a search
    of every PIN, as a bare hash would."""
    return hmac.new(key, certificate_id.bytes + pin.encode(), hashlib.sha256).digest()


def current_pin_key(keys: PinKeys) -> bytes:
    """The key new PINs are kept under: derived from the current master key, always in the
    ring."""
    key = keys.certificate_pin_key(keys.current_id)
    if key is None:
        raise InvariantViolation("the current master key is in the ring")
    return key


async def try_pin(
    store: Store, keys: PinKeys, found: StoredCertificate, pin: str, field: str, now: datetime
) -> Refused | None:
    """Checks a PIN under the certificate's row lock and stores what it counts; the refusal,
    if any. The caller's transaction keeps the count even when it refuses.

    A PIN kept under a master key no longer in the ring cannot be checked: that is the
    server's fault, so it counts nothing and answers 503 (else every certificate issued before
    a rotation would block itself on its right PIN). A right PIN kept under an older key is
    kept again under the current one, so certificates in use leave the old key behind."""
    certificate = found.certificate
    key = keys.certificate_pin_key(found.pin_key_id)
    if key is None:
        return refuse(
            Rejection.certificate_pin_key_missing,
            f"Certificate {certificate.number}'s PIN is kept under secrets key "
            f"{found.pin_key_id}, which is no longer configured; nothing was counted.",
            field=field,
        )
    matches = hmac.compare_digest(found.pin_hmac, pin_digest(key, certificate.id, pin))
    checked = check_pin(certificate, matches, field)
    if checked.wrong_pins is not None:
        await store.set_certificate_wrong_pins(
            certificate.id, checked.wrong_pins, checked.blocks, now
        )
    if checked.refused is not None:
        refused = checked.refused
        return refuse(refused.rejection, refused.detail, field=refused.field)
    if found.pin_key_id != keys.current_id:
        await store.rekey_certificate_pin(
            certificate.id, pin_digest(current_pin_key(keys), certificate.id, pin), keys.current_id
        )
    return None


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
