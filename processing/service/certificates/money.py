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
from processing.service.ports import CertificateWrite, PinKeys, Store, StoredCertificate
from processing.service.records import Actor, Refused, refuse


def pin_digest(key: bytes, certificate_id: UUID, pin: str) -> bytes:
    """HMAC-SHA256 under a server-side key: a leaked row does not give its PIN up to a search
    of every PIN, as a bare hash would."""
    return hmac.new(key, certificate_id.bytes + pin.encode(), hashlib.sha256).digest()


def pin_matches(keys: PinKeys, stored: StoredCertificate, pin: str) -> bool:
    key = keys.certificate_pin_key(stored.pin_key_id)
    return key is not None and hmac.compare_digest(
        stored.pin_hmac, pin_digest(key, stored.certificate.id, pin)
    )


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
