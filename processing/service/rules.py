"""A program's rules as the use cases read them: the current version, or the one an operation
recorded (version 0 is the defaults of a program never given rules); a customer's standing
under them (the money that ranks a tier); and the check every receipt passes."""

from datetime import timedelta
from uuid import UUID

from processing.core import limits
from processing.core.model import Line
from processing.core.rejections import Rejection
from processing.core.rules import Rules
from processing.service.ports import LockedAccount, LoyaltyStore, Store
from processing.service.records import Refused, RulesRecord, Standing, refuse


def defaults(program_id: UUID) -> RulesRecord:
    return RulesRecord(program_id=program_id, version=0, rules=Rules(), created_at=None)


async def current_rules(store: LoyaltyStore, program_id: UUID) -> RulesRecord:
    found = await store.current_rules(program_id)
    return found or defaults(program_id)


def check_receipt(lines: tuple[Line, ...]) -> Refused | None:
    """A receipt every use case can price and store: unique line ids, no line below zero, and
    money within the named limits, so no sum over a customer's purchases can overflow."""
    seen: set[str] = set()
    for index, line in enumerate(lines):
        if line.line_id in seen:
            return refuse(
                Rejection.validation_error,
                f"line_id {line.line_id!r} appears twice.",
                field=f"lines[{index}].line_id",
            )
        seen.add(line.line_id)
        refused = check_line(index, line)
        if refused is not None:
            return refused
    total = sum(line.amount_minor for line in lines)
    if total > limits.receipt_total_minor_max:
        return refuse(
            Rejection.validation_error,
            f"The receipt's total {total} exceeds {limits.receipt_total_minor_max} minor units.",
            field="lines",
        )
    return None


def check_line(index: int, line: Line) -> Refused | None:
    """One line's money within bounds; partners' lines get here without our wire schema."""
    bounds = (
        ("quantity", line.quantity, 1, limits.receipt_line_quantity_max),
        ("unit_price_minor", line.unit_price_minor, 0, limits.money_minor_max),
        ("discount_minor", line.discount_minor, 0, limits.money_minor_max),
    )
    for name, value, low, high in bounds:
        if not low <= value <= high:
            return refuse(
                Rejection.validation_error,
                f"{name} must lie between {low} and {high}.",
                field=f"lines[{index}].{name}",
            )
    if line.quantity * line.unit_price_minor > limits.line_total_minor_max:
        return refuse(
            Rejection.validation_error,
            f"quantity × unit_price_minor exceeds {limits.line_total_minor_max} minor units.",
            field=f"lines[{index}]",
        )
    if line.amount_minor < 0:
        return refuse(
            Rejection.validation_error,
            "discount_minor exceeds quantity × unit_price_minor.",
            field=f"lines[{index}].discount_minor",
        )
    return None


async def standing_of(store: LoyaltyStore, locked: LockedAccount, rules: Rules) -> Standing:
    """Money the customer paid over the rules' tier window up to now, the manual tier and the
    paid membership."""
    since = locked.now - timedelta(days=rules.tier_window_days)
    spend, floor, membership = await store.tier_inputs(locked.account.id, since)
    return Standing(spend_minor=spend, tier_floor=floor, membership=membership)


async def standing_now(store: Store, locked: LockedAccount) -> tuple[RulesRecord, Standing]:
    """The program's current rules and the customer's standing under them: what every priced
    call (checkout, holds with a basket, purchases, the till's identify) starts from."""
    record = await current_rules(store, locked.program_id)
    return record, await standing_of(store, locked, record.rules)
