"""The pure decisions of gift certificates (decision 0033): numbers with a Luhn check digit,
PINs counted and blocked, what a certificate may pay, how its money spreads over a receipt's
lines and earns nothing, what a return gives back to which certificate, and what expiry burns;
and the wire schema's bounds agreeing with the named limits."""

from datetime import UTC, datetime, timedelta
from uuid import uuid4

import msgspec
import pytest

from processing.core import limits
from processing.core.certificates import (
    Certificate,
    CertificateState,
    CertificateStatus,
    Redemption,
    check_pin,
    decide_certificate_refunds,
    decide_expiry,
    decide_issue,
    decide_payments,
    decide_sale,
    is_certificate_number,
    luhn_check_digit,
    new_number,
    new_pin,
    pay_with_certificates,
)
from processing.core.checkout import calculate
from processing.core.model import Line, Rejected
from processing.core.rejections import Rejection
from processing.core.rules import Rules
from schemas import certificates as wire

now = datetime(2026, 12, 5, 12, tzinfo=UTC)


def certificate(**changed: object) -> Certificate:
    made = Certificate(
        id=uuid4(),
        program_id=uuid4(),
        number=new_number(),
        currency="RUB",
        nominal_minor=100_000,
        balance_minor=100_000,
        status=CertificateStatus.active,
        wrong_pins=0,
        blocked=False,
        expires_at=now + timedelta(days=30),
        store_id=None,
        issued_at=now - timedelta(days=1),
        activated_at=now - timedelta(days=1),
    )
    return msgspec.structs.replace(made, **changed)


def test_numbers_carry_a_luhn_check_digit() -> None:
    assert luhn_check_digit("7992739871") == "3"  # the textbook example
    numbers = {new_number() for _ in range(200)}
    assert len(numbers) == 200
    assert all(is_certificate_number(number) for number in numbers)
    number = next(iter(numbers))
    typo = number[:3] + str((int(number[3]) + 1) % 10) + number[4:]
    assert not is_certificate_number(typo)
    assert not is_certificate_number(number[:-1])
    assert all(len(new_pin()) == limits.certificate_pin_digits for _ in range(20))


def test_the_check_digit_catches_every_typo_and_every_swap_but_09_and_90() -> None:
    """What the number's check digit is claimed to catch, exhaustively on one number: any one
    digit mistyped, and any two neighbours swapped except 0 and 9 (Luhn's known blind spot)."""
    number = "0917283645509912"[:-1]
    number += luhn_check_digit(number)
    assert is_certificate_number(number)
    for index, digit in enumerate(number):
        for other in "0123456789".replace(digit, ""):
            assert not is_certificate_number(number[:index] + other + number[index + 1 :])
    for index in range(len(number) - 1):
        pair = number[index : index + 2]
        swapped = number[:index] + pair[::-1] + number[index + 2 :]
        if pair[0] != pair[1]:
            assert is_certificate_number(swapped) == (pair in ("09", "90")), pair


def test_wrong_pins_count_and_block_at_the_limit() -> None:
    wrong = check_pin(certificate(), False, "pin")
    assert (wrong.wrong_pins, wrong.blocks) == (1, False)
    assert wrong.refused is not None
    assert wrong.refused.rejection is Rejection.certificate_pin_invalid
    last = check_pin(certificate(wrong_pins=limits.certificate_wrong_pins_max - 1), False, "pin")
    assert (last.wrong_pins, last.blocks) == (limits.certificate_wrong_pins_max, True)
    blocked = check_pin(certificate(blocked=True), True, "pin")
    assert blocked.refused is not None
    assert blocked.refused.rejection is Rejection.certificate_blocked
    assert blocked.wrong_pins is None  # a blocked certificate counts nothing more
    right = check_pin(certificate(wrong_pins=3), True, "pin")
    assert (right.refused, right.wrong_pins) == (None, 0)
    untouched = check_pin(certificate(), True, "pin")
    assert (untouched.refused, untouched.wrong_pins) == (None, None)


def test_the_state_a_reader_is_told() -> None:
    assert certificate().state(now) is CertificateState.active
    assert certificate(balance_minor=0).state(now) is CertificateState.spent
    issued = certificate(status=CertificateStatus.issued, balance_minor=0, activated_at=None)
    assert issued.state(now) is CertificateState.issued
    assert certificate(expires_at=now).state(now) is CertificateState.expired
    assert certificate(blocked=True, expires_at=now).state(now) is CertificateState.blocked


@pytest.mark.parametrize(
    ("changed", "amount", "rejection", "field"),
    [
        ({"status": CertificateStatus.issued}, 1, Rejection.certificate_not_active, "number"),
        ({"expires_at": now}, 1, Rejection.certificate_expired, "number"),
        ({}, 100_001, Rejection.certificate_insufficient_balance, "amount_minor"),
    ],
)
def test_a_certificate_that_cannot_pay_is_refused(
    changed: dict[str, object], amount: int, rejection: Rejection, field: str
) -> None:
    refused = decide_payments(((certificate(**changed), amount),), now)
    assert isinstance(refused, Rejected)
    assert (refused.rejection, refused.field) == (rejection, f"certificates[0].{field}")


def test_payments_leave_each_balance_and_refuse_a_certificate_named_twice() -> None:
    first, second = certificate(), certificate(balance_minor=5000)
    paid = decide_payments(((first, 100_000), (second, 2000)), now)
    assert not isinstance(paid, Rejected)
    assert [(p.amount_minor, p.balance_after) for p in paid] == [(100_000, 0), (2000, 3000)]
    twice = decide_payments(((first, 1), (first, 1)), now)
    assert isinstance(twice, Rejected)
    assert (twice.rejection, twice.field) == (Rejection.validation_error, "certificates[1].number")


def test_money_paid_by_certificate_spreads_over_the_lines_and_earns_nothing() -> None:
    rules = msgspec.convert({"point_value_minor": 100, "earning": {"base_bp": 500}}, Rules)
    lines = (
        Line(line_id="a", sku="a", category=None, quantity=1, unit_price_minor=400_000),
        Line(line_id="b", sku="b", category=None, quantity=1, unit_price_minor=600_000),
    )
    priced = calculate(rules, None, lines, 0, 0)
    assert priced.earned_points == 500
    paid = pay_with_certificates(priced, 300_001, rules.point_value_minor)
    assert not isinstance(paid, Rejected)
    assert [line.certificate_minor for line in paid.lines] == [120_000, 180_001]
    assert sum(line.certificate_minor for line in paid.lines) == paid.certificate_minor == 300_001
    assert [line.earned_points for line in paid.lines] == [140, 209]
    assert paid.earned_points == 349
    assert paid.money_minor == priced.money_minor  # money_minor keeps its meaning
    over = pay_with_certificates(priced, 1_000_001, rules.point_value_minor)
    assert isinstance(over, Rejected)
    assert over.rejection is Rejection.certificate_exceeds_receipt
    assert pay_with_certificates(priced, 0, rules.point_value_minor) is priced


def test_a_return_gives_back_to_the_last_certificate_first_never_more_than_it_paid() -> None:
    first = Redemption(
        operation_id=uuid4(), certificate_id=uuid4(), amount_minor=500, refunded_minor=0
    )
    second = Redemption(
        operation_id=uuid4(), certificate_id=uuid4(), amount_minor=300, refunded_minor=100
    )
    refunds = decide_certificate_refunds((first, second), 400)
    assert [(r.certificate_id, r.amount_minor) for r in refunds] == [
        (second.certificate_id, 200),
        (first.certificate_id, 200),
    ]


def test_issue_sale_and_expiry() -> None:
    assert decide_issue(100, now + timedelta(days=1), now) is None
    past = decide_issue(100, now, now)
    assert isinstance(past, Rejected)
    assert past.rejection is Rejection.expiry_in_past
    far = now + timedelta(days=limits.certificate_validity_days_max + 1)
    assert isinstance(decide_issue(100, far, now), Rejected)
    issued = certificate(status=CertificateStatus.issued, balance_minor=0, activated_at=None)
    assert decide_sale(issued, now) is None
    sold_twice = decide_sale(certificate(), now)
    assert isinstance(sold_twice, Rejected)
    assert isinstance(decide_sale(msgspec.structs.replace(issued, expires_at=now), now), Rejected)
    assert decide_expiry(certificate(), now) is None
    assert decide_expiry(certificate(expires_at=now, balance_minor=700), now) == 700
    assert decide_expiry(certificate(expires_at=now, status=CertificateStatus.expired), now) is None


def test_the_wire_bounds_are_the_named_limits() -> None:
    def bounds(kind: object) -> msgspec.Meta:
        metadata = getattr(kind, "__metadata__", ())
        return next(item for item in metadata if isinstance(item, msgspec.Meta))

    assert bounds(wire.NominalMinor).le == limits.certificate_nominal_minor_max
    assert bounds(wire.CertificatePayments).max_length == limits.certificates_per_receipt_max
    assert f"[0-9]{{{limits.certificate_pin_digits}}}" in (bounds(wire.Pin).pattern or "")
    count = wire.CertificateIssue.__annotations__["count"]
    assert bounds(count).le == limits.certificate_batch_max
