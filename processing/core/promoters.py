"""Promoters (decision 0034): their codes, the reward a referred customer's first purchase
earns them, and what a full return of that purchase takes back."""

import re
import secrets
from datetime import datetime
from uuid import UUID

from processing.core.balances import spendable_lots, take_points
from processing.core.ledger import negated
from processing.core.model import Account, Posting, SystemAccount

basis_points = 10_000
code_alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read off a poster
generated_code_length = 8
_code = re.compile(r"^[A-Z0-9]{4,32}$")


def normalized_code(typed: str) -> str | None:
    """A promoter's code as stored: upper case, spaces and dashes dropped; None when what is
    left is not 4 to 32 letters and digits."""
    code = re.sub(r"[\s-]", "", typed).upper()
    return code if _code.match(code) else None


def new_code() -> str:
    return "".join(secrets.choice(code_alphabet) for _ in range(generated_code_length))


def reward_points(
    fixed_points: int, share_bp: int, money_minor: int, point_value_minor: int
) -> int:
    """What a referred customer's first purchase earns the promoter: the fixed points plus
    ``share_bp`` of the money the purchase paid, in points at the program's point value,
    rounded down."""
    share = money_minor * share_bp // (basis_points * max(point_value_minor, 1))
    return fixed_points + share


def claw_back_reward(
    account: Account, reward_lot_id: UUID, points: int, now: datetime
) -> tuple[Posting, int]:
    """Takes the reward back from its own lot first, then from the promoter's other spendable
    points, as far as they go; returns the posting and what could not be taken (forgiven: a
    promoter's spent reward is not turned into a debt)."""
    own = [lot for lot in account.lots if lot.id == reward_lot_id and not lot.is_expired(now)]
    others = [lot for lot in spendable_lots(account, now) if lot.id != reward_lot_id]
    taken_points = min(points, sum(lot.free for lot in own + others))
    taken = take_points(own + others, taken_points)
    posting = Posting(lot_deltas=negated(taken), counter_account=SystemAccount.issued)
    return posting, points - taken_points
