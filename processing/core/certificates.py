"""Gift certificates (decision 0033): money, not points, on a money account of their own.

A certificate is issued with a nominal value and an expiry, holds nothing until it is sold
(activated: its account is credited the nominal against the program's ``certificates_sold``),
pays for receipts in minor units alongside points (debited against ``certificates_redeemed``),
takes back the money of returned lines, and burns what is left at its expiry (against
``certificates_breakage``). Numbers are 15 random digits and a Luhn check digit; PINs are
random digits kept only as an HMAC. Wrong PINs in a row block it (``certificate_wrong_pins_max``)
until an operator unblocks it.

Money paid by certificate earns no points: a certificate was bought with money that is not this
receipt's, and earning on it again would pay twice for one sale. Each line earns on what is left
of its money once its share of the certificates is taken off; the shares are spread in
proportion to the lines' money by the largest remainder, as points are.
"""

import secrets
from datetime import datetime
from enum import StrEnum
from uuid import UUID

import msgspec

from processing.core import limits
from processing.core.checkout import Calculation, spread
from processing.core.invariants import invariant
from processing.core.model import Rejected, reject
from processing.core.rejections import Rejection
from processing.core.rules import basis_points_whole

number_random_digits = 15


class CertificateStatus(StrEnum):
    """As stored. What a reader is told (``CertificateState``) also says blocked and spent."""

    issued = "issued"  # made, not sold yet: holds nothing
    active = "active"  # sold: its balance pays
    expired = "expired"  # its balance burned to breakage


class CertificateState(StrEnum):
    issued = "issued"
    active = "active"
    spent = "spent"  # sold and paid out to zero (a return can fill it again)
    blocked = "blocked"  # wrong PINs in a row: nothing works until an operator unblocks it
    expired = "expired"


class CertificateEvent(StrEnum):
    """The outbox events of certificates' money operations. They name no customer (a
    certificate is anyone's who holds it), so no trigger messages on them; webhooks carry
    them."""

    sold = "certificate.sold"
    redeemed = "certificate.redeemed"
    refunded = "certificate.refunded"
    expired = "certificate.expired"


class CertificateOperationType(StrEnum):
    sale = "sale"
    redemption = "redemption"
    refund = "refund"
    expiry = "expiry"


class Certificate(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    program_id: UUID
    number: str
    currency: str  # the program's: minor units of it
    nominal_minor: int
    balance_minor: int
    status: CertificateStatus
    wrong_pins: int
    blocked: bool
    expires_at: datetime
    store_id: str | None
    issued_at: datetime
    activated_at: datetime | None

    def is_expired(self, now: datetime) -> bool:
        return self.status is CertificateStatus.expired or self.expires_at <= now

    def state(self, now: datetime) -> CertificateState:
        if self.blocked:
            return CertificateState.blocked
        if self.is_expired(now):
            return CertificateState.expired
        if self.status is CertificateStatus.issued:
            return CertificateState.issued
        return CertificateState.active if self.balance_minor > 0 else CertificateState.spent


def luhn_check_digit(digits: str) -> str:
    """The digit that makes ``digits`` + it pass the Luhn check: one wrong digit, or two
    neighbours swapped (but 0 and 9), is caught before any lookup."""
    total = 0
    for index, digit in enumerate(reversed(digits)):
        value = int(digit) * (2 if index % 2 == 0 else 1)
        total += value - 9 if value > 9 else value
    return str((10 - total % 10) % 10)


def is_certificate_number(number: str) -> bool:
    return (
        len(number) == number_random_digits + 1
        and number.isdigit()
        and luhn_check_digit(number[:-1]) == number[-1]
    )


def new_number() -> str:
    body = f"{secrets.randbelow(10**number_random_digits):0{number_random_digits}d}"
    return body + luhn_check_digit(body)


def new_pin() -> str:
    digits = limits.certificate_pin_digits
    return f"{secrets.randbelow(10**digits):0{digits}d}"


class PinCheck(msgspec.Struct, frozen=True, kw_only=True):
    """A PIN tried: the refusal, if any, and the count of wrong PINs in a row to store (None:
    unchanged); ``blocks`` when this try reaches the limit."""

    refused: Rejected | None
    wrong_pins: int | None = None
    blocks: bool = False


def check_pin(certificate: Certificate, pin_matches: bool, field: str) -> PinCheck:
    """A blocked certificate refuses every PIN and counts none; a wrong PIN counts, and the
    ``certificate_wrong_pins_max``-th in a row blocks it; a right one clears the count."""
    if certificate.blocked:
        return PinCheck(
            refused=reject(
                Rejection.certificate_blocked,
                f"Certificate {certificate.number} is blocked after "
                f"{limits.certificate_wrong_pins_max} wrong PINs; an operator can unblock it.",
                field=field,
            )
        )
    if not pin_matches:
        wrong = certificate.wrong_pins + 1
        left = limits.certificate_wrong_pins_max - wrong
        return PinCheck(
            refused=reject(
                Rejection.certificate_pin_invalid,
                f"Wrong PIN for certificate {certificate.number}; "
                + (f"{left} tries left before it is blocked." if left else "it is now blocked."),
                field=field,
            ),
            wrong_pins=wrong,
            blocks=left <= 0,
        )
    return PinCheck(refused=None, wrong_pins=0 if certificate.wrong_pins else None)


def check_usable(certificate: Certificate, now: datetime, field: str) -> Rejected | None:
    """After its PIN: a certificate pays only once sold and before its expiry."""
    if certificate.status is CertificateStatus.issued:
        return reject(
            Rejection.certificate_not_active,
            f"Certificate {certificate.number} was issued but not sold.",
            field=field,
        )
    if certificate.is_expired(now):
        return reject(
            Rejection.certificate_expired,
            f"Certificate {certificate.number} expired at {certificate.expires_at.isoformat()}.",
            field=field,
        )
    return None


def decide_issue(nominal_minor: int, expires_at: datetime, now: datetime) -> Rejected | None:
    invariant(0 < nominal_minor <= limits.certificate_nominal_minor_max, "nominal in bounds")
    if expires_at <= now:
        return reject(Rejection.expiry_in_past, "expires_at must be in the future.", "expires_at")
    if (expires_at - now).days > limits.certificate_validity_days_max:
        return reject(
            Rejection.validation_error,
            f"A certificate expires at most {limits.certificate_validity_days_max} days ahead.",
            field="expires_at",
        )
    return None


def decide_sale(certificate: Certificate, now: datetime) -> Rejected | None:
    """A certificate is sold once, before its expiry; its account gets the nominal."""
    if certificate.status is not CertificateStatus.issued:
        return reject(
            Rejection.duplicate_document, f"Certificate {certificate.number} was sold already."
        )
    if certificate.is_expired(now):
        return reject(
            Rejection.certificate_expired,
            f"Certificate {certificate.number} expired at {certificate.expires_at.isoformat()}.",
        )
    return None


class Payment(msgspec.Struct, frozen=True, kw_only=True):
    """What one certificate pays for a receipt, and its balance after."""

    certificate_id: UUID
    number: str
    amount_minor: int
    balance_after: int


def decide_payments(
    requested: tuple[tuple[Certificate, int], ...], now: datetime
) -> tuple[Payment, ...] | Rejected:
    """Certificates paying ``amount`` each (PINs already checked), refused whole when one
    cannot: not sold, expired, short of the amount, or named twice. That they pay no more
    than the receipt's money is ``pay_with_certificates``'s to say, once it is priced."""
    invariant(len(requested) <= limits.certificates_per_receipt_max, "a bounded list")
    seen: set[UUID] = set()
    payments: list[Payment] = []
    for index, (certificate, amount) in enumerate(requested):
        field = f"certificates[{index}]"
        if certificate.id in seen:
            return reject(
                Rejection.validation_error,
                f"Certificate {certificate.number} is named twice.",
                field=f"{field}.number",
            )
        seen.add(certificate.id)
        unusable = check_usable(certificate, now, f"{field}.number")
        if unusable is not None:
            return unusable
        if amount > certificate.balance_minor:
            return reject(
                Rejection.certificate_insufficient_balance,
                f"Certificate {certificate.number}: {amount} to pay, "
                f"{certificate.balance_minor} on it.",
                field=f"{field}.amount_minor",
            )
        payments.append(
            Payment(
                certificate_id=certificate.id,
                number=certificate.number,
                amount_minor=amount,
                balance_after=certificate.balance_minor - amount,
            )
        )
    return tuple(payments)


def pay_with_certificates(
    priced: Calculation, paid_minor: int, point_value_minor: int
) -> Calculation | Rejected:
    """The receipt with ``paid_minor`` of its money paid by certificates: spread over the lines
    by their money, and each line earning on the rest only (money paid by certificate earns no
    points). ``money_minor`` keeps its meaning: what points left to pay; certificates may pay
    all of it, not more."""
    if paid_minor == 0:
        return priced
    if paid_minor > priced.money_minor:
        return reject(
            Rejection.certificate_exceeds_receipt,
            f"Certificates pay {paid_minor}; the receipt leaves {priced.money_minor} to pay "
            "in money.",
            field="certificates",
        )
    shares = spread(paid_minor, [line.money_minor for line in priced.lines])
    lines = tuple(
        msgspec.structs.replace(
            line,
            certificate_minor=share,
            earned_points=(line.money_minor - share)
            * line.earn_bp
            // (basis_points_whole * point_value_minor),
        )
        for line, share in zip(priced.lines, shares, strict=True)
    )
    return msgspec.structs.replace(
        priced,
        lines=lines,
        certificate_minor=paid_minor,
        earned_points=sum(line.earned_points for line in lines),
    )


class Redemption(msgspec.Struct, frozen=True, kw_only=True):
    """A past redemption as a return sees it."""

    operation_id: UUID
    certificate_id: UUID
    amount_minor: int
    refunded_minor: int


class Refund(msgspec.Struct, frozen=True, kw_only=True):
    redemption_id: UUID
    certificate_id: UUID
    amount_minor: int


def decide_certificate_refunds(
    redemptions: tuple[Redemption, ...], amount_minor: int
) -> tuple[Refund, ...]:
    """The certificates' money of returned lines goes back to the certificates that paid, the
    last one named first, never more than each paid less what earlier returns gave it."""
    left = amount_minor
    refunds: list[Refund] = []
    for redemption in reversed(redemptions):
        part = min(left, redemption.amount_minor - redemption.refunded_minor)
        if part <= 0:
            continue
        left -= part
        refunds.append(
            Refund(
                redemption_id=redemption.operation_id,
                certificate_id=redemption.certificate_id,
                amount_minor=part,
            )
        )
    invariant(left == 0, "the redemptions cover what a return gives back")
    return tuple(refunds)


def decide_expiry(certificate: Certificate, now: datetime) -> int | None:
    """An active certificate past its expiry: the balance to burn (0 burns nothing but still
    closes it); None when it is not due."""
    if certificate.status is not CertificateStatus.active or certificate.expires_at > now:
        return None
    return certificate.balance_minor
