"""Wire structs of the cash-register protocol (``/pos/v1``): a till identifies the customer,
prices the basket, reserves points with a soft cheque, commits with the fiscal cheque or
cancels, and returns lines against the original cheque, always by its own cheque ids. Money is
integer minor units and points integers, as in the rest of the API."""

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

import msgspec
from msgspec import Meta

from schemas.api import Balance, ReturnLine
from schemas.base import (
    CardNumber,
    DocumentId,
    Points,
    Receipt,
    Reply,
    Request,
    Timestamp,
    TtlSeconds,
    whole,
)
from schemas.certificates import CertificatePayments
from schemas.membership import MembershipInForce
from schemas.promo import PromoCodes


class Identifier(Request, frozen=True, kw_only=True):
    """``phone`` as the customer says it; ``card`` as the magnetic stripe or barcode reads it;
    ``qr`` the card number a QR code carries."""

    type: Literal["phone", "card", "qr"]
    value: Annotated[str, Meta(min_length=1, max_length=64)]


class Identify(Request, frozen=True, kw_only=True):
    identifier: Identifier


class TillCustomer(Reply, frozen=True, kw_only=True):
    customer_id: UUID
    name: str | None
    card_number: str | None
    blocked: bool
    tier: str | None
    balance: Balance
    # The paid membership in force (active or in grace) and its privileges (decision 0035).
    membership: MembershipInForce | None = None


class ChequeReserve(Request, frozen=True, kw_only=True):
    """The soft cheque: points held for this basket until the fiscal cheque or the TTL."""

    customer_id: UUID
    points: Points
    lines: Receipt
    ttl_seconds: TtlSeconds | None = None
    card_number: CardNumber | None = None


Digits = Annotated[str, Meta(min_length=1, max_length=32, pattern=whole("[0-9]+"))]


class Fiscal(Request, frozen=True, kw_only=True):
    """The fiscal receipt: its number, the fiscal drive (ФН), document (ФД) and sign (ФП)."""

    receipt_number: Annotated[str, Meta(min_length=1, max_length=64)]
    fn: Digits | None = None
    fd: Digits | None = None
    fp: Digits | None = None
    issued_at: Timestamp | None = None  # when the fiscal receipt was printed


class ChequeCommit(Request, frozen=True, kw_only=True):
    """The fiscal cheque with the final basket. With a reservation: ``points`` at most the
    held ones (all when omitted). Without one: ``customer_id`` names the customer and the cheque
    only earns (how a till that was offline posts its cheques late)."""

    lines: Receipt
    points: Points | None = None
    customer_id: UUID | None = None
    card_number: CardNumber | None = None
    fiscal: Fiscal | None = None
    promo_codes: PromoCodes = msgspec.field(
        default_factory=list
    )  # every one must apply, else 409 promo_code_refused
    # Gift certificates paying part of the money (decision 0033).
    certificates: CertificatePayments | None = None


class ChequeReturn(Request, frozen=True, kw_only=True):
    """A return against the original cheque: its own id (applies once), and the lines."""

    return_id: DocumentId
    lines: Annotated[list[ReturnLine], Meta(min_length=1, max_length=500)]


class SmsSend(Request, frozen=True, kw_only=True):
    """Send a confirmation code to the customer's phone on file."""

    customer_id: UUID


class SmsSent(Reply, frozen=True, kw_only=True):
    check_id: UUID
    customer_id: UUID
    phone: str  # masked, so the cashier can say where the code went
    expires_at: datetime


# limits.sms_code_digits digits (a contract test holds the two together).
Code = Annotated[
    str, Meta(pattern=whole("[0-9]{6}"), description="The 6 digits the customer read out.")
]


class SmsConfirm(Request, frozen=True, kw_only=True):
    code: Code


class SmsConfirmed(Reply, frozen=True, kw_only=True):
    check_id: UUID
    customer_id: UUID
    confirmed_at: datetime
