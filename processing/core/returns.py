"""Returns by line: what a return of some of a purchase's lines takes back, and how the
program's return policy settles points that were already spent.

A line returned in parts never gives back more than it had: each share is the difference of
two cumulative floors, ``floor(total × returned_after / quantity) − floor(total × returned_before
/ quantity)``, so the parts of a fully returned line add up to exactly what it earned (or was
paid with) and no rounding drifts across returns.
"""

import msgspec

from processing.core.checkout import LineResult
from processing.core.model import Rejected, reject
from processing.core.rejections import Rejection
from processing.core.rules import ReturnPolicy


class ReturnedLine(msgspec.Struct, frozen=True, kw_only=True):
    line_id: str
    quantity: int
    earned_points: int  # what this part of the line earned: to claw back
    redeemed_points: int  # what points paid for this part: to give back
    money_minor: int  # what money paid for this part: leaves the tier's spend
    certificate_minor: int = 0  # of that money, what gift certificates paid: goes back to them
    # What the program's discount took off this part (decision 0036): money_minor is the price
    # after it, so a return gives back what was paid, never the price before the discount.
    program_discount_minor: int = 0


class ReturnPlan(msgspec.Struct, frozen=True, kw_only=True):
    lines: tuple[ReturnedLine, ...]

    @property
    def earned_points(self) -> int:
        return sum(line.earned_points for line in self.lines)

    @property
    def redeemed_points(self) -> int:
        return sum(line.redeemed_points for line in self.lines)

    @property
    def money_minor(self) -> int:
        return sum(line.money_minor for line in self.lines)

    @property
    def certificate_minor(self) -> int:
        return sum(line.certificate_minor for line in self.lines)

    @property
    def program_discount_minor(self) -> int:
        return sum(line.program_discount_minor for line in self.lines)


class Settlement(msgspec.Struct, frozen=True, kw_only=True):
    """How a shortfall (points to claw back that the customer no longer has) is settled."""

    debt_points: int = 0
    withhold_minor: int = 0


def share(total: int, before: int, after: int, quantity: int) -> int:
    return total * after // quantity - total * before // quantity


def everything_left(
    lines: tuple[LineResult, ...], returned_before: dict[str, int]
) -> tuple[tuple[str, int], ...]:
    """What returning the whole purchase takes back (a cancelled order): every line's quantity
    that no earlier return took."""
    left = ((line.line_id, line.quantity - returned_before.get(line.line_id, 0)) for line in lines)
    return tuple((line_id, quantity) for line_id, quantity in left if quantity > 0)


def plan_return(
    lines: tuple[LineResult, ...],
    returned_before: dict[str, int],
    requested: tuple[tuple[str, int], ...],
) -> ReturnPlan | Rejected:
    """The parts of a purchase's lines a return takes back; refused whole when a line is
    unknown, named twice, or would be returned beyond what was bought."""
    by_id = {line.line_id: line for line in lines}
    seen: set[str] = set()
    planned: list[ReturnedLine] = []
    for line_id, quantity in requested:
        line = by_id.get(line_id)
        if line is None:
            return reject(Rejection.validation_error, f"The purchase has no line {line_id!r}.")
        if line_id in seen:
            return reject(Rejection.validation_error, f"Line {line_id!r} is named twice.")
        seen.add(line_id)
        before = returned_before.get(line_id, 0)
        after = before + quantity
        if after > line.quantity:
            return reject(
                Rejection.refund_exceeds_original,
                f"Line {line_id!r}: {quantity} to return, {line.quantity - before} of "
                f"{line.quantity} left to return.",
            )
        planned.append(
            ReturnedLine(
                line_id=line_id,
                quantity=quantity,
                earned_points=share(line.earned_points, before, after, line.quantity),
                redeemed_points=share(line.redeemed_points, before, after, line.quantity),
                money_minor=share(line.money_minor, before, after, line.quantity),
                certificate_minor=share(line.certificate_minor, before, after, line.quantity),
                program_discount_minor=share(
                    line.program_discount_minor, before, after, line.quantity
                ),
            )
        )
    return ReturnPlan(lines=tuple(planned))


def settle(policy: ReturnPolicy, shortfall: int, point_value_minor: int) -> Settlement:
    """``floor`` forgives the shortfall, ``debt`` records it against future earnings,
    ``withhold`` asks the cashier to keep its money value back from the cash refund."""
    if policy is ReturnPolicy.debt:
        return Settlement(debt_points=shortfall)
    if policy is ReturnPolicy.withhold:
        return Settlement(withhold_minor=shortfall * point_value_minor)
    return Settlement()
