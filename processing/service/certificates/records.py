"""What gift certificates' use cases answer with (decision 0033): the records the wire schemas
are converted from, and the rendering that shows an issue's PINs once."""

from datetime import datetime
from uuid import UUID

import msgspec

from processing.core.certificates import Certificate, CertificateState
from processing.service.mutations import Render
from processing.service.ports import CertificateOperationRow
from processing.service.records import Outcome, Refused, StoredResponse


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


class LiabilityRecord(msgspec.Struct, frozen=True, kw_only=True):
    program_id: UUID
    currency: str
    sold_minor: int  # nominal of every certificate sold
    redeemed_minor: int  # paid for receipts, less what returns gave back
    breakage_minor: int  # burned at expiry
    outstanding_minor: int  # what sold certificates still hold: the liability
