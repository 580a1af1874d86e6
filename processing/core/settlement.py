"""Coalition settlement (decision 0026): who owes whom for points earned at one party's stores
and redeemed at another's, in a closed period.

A party is a merchant of the program, or the program itself (``None``): stores assigned to no
merchant, and operations made at no store (a web shop, a CRM, an operator, a bonus, an import).
Each line of a statement moves points from the party that earned them (its payable) to the
party whose store redeemed them (its receivable); a refund that gives redeemed points back is
a line with negative points. The money of a line is its points times the point value of the
rules version its redemption was priced with: a point is a whole number of minor units, so the
product is exact and no rounding is needed (``exact_minor``, the named rule). Every line adds
the same amount to one party's receivable and another's payable, so the nets of a statement
sum to zero: ``party_totals`` asserts it.
"""

from collections.abc import Iterable, Mapping
from datetime import date, datetime
from uuid import UUID

import msgspec

from processing.core import limits
from processing.core.invariants import invariant
from processing.core.model import Rejected, reject
from processing.core.rejections import Rejection

# The program's own side of a statement: stores of no merchant, operations of no store.
program_side: UUID | None = None


class SettlementLine(msgspec.Struct, frozen=True, kw_only=True):
    """What one operation moved from the earning party to the redeeming one."""

    operation_id: UUID
    operation_type: str
    refund_of: UUID | None
    created_at: datetime
    store_id: str | None
    merchant_id: UUID | None
    earning_store_id: str | None
    earning_merchant_id: UUID | None
    points: int
    point_value_minor: int
    money_minor: int


class PartyTotal(msgspec.Struct, frozen=True, kw_only=True):
    merchant_id: UUID | None
    merchant_name: str | None
    receivable_points: int
    payable_points: int
    receivable_minor: int
    payable_minor: int
    net_minor: int


def exact_minor(points: int, point_value_minor: int) -> int:
    """The money of ``points`` at a point value in whole minor units: exact, never rounded."""
    invariant(point_value_minor > 0, "a point is worth something")
    return points * point_value_minor


def check_period(start: date, end: date) -> Rejected | None:
    """A period of whole local days [start, end): in the years a client may send, ending after
    it starts, at most ``settlement_period_days_max`` days long."""
    if start.year < limits.timestamp_year_min:
        return reject(
            Rejection.validation_error,
            f"from must be in {limits.timestamp_year_min} or later.",
            field="from",
        )
    if end.year > limits.timestamp_year_max:
        return reject(
            Rejection.validation_error,
            f"to must be in {limits.timestamp_year_max} or earlier.",
            field="to",
        )
    if start >= end:
        return reject(
            Rejection.validation_error,
            "to must be after from: the period is [from, to), to excluded.",
            field="to",
        )
    days = (end - start).days
    if days > limits.settlement_period_days_max:
        return reject(
            Rejection.validation_error,
            f"The period holds {days} days; a statement closes at most "
            f"{limits.settlement_period_days_max} (settlement_period_days_max).",
            field="to",
        )
    return None


def check_ended(ends_at: datetime, now: datetime, time_zone: str) -> Rejected | None:
    """Only a period that has ended is closed: an operation made after its statement would be
    in no statement."""
    if ends_at > now:
        return reject(
            Rejection.validation_error,
            f"The period has not ended yet: it ends at {ends_at.isoformat()} "
            f"(midnight in the program's time zone, {time_zone}).",
            field="to",
        )
    return None


def check_line_count(count: int) -> Rejected | None:
    if count > limits.settlement_lines_max:
        return reject(
            Rejection.validation_error,
            f"The period holds more than {limits.settlement_lines_max} settlement lines "
            "(settlement_lines_max): close it as shorter periods.",
            field="to",
        )
    return None


def party_totals(
    lines: Iterable[SettlementLine], merchants: Mapping[UUID, str]
) -> list[PartyTotal]:
    """Each party's receivable, payable and net: every merchant of ``merchants`` (by name, then
    id), then the program's own side. The nets sum to zero."""
    receivable: dict[UUID | None, list[int]] = {}
    payable: dict[UUID | None, list[int]] = {}
    for line in lines:
        invariant(line.merchant_id != line.earning_merchant_id, "a line is between two parties")
        _add(receivable, line.merchant_id, line.points, line.money_minor)
        _add(payable, line.earning_merchant_id, line.points, line.money_minor)
    order: list[UUID] = sorted(merchants, key=lambda found: (merchants[found], found))
    order += sorted(
        party for party in {*receivable, *payable} if party is not None and party not in merchants
    )
    totals = [_total(party, merchants.get(party), receivable, payable) for party in order]
    totals.append(_total(program_side, None, receivable, payable))
    invariant(sum(total.net_minor for total in totals) == 0, "a statement balances to zero")
    return totals


def _add(sums: dict[UUID | None, list[int]], party: UUID | None, points: int, money: int) -> None:
    found = sums.setdefault(party, [0, 0])
    found[0] += points
    found[1] += money


def _total(
    party: UUID | None,
    name: str | None,
    receivable: Mapping[UUID | None, list[int]],
    payable: Mapping[UUID | None, list[int]],
) -> PartyTotal:
    got = receivable.get(party, [0, 0])
    owed = payable.get(party, [0, 0])
    return PartyTotal(
        merchant_id=party,
        merchant_name=name,
        receivable_points=got[0],
        payable_points=owed[0],
        receivable_minor=got[1],
        payable_minor=owed[1],
        net_minor=got[1] - owed[1],
    )


def seen_by(lines: Iterable[SettlementLine], merchant_id: UUID | None) -> list[SettlementLine]:
    """The lines a merchant's key sees: those where its merchant earned or redeemed."""
    return [line for line in lines if merchant_id in (line.merchant_id, line.earning_merchant_id)]
