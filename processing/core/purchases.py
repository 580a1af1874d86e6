"""A purchase paid partly with points: a hold committed with its final receipt, and the return
of that purchase's lines.

Both are one operation with two legs: the points that pay move between the customer's lots and
the program's redeemed account, the points earned on the money between the lots and its issued
account. Earnings are priced on the money only, so the two legs never net against each other in
the rules; they do in the balance, and a return gives back before it claws back, so points the
customer gets back can cover what the returned lines had earned.
"""

from datetime import datetime
from uuid import UUID

import msgspec

from processing.core.balances import (
    apply_holds,
    apply_posting,
    available_points,
    spendable_lots,
    take_points,
)
from processing.core.certificates import pay_with_certificates
from processing.core.checkout import Calculation, calculate
from processing.core.holds import check_resolvable, decide_commit
from processing.core.invariants import invariant
from processing.core.ledger import claw_back_up_to, decide_earn, negated, restore_redemption
from processing.core.model import (
    Account,
    Allocation,
    Hold,
    Line,
    Lot,
    Operation,
    Posting,
    Rejected,
    SystemAccount,
    reject,
)
from processing.core.promo import Offered, PromoResult, first_refused, priced_with_codes
from processing.core.rejections import Rejection
from processing.core.returns import ReturnPlan
from processing.core.rules import Expiry, Rules, Tier, earning_window


class PurchasePlan(msgspec.Struct, frozen=True, kw_only=True):
    priced: Calculation
    postings: tuple[Posting, ...]  # the spending leg when points paid, then the earning leg
    released: tuple[Allocation, ...] = ()  # a hold's earmarks, dropped whether spent or not
    promos: tuple[PromoResult, ...] = ()  # the promo codes it applies (every one applies)

    @property
    def earned(self) -> Posting | None:
        return next(
            (leg for leg in self.postings if leg.counter_account is SystemAccount.issued), None
        )


class LineReturn(msgspec.Struct, frozen=True, kw_only=True):
    postings: tuple[Posting, ...]  # giving back when it gives back, then clawing back
    points_returned: int  # given back to the customer: what paid for the returned lines
    points_clawed_back: int  # taken back: what the returned lines earned, as far as it is there
    shortfall: int  # earned points already spent: the return policy settles them


def with_codes_or_refused(
    offered: Offered | None, lines: tuple[Line, ...], priced: Calculation, rules: Rules
) -> tuple[Calculation, tuple[PromoResult, ...]] | Rejected:
    """The receipt with its promo codes applied; a purchase is refused whole when one of
    its codes does not apply, so the till never charges a discount or promises points the
    purchase did not record (decision 0032)."""
    priced, promos = priced_with_codes(offered, lines, priced, rules.point_value_minor)
    refused = first_refused(promos)
    if refused is not None:
        index, result = refused
        return reject(
            Rejection.promo_code_refused,
            f"Promo code {result.code!r} does not apply ({result.reason}): {result.detail}",
            field=f"promo_codes[{index}]",
        )
    return priced, promos


def decide_paid_purchase(
    account: Account,
    hold: Hold,
    rules: Rules,
    tier: Tier | None,
    lines: tuple[Line, ...],
    points: int | None,
    now: datetime,
    offered: Offered | None = None,
    certificate_minor: int = 0,
) -> PurchasePlan | Rejected:
    """Commits ``points`` of the hold (all of it when None) against the final receipt ``lines``
    and earns on what is left to pay in money. The receipt must let points pay that much: a
    receipt that shrank since the hold is refused, never silently charged less, so the till and
    the ledger always agree on what the customer paid."""
    refused = check_resolvable(hold, now)
    if refused is not None:
        return refused
    spend = hold.points if points is None else points
    if spend > hold.points:
        return reject(
            Rejection.commit_exceeds_hold, f"{spend} points to commit, the hold has {hold.points}."
        )
    priced = calculate(rules, tier, lines, hold.points, spend)
    if priced.redeemed_points < spend:
        return reject(
            Rejection.redemption_exceeds_limit,
            f"The final receipt lets points pay at most {priced.max_redeemable_points}; "
            f"{spend} to commit. Commit with points at most that.",
        )
    with_certificates = pay_with_certificates(priced, certificate_minor, rules.point_value_minor)
    if isinstance(with_certificates, Rejected):
        return with_certificates
    coded = with_codes_or_refused(offered, lines, with_certificates, rules)
    if isinstance(coded, Rejected):
        return coded
    priced, promos = coded
    commit = decide_commit(account, hold, spend, now)
    if isinstance(commit, Rejected):
        return commit
    postings: tuple[Posting, ...] = (commit.posting,)
    if priced.earned_points > 0:
        spent = apply_posting(apply_holds(account, commit.released, -1), commit.posting, None)
        activates_at, expires_at = earning_window(rules, now)
        earning = decide_earn(spent, priced.earned_points, activates_at, expires_at, now)
        if isinstance(earning, Rejected):
            return earning
        postings += (earning,)
    return PurchasePlan(priced=priced, postings=postings, released=commit.released, promos=promos)


def decide_purchase(
    account: Account,
    rules: Rules,
    tier: Tier | None,
    lines: tuple[Line, ...],
    expires_at: datetime | None,
    now: datetime,
    offered: Offered | None = None,
    certificate_minor: int = 0,
) -> PurchasePlan | Rejected:
    """A receipt paid in money: one earning leg (none when it earns nothing; a posting that
    only repays debt when the debt takes all of it). Money ``certificate_minor`` of it paid by
    gift certificates earns nothing."""
    if account.blocked:
        return reject(Rejection.account_blocked, "The customer's account is blocked.")
    priced = calculate(rules, tier, lines, 0, 0)
    with_certificates = pay_with_certificates(priced, certificate_minor, rules.point_value_minor)
    if isinstance(with_certificates, Rejected):
        return with_certificates
    coded = with_codes_or_refused(offered, lines, with_certificates, rules)
    if isinstance(coded, Rejected):
        return coded
    priced, promos = coded
    if priced.earned_points == 0:
        return PurchasePlan(priced=priced, postings=(), promos=promos)
    activates_at, ends = earning_window(rules, now, expires_at)
    earning = decide_earn(account, priced.earned_points, activates_at, ends, now)
    if isinstance(earning, Rejected):
        return earning
    return PurchasePlan(priced=priced, postings=(earning,), promos=promos)


def decide_offline_purchase(
    account: Account,
    rules: Rules,
    tier: Tier | None,
    lines: tuple[Line, ...],
    points: int,
    expires_at: datetime | None,
    now: datetime,
    offered: Offered | None = None,
    certificate_minor: int = 0,
) -> PurchasePlan | Rejected:
    """A cheque a till posts late, after it let ``points`` pay for it while it was offline:
    accepted up to the rules' offline cap, from points available now (soonest-expiring first),
    within what the receipt lets points pay; then it earns on the money like any purchase."""
    invariant(points > 0, "an offline redemption spends points")
    cap = rules.redemption.offline_cap_points
    if points > cap:
        return reject(
            Rejection.reservation_required,
            f"{points} points without a reservation; the program accepts at most {cap} from a "
            "till that was offline.",
        )
    if account.blocked:
        return reject(Rejection.account_blocked, "The customer's account is blocked.")
    available = available_points(account, now)
    if available < points:
        return reject(
            Rejection.insufficient_points, f"{points} points to spend, {available} available."
        )
    priced = calculate(rules, tier, lines, available, points)
    if priced.redeemed_points < points:
        return reject(
            Rejection.redemption_exceeds_limit,
            f"The receipt lets points pay at most {priced.max_redeemable_points}; {points} sent.",
        )
    with_certificates = pay_with_certificates(priced, certificate_minor, rules.point_value_minor)
    if isinstance(with_certificates, Rejected):
        return with_certificates
    coded = with_codes_or_refused(offered, lines, with_certificates, rules)
    if isinstance(coded, Rejected):
        return coded
    priced, promos = coded
    spent = take_points(spendable_lots(account, now), points)
    spending = Posting(lot_deltas=negated(spent), counter_account=SystemAccount.redeemed)
    postings: tuple[Posting, ...] = (spending,)
    if priced.earned_points > 0:
        activates_at, ends = earning_window(rules, now, expires_at)
        after = apply_posting(account, spending, None)
        earning = decide_earn(after, priced.earned_points, activates_at, ends, now)
        if isinstance(earning, Rejected):
            return earning
        postings += (earning,)
    return PurchasePlan(priced=priced, postings=postings, released=(), promos=promos)


def decide_line_return(
    account: Account,
    original: Operation,
    original_lots: dict[UUID, Lot],
    plan: ReturnPlan,
    expiry: Expiry,
    new_lot_id: UUID,
    now: datetime,
) -> LineReturn | Rejected:
    """Gives back the points that paid for the returned lines (to the lots they came from, as a
    refunded redemption does), then claws back what those lines earned from the account as it
    is after that. ``new_lot_id`` names the lot that takes back points whose own lot has expired
    since; the claw-back may take from it too. Earlier refunds are never passed (I6)."""
    give = min(plan.redeemed_points, original.redeemed_points - original.returned_points)
    postings: tuple[Posting, ...] = ()
    if give > 0:
        restored = restore_redemption(
            account,
            original.spent,
            original.returned_points,
            original_lots,
            give,
            expiry,
            now,
        )
        if isinstance(restored, Rejected):
            return restored
        postings = (restored,)
        account = apply_posting(account, restored, new_lot_id)
    owed = min(plan.earned_points, original.refundable_points)
    clawed, shortfall = claw_back_up_to(account, original, owed, now)
    return LineReturn(
        postings=(*postings, clawed),  # the claw-back leg last: it carries any debt recorded
        points_returned=give,
        points_clawed_back=owed - shortfall,
        shortfall=shortfall,
    )
