"""Wire structs of gift certificates (decision 0033): money in the program's currency, integer
minor units. Operators issue, sell, list, read and unblock them; tills and web shops look them
up by number and PIN and pay receipts with them."""

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from msgspec import Meta

from schemas.base import Reply, Request, StoreId, Timestamp, whole

# limits.certificate_nominal_minor_max, certificate_batch_max, certificate_pin_digits and
# certificates_per_receipt_max (tests/unit/test_certificates.py holds the two together).
NominalMinor = Annotated[
    int,
    Meta(ge=1, le=100_000_000_000, description="A certificate's value in minor units."),
]
CertificateNumber = Annotated[
    str,
    Meta(
        pattern=whole("[0-9]{16}"),
        description="16 digits: 15 random and a Luhn check digit.",
    ),
]
Pin = Annotated[str, Meta(pattern=whole("[0-9]{8}"), description="The certificate's 8-digit PIN.")]
CertificateStateName = Literal["issued", "active", "spent", "blocked", "expired"]


class CertificateIssue(Request, frozen=True, kw_only=True):
    """``count`` certificates of one nominal and expiry; ``sell`` sells them at once (a gift
    from the program). Their PINs are in this answer only."""

    nominal_minor: NominalMinor
    expires_at: Timestamp
    count: Annotated[int, Meta(ge=1, le=1000)] = 1
    store_id: StoreId | None = None
    sell: bool = False


class CertificateSell(Request, frozen=True, kw_only=True):
    """The sale that activates an issued certificate; the store that sold it, if any."""

    store_id: StoreId | None = None


class Certificate(Reply, frozen=True, kw_only=True):
    id: UUID
    number: str
    currency: str
    nominal_minor: int
    balance_minor: int
    state: CertificateStateName
    wrong_pins: int  # wrong PINs in a row: at 5 it is blocked
    expires_at: datetime
    store_id: str | None
    issued_at: datetime
    activated_at: datetime | None


class IssuedCertificate(Certificate, frozen=True, kw_only=True):
    pin: str | None  # in the issue's answer only; a replay answers null


class CertificateBatch(Reply, frozen=True, kw_only=True):
    batch_id: UUID
    certificates: list[IssuedCertificate]


class CertificatePage(Reply, frozen=True, kw_only=True):
    items: list[Certificate]
    next_cursor: str | None


class CertificateOperation(Reply, frozen=True, kw_only=True):
    id: UUID
    seq: int
    type: Literal["sale", "redemption", "refund", "expiry"]
    amount_minor: int
    balance_after: int
    ledger_operation_id: UUID | None  # the purchase it paid, or the return that refunded it
    refund_of: UUID | None
    refunded_minor: int
    document_id: str | None
    store_id: str | None
    key_id: UUID | None
    channel: str
    created_at: datetime


class CertificateStatement(Reply, frozen=True, kw_only=True):
    items: list[CertificateOperation]
    next_cursor: str | None


class CertificateLookup(Request, frozen=True, kw_only=True):
    number: CertificateNumber
    pin: Pin


class CertificateBalance(Reply, frozen=True, kw_only=True):
    number: str
    currency: str
    balance_minor: int
    nominal_minor: int
    expires_at: datetime
    state: CertificateStateName


class CertificateLiability(Reply, frozen=True, kw_only=True):
    program_id: UUID
    currency: str
    sold_minor: int
    redeemed_minor: int
    breakage_minor: int
    outstanding_minor: int


class CertificatePayment(Request, frozen=True, kw_only=True):
    """A certificate paying part of a receipt: ``amount_minor`` up to its balance."""

    number: CertificateNumber
    pin: Pin
    amount_minor: NominalMinor


# At most limits.certificates_per_receipt_max certificates pay one receipt.
CertificatePayments = Annotated[list[CertificatePayment], Meta(min_length=1, max_length=5)]


class CertificateRefunded(Reply, frozen=True, kw_only=True):
    """What a return gave back to one certificate, and what it holds after."""

    number: str
    amount_minor: int
    balance_after: int


class CertificatePaid(Reply, frozen=True, kw_only=True):
    """What one certificate paid for a receipt, and what it holds after."""

    number: str
    amount_minor: int
    balance_after: int
