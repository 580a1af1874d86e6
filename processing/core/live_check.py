"""The live consistency check's decision (decision 0028): given one account's cached figures
and what its entries, lots, holds and operations say, the differences between them. The
figures are read in one statement (processing/adapters/postgres/sql/live_check.sql); this
module only names what disagrees, so it is the same rule whichever store read them."""

import enum
from datetime import date
from uuid import UUID

import msgspec


class DifferenceKind(enum.StrEnum):
    """What disagrees, named as the checks of ``bonus reconcile`` are."""

    posted = "posted"  # the cached posted balance against the entries or the open lots
    reserved = "reserved"  # the cached reserved points against the lots' held or active holds
    debt = "debt"  # the cached debt against the debt its operations recorded
    lot_entries = "lot_entries"  # a lot's remaining points against its entries
    lot_holds = "lot_holds"  # a lot's held points against the active holds drawing on it
    refunds = "refunds"  # an operation's refunded or returned points against its refunds
    unbalanced_operations = "unbalanced_operations"  # an operation's entries do not sum to 0
    # A program day's report rollups (decision 0025) against that day's operations:
    report_points = "report_points"  # operations, credited, debited by store, channel, type
    report_liability = "report_liability"  # points by earning store and activation day


class LotFigures(msgspec.Struct, frozen=True, kw_only=True):
    lot: UUID
    remaining: int
    entries: int
    held: int
    allocated: int


class RefundFigures(msgspec.Struct, frozen=True, kw_only=True):
    operation: UUID
    refunded_points: int
    refunds: int
    returned_points: int
    returns: int


class OperationTotal(msgspec.Struct, frozen=True, kw_only=True):
    operation: UUID
    total: int


class AccountFigures(msgspec.Struct, frozen=True, kw_only=True):
    """One account as it is cached and as its rows say it should be. The lists hold only the
    lots and operations whose own figures already disagree."""

    account_id: UUID
    posted: int
    entries: int
    lots: int
    reserved: int
    held: int
    active_holds: int
    debt: int
    recorded: int
    lot_differences: list[LotFigures] = []
    refund_differences: list[RefundFigures] = []
    unbalanced_operations: list[OperationTotal] = []


class Difference(msgspec.Struct, frozen=True, kw_only=True):
    account_id: UUID
    kind: DifferenceKind
    figures: dict[str, int | str]


def differences(account: AccountFigures) -> list[Difference]:
    """Every difference of one account, in the order of ``DifferenceKind``."""
    found: list[Difference] = []

    def add(kind: DifferenceKind, **figures: int | str) -> None:
        found.append(Difference(account_id=account.account_id, kind=kind, figures=figures))

    if account.posted != account.entries or account.posted != account.lots:
        add(
            DifferenceKind.posted, posted=account.posted, entries=account.entries, lots=account.lots
        )
    if account.reserved != account.held or account.reserved != account.active_holds:
        add(
            DifferenceKind.reserved,
            reserved=account.reserved,
            held=account.held,
            active_holds=account.active_holds,
        )
    if account.debt != account.recorded:
        add(DifferenceKind.debt, debt=account.debt, recorded=account.recorded)
    for lot in account.lot_differences:
        if lot.remaining != lot.entries:
            add(
                DifferenceKind.lot_entries,
                lot=str(lot.lot),
                remaining=lot.remaining,
                entries=lot.entries,
            )
        if lot.held != lot.allocated:
            add(DifferenceKind.lot_holds, lot=str(lot.lot), held=lot.held, allocated=lot.allocated)
    for refund in account.refund_differences:
        add(
            DifferenceKind.refunds,
            operation=str(refund.operation),
            refunded_points=refund.refunded_points,
            refunds=refund.refunds,
            returned_points=refund.returned_points,
            returns=refund.returns,
        )
    for operation in account.unbalanced_operations:
        add(
            DifferenceKind.unbalanced_operations,
            operation=str(operation.operation),
            total=operation.total,
        )
    return found


class ReportDifference(msgspec.Struct, frozen=True, kw_only=True):
    """One key of a program day's rollups that the day's operations do not add up to: the
    rollup's figures beside the ledger's (``ledger_...``)."""

    program_id: UUID
    day: date
    kind: DifferenceKind
    figures: dict[str, int | str]
