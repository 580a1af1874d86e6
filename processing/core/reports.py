"""Reports on what the ledger moved (decision 0025): the rollups' sums per operation type folded
into the figures an accountant reads, the rates over a window, and the liability.

The rollups keep, per operation type, what its operations credited to and debited from
customers' accounts (the customer side of their entries). Each type's credit and debit is one
figure, so the figures always add up to the net change of what customers hold:

    net = issued - redeemed - clawed_back + returned - expired + adjusted + opening
          + transferred - donated + other

``transferred`` is a merge (one customer's lots moved to another: zero over the program),
``donated`` the points customers gave to the program's charities (decision 0034),
``other`` a type this module does not know yet (zero today; a later operation type that
moves points is reported there until it gets a figure of its own)."""

from collections.abc import Iterable
from enum import StrEnum

import msgspec

from processing.core.model import OperationType

basis_points = 10_000


class Period(StrEnum):
    day = "day"
    week = "week"  # ISO weeks: Monday first
    month = "month"


class Grouping(StrEnum):
    none = "none"
    store = "store"
    channel = "channel"


class TypeSums(msgspec.Struct, frozen=True, kw_only=True):
    """One operation type's rollup over some days: how many operations, what they credited
    (>= 0) and debited (<= 0) on customers' accounts."""

    type: str
    operations: int
    credited: int
    debited: int


class PointFigures(msgspec.Struct, frozen=True, kw_only=True):
    issued: int = 0  # earned by purchases and given by accruals (bonuses, campaigns, CRM deals)
    redeemed: int = 0  # spent: commits of holds and purchases paid with points
    clawed_back: int = 0  # taken back by refunds and returns of what earned them
    returned: int = 0  # given back by refunds and returns of what spent them
    expired: int = 0
    adjusted: int = 0  # operators' corrections, signed
    opening: int = 0  # balances carried over by an import
    transferred: int = 0  # merges, signed per store; zero over the program
    donated: int = 0  # given to the program's charities (decision 0034)
    other: int = 0
    net: int = 0
    operations: int = 0


# The figure an operation type's signed movement counts in, and with which sign. Purchases,
# accruals and refunds move points both ways, so their credit and debit are figures apart.
_credit_figure: dict[str, tuple[str, int]] = {
    OperationType.accrual: ("issued", 1),
    OperationType.purchase: ("issued", 1),
    OperationType.refund: ("returned", 1),
}
_debit_figure: dict[str, tuple[str, int]] = {
    OperationType.accrual: ("clawed_back", -1),
    OperationType.purchase: ("redeemed", -1),
    OperationType.refund: ("clawed_back", -1),
}
_net_figure: dict[str, tuple[str, int]] = {
    OperationType.commit: ("redeemed", -1),
    OperationType.expire: ("expired", -1),
    OperationType.adjustment: ("adjusted", 1),
    OperationType.opening: ("opening", 1),
    OperationType.merge: ("transferred", 1),
    OperationType.donation: ("donated", -1),
    # A hold moves no points: its operations are counted, its figures stay zero.
    OperationType.reserve: ("other", 1),
    OperationType.cancel: ("other", 1),
}


def fold(sums: Iterable[TypeSums]) -> PointFigures:
    """The figures of the given rollup sums, whatever their types."""
    totals = dict.fromkeys(PointFigures.__struct_fields__, 0)
    for item in sums:
        if item.type in _credit_figure:
            figure, sign = _credit_figure[item.type]
            totals[figure] += sign * item.credited
            figure, sign = _debit_figure[item.type]
            totals[figure] += sign * item.debited
        else:
            figure, sign = _net_figure.get(item.type, ("other", 1))
            totals[figure] += sign * (item.credited + item.debited)
        totals["net"] += item.credited + item.debited
        totals["operations"] += item.operations
    return PointFigures(**totals)


def rate_bp(part: int, whole: int) -> int | None:
    """``part`` of ``whole`` in basis points, rounded half up; None when the whole is zero."""
    if whole <= 0:
        return None
    return (2 * part * basis_points + whole) // (2 * whole)


def outstanding_value_minor(points: int, point_value_minor: int) -> int:
    """What ``points`` are worth in money: exact, since both are integers."""
    return points * point_value_minor
