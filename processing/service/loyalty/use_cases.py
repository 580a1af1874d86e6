"""Loyalty use cases: rules, checkout, purchases, returns by line and tiers.

``replace_rules`` adds a version of a program's rules (never changes one); ``rules`` reads the
current version (version 0, the defaults, for a program never given any). ``calculate`` prices a
receipt with no side effect. ``purchase`` records a receipt paid in money and the points it
earns; ``return_lines`` takes lines of a purchase back under the return policy; ``tier`` and
``set_tier`` read a customer's standing and set the manual tier that acts as a floor. Every
refusal comes before the first write, so a refused call leaves nothing behind.

A purchase, a commit of a hold with its receipt and a return by line run as load → decide →
apply (``MutationRunner.in_turn``): the ``*_in_turn`` functions below decide on the snapshot,
which carries the rules in force, the customer's standing and, for a return, the purchase.
A referred customer's first purchase also grants on the referrer's account, which one
account's plan cannot carry: the same decision runs on the locked turn, and ``with_referral``
grants after it in the same transaction.
"""

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, NamedTuple
from uuid import UUID, uuid4

import msgspec
import structlog

from processing.core import limits
from processing.core.balances import available_points
from processing.core.certificates import Payment, pay_with_certificates
from processing.core.checkout import Calculation, LineResult, calculate, with_membership
from processing.core.events import EventType
from processing.core.holds import check_resolvable
from processing.core.membership import InForce, with_privileges
from processing.core.model import (
    HoldStatus,
    Line,
    OperationType,
    Posting,
    Rejected,
)
from processing.core.promo import Code, Offered, PromoResult, Where, normalized, priced_with_codes
from processing.core.purchases import (
    PurchasePlan,
    decide_line_return,
    decide_offline_purchase,
    decide_paid_purchase,
    decide_purchase,
)
from processing.core.rejections import Rejection
from processing.core.returns import everything_left, plan_return, settle
from processing.core.rules import Rules, Tier, check_rules
from processing.service.certificates.payments import (
    CertificateRequest,
    Prepared,
    decide_prepared,
    decide_refunds,
    lock_for_payment,
    lock_for_refund,
    redemption_writes,
    refund_writes,
    write_all,
)
from processing.service.ledger.decisions import (
    card_refusal,
    commit_in_turn,
    document_refusal,
    movements,
    operation_record,
    posting_change,
    refunded_account,
    refused_by,
)
from processing.service.loyalty.bonuses import grant_referral
from processing.service.loyalty.customers import program_of
from processing.service.loyalty.promoters import claw_back_promoter, reward_promoter
from processing.service.mutations import (
    Change,
    Decided,
    Decision,
    Mutation,
    MutationRunner,
    Render,
    Target,
)
from processing.service.ports import (
    Database,
    Event,
    HoldChange,
    LedgerWrite,
    LockedAccount,
    LoyaltyStore,
    NewOperation,
    PinKeys,
    PurchaseChange,
    RulesFacts,
    Snapshot,
    Store,
)
from processing.service.records import (
    Accepted,
    Actor,
    Document,
    OperationRecord,
    Outcome,
    Page,
    RefundRecord,
    Refused,
    RulesRecord,
    Standing,
    StoredResponse,
    refuse,
)
from processing.service.rules import (
    check_receipt,
    current_rules,
    standing_now,
)

log = structlog.get_logger(__name__)
# Rules versions are Postgres integers; a cursor above this is none of ours.
rules_version_max = 2**31 - 1


class Quote(Calculation, frozen=True, kw_only=True):
    """A calculation with what it was computed from."""

    customer_id: UUID
    available_points: int
    rules_version: int
    promo_codes: tuple[PromoResult, ...] = ()  # each code as typed: applied or why not
    certificates: tuple[Payment, ...] = ()  # what each certificate would pay, and leave


class PurchaseCommand(msgspec.Struct, frozen=True, kw_only=True):
    document: Document
    lines: tuple[Line, ...]
    expires_at: datetime | None = None
    card_number: str | None = None
    # Points a till that was offline let pay, posted late with no reservation (the rules cap it).
    offline_points: int = 0
    fiscal: dict[str, Any] | None = None  # a till's fiscal receipt data, kept with the purchase
    promo_codes: tuple[str, ...] = ()  # as typed; each must apply (decision 0032)
    # Gift certificates paying part of the money (decision 0033).
    certificates: tuple[CertificateRequest, ...] | None = None


class ReceiptRecord(msgspec.Struct, frozen=True, kw_only=True):
    """A receipt as it was priced for a purchase: what points paid, what it earned."""

    tier: str | None  # the tier the purchase earned at: reached before it
    tier_after: str | None  # the tier with this purchase's money counted: an upgrade is at once
    rules_version: int
    amount_minor: int
    redeemed_points: int
    money_minor: int
    earned_points: int
    debt_repaid: int  # of the points earned, how many repaid debt instead of landing
    activates_at: datetime | None
    expires_at: datetime | None
    lines: tuple[LineResult, ...]
    promo_codes: tuple[PromoResult, ...] = ()  # the codes it applied, with what each gave
    # Of money_minor, what gift certificates paid, and what each paid (decision 0033).
    certificate_minor: int = 0
    certificates: tuple[Payment, ...] = ()
    program_discount_minor: int = 0  # of amount_minor, the program's discount (decision 0036)
    membership: InForce | None = None  # the paid membership it was priced with (decision 0035)


class PurchaseRecord(ReceiptRecord, frozen=True, kw_only=True):
    """A purchase as the till is told it: the operation, and the receipt as it was priced."""

    operation: OperationRecord


class CommitRecord(OperationRecord, frozen=True, kw_only=True):
    """A committed hold: a commit operation, or for a hold with a receipt a purchase operation
    with the receipt as it was priced."""

    receipt: ReceiptRecord | None = None


class CommitCommand(msgspec.Struct, frozen=True, kw_only=True):
    points: int | None = None  # all the hold's points when None
    lines: tuple[Line, ...] | None = None  # the final receipt; the hold's own when None
    fiscal: dict[str, Any] | None = None
    # The purchase's document when it is not the hold's (a web shop's cart becomes an order);
    # a commit with no receipt is no purchase and keeps the hold's.
    document: Document | None = None
    promo_codes: tuple[str, ...] = ()  # as typed; each must apply (decision 0032)
    # Gift certificates paying part of the money (decision 0033): a commit with a receipt only.
    certificates: tuple[CertificateRequest, ...] | None = None


class LineReturnCommand(msgspec.Struct, frozen=True, kw_only=True):
    document: Document
    # (line_id, quantity); None returns every line still kept (a cancelled order).
    lines: tuple[tuple[str, int], ...] | None


class TierCommand(msgspec.Struct, frozen=True, kw_only=True):
    tier: str | None  # None clears the manual tier
    reason: str


class TierRecord(msgspec.Struct, frozen=True, kw_only=True):
    """A customer's standing: the tier in force, the manual floor, the money that counts, and
    what the next tier needs."""

    customer_id: UUID
    tier: str | None
    tier_floor: str | None
    spend_minor: int
    next_tier: str | None
    next_threshold_minor: int | None
    rules_version: int


class CalculationCommand(msgspec.Struct, frozen=True, kw_only=True):
    customer_id: UUID
    lines: tuple[Line, ...]
    redeem_points: int = 0
    promo_codes: tuple[str, ...] = ()  # as typed; each applies or says why not
    certificates: tuple[CertificateRequest, ...] | None = None


def for_member(
    plan: PurchasePlan, lines: tuple[Line, ...], perks: InForce | None, rules: Rules
) -> PurchasePlan:
    """The purchase's receipt with the member's figures (decision 0035)."""
    if perks is None:
        return plan
    return msgspec.structs.replace(plan, priced=with_membership(plan.priced, lines, perks, rules))


def offered_codes(
    typed: tuple[str, ...], found: dict[str, Code], customer_id: UUID, actor: Actor, now: datetime
) -> Offered | None:
    """The promo codes a receipt carries, as the core decides on them; None for none."""
    if not typed:
        return None
    where = Where(customer_id=customer_id, channel=actor.channel, store_id=actor.store_id, now=now)
    return Offered(typed=typed, found=found, where=where)


def normalized_codes(typed: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(sorted({normalized(code) for code in typed}))


class PurchaseTerms(NamedTuple):
    """What a purchase is priced with besides its lines: the member's privileges in force
    (decision 0035), the rules with them, the tier those rules rank, the promo codes offered
    (decision 0032) and the money gift certificates pay (decision 0033)."""

    perks: InForce | None
    rules: Rules
    tier: Tier | None
    offered: Offered | None
    certificate_minor: int


def purchase_terms(
    snapshot: Snapshot,
    locked: LockedAccount,
    standing: Standing,
    record: RulesRecord,
    actor: Actor,
    codes: tuple[str, ...],
    payments: tuple[Payment, ...],
) -> PurchaseTerms:
    now = locked.now
    perks = standing.privileges(now)
    rules = with_privileges(record.rules, perks)
    return PurchaseTerms(
        perks=perks,
        rules=rules,
        tier=standing.tier(rules),
        offered=offered_codes(codes, snapshot.promo_codes, locked.account.id, actor, now),
        certificate_minor=sum(payment.amount_minor for payment in payments),
    )


def receipt_record(
    priced: Calculation,
    version: int,
    tier_after: Tier | None,
    earning: Posting | None,
    promos: tuple[PromoResult, ...] = (),
    payments: tuple[Payment, ...] = (),
) -> ReceiptRecord:
    new_lot = earning.new_lot if earning is not None else None
    return ReceiptRecord(
        tier=priced.tier,
        tier_after=tier_after.name if tier_after else None,
        rules_version=version,
        amount_minor=priced.amount_minor,
        redeemed_points=priced.redeemed_points,
        money_minor=priced.money_minor,
        earned_points=priced.earned_points,
        debt_repaid=-earning.debt_delta if earning is not None else 0,
        activates_at=new_lot.activates_at if new_lot else None,
        expires_at=new_lot.expires_at if new_lot else None,
        lines=priced.lines,
        promo_codes=promos,
        certificate_minor=priced.certificate_minor,
        certificates=payments,
        program_discount_minor=priced.program_discount_minor,
        membership=priced.membership,
    )


class PurchaseDecided(msgspec.Struct, frozen=True, kw_only=True):
    """A purchase decided in memory: the operation with everything it changes, the receipt as
    the till is told it, the tier change its money makes, and the points it moved."""

    operation: NewOperation
    change: LedgerWrite
    receipt: ReceiptRecord
    events: tuple[Event, ...]
    moved: Accepted


def purchase_change(
    locked: LockedAccount,
    actor: Actor,
    plan: PurchasePlan,
    record: RulesRecord,
    standing: Standing,
    document: Document,
    payments: tuple[Payment, ...] = (),
    **fields: Any,
) -> PurchaseDecided:
    """A purchase operation from its plan with what goes with it, in memory: the points it moves,
    the receipt as priced, and ``tier.changed`` when its money moves the tier."""
    priced = plan.priced
    operation, change = posting_change(
        locked,
        actor,
        OperationType.purchase,
        *plan.postings,
        released=plan.released,
        document=document,
        rules_version=record.version,
        redeemed_points=priced.redeemed_points,
        **fields,
    )
    after = standing.tier(record.rules, priced.money_minor)
    changed = tier_change(
        locked, priced.tier, after.name if after else None, operation.id, "purchase"
    )
    return PurchaseDecided(
        operation=operation,
        change=change,
        receipt=receipt_record(priced, record.version, after, plan.earned, plan.promos, payments),
        events=() if changed is None else (changed,),
        moved=movements(*plan.postings),
    )


def referral_due(snapshot: Snapshot, record: RulesRecord) -> bool:
    """Whether this purchase is a referred customer's first, which grants referral bonuses on
    two accounts: more than one account's plan, so it takes the locked turn with
    ``with_referral``."""
    referral = record.rules.bonuses.referral
    referred = snapshot.referred_by is not None and (referral.referrer > 0 or referral.referred > 0)
    # A customer a promoter brought: the first purchase rewards the promoter (decision 0034).
    return referred or snapshot.promoted_by is not None


def purchase_in_turn(
    snapshot: Snapshot,
    actor: Actor,
    command: PurchaseCommand,
    referral: bool = False,
    payments: tuple[Payment, ...] = (),
) -> Decided | Outcome | None:
    """A purchase with no reservation on its snapshot (loaded priced and ranked); None for a
    referred customer's first purchase unless ``referral`` (the locked turn that grants it)."""
    locked, record, standing = snapshot.locked, snapshot.rules, snapshot.standing
    if locked is None:
        return refuse(Rejection.not_found, "No customer with this id.")
    if locked.account.blocked:
        return refuse(Rejection.account_blocked, "The customer's account is blocked.")
    refused = (
        check_receipt(command.lines)
        or (None if command.card_number is None else card_refusal(locked, snapshot.card))
        or document_refusal(OperationType.purchase, command.document, snapshot.document_operation)
    )
    if refused is not None:
        return refused
    if record is None or standing is None:
        raise AssertionError("a purchase is loaded priced and ranked")
    if referral_due(snapshot, record) and not referral:
        return None
    account, now = locked.account, locked.now
    terms = purchase_terms(snapshot, locked, standing, record, actor, command.promo_codes, payments)
    rules, tier, offered, paid = terms.rules, terms.tier, terms.offered, terms.certificate_minor
    lines, points, expires_at = command.lines, command.offline_points, command.expires_at
    plan = (
        decide_offline_purchase(
            account, rules, tier, lines, points, expires_at, now, offered, certificate_minor=paid
        )
        if points
        else decide_purchase(
            account, rules, tier, lines, expires_at, now, offered, certificate_minor=paid
        )
    )
    if isinstance(plan, Rejected):
        return refused_by(plan)
    plan = for_member(plan, lines, terms.perks, rules)
    decided = purchase_change(locked, actor, plan, record, standing, command.document, payments)
    bought = PurchaseRecord(
        **msgspec.structs.asdict(decided.receipt),
        operation=operation_record(decided.operation, "completed"),
    )
    return Decided(
        change=decided.change,
        outcome=msgspec.structs.replace(decided.moved, value=bought, created=True),
        purchase=PurchaseChange(priced=plan.priced, fiscal=command.fiscal, promos=plan.promos),
        events=decided.events,
    )


def commit_with_receipt_in_turn(
    snapshot: Snapshot,
    actor: Actor,
    command: CommitCommand,
    referral: bool = False,
    payments: tuple[Payment, ...] = (),
) -> Decided | Outcome | None:
    """A commit on its snapshot. A hold without a receipt, committed with none, spends points
    (``commit_in_turn``); otherwise the commit is one purchase priced under the rules in force
    at the customer's tier, which needs the snapshot loaded priced and ranked: None when it was
    not (load again), or for a referred customer's first purchase unless ``referral``."""
    locked, hold, record, standing = (
        snapshot.locked,
        snapshot.hold,
        snapshot.rules,
        snapshot.standing,
    )
    if locked is None or hold is None:
        return refuse(Rejection.hold_not_found, "No hold with this id.")
    lines = command.lines if command.lines is not None else hold.receipt
    if lines is None and command.promo_codes:
        return refuse(
            Rejection.validation_error,
            "Promo codes apply to a receipt: send the final receipt's lines with them.",
            field="promo_codes",
        )
    if lines is None and command.certificates:
        return refuse(
            Rejection.validation_error,
            "Certificates pay a receipt: commit with its lines.",
            field="certificates",
        )
    if lines is None:
        return commit_in_turn(snapshot, actor, command.points)
    if record is None or standing is None:
        return None
    settled = check_resolvable(hold, locked.now)  # before the document: precedence
    if settled is not None:
        return refused_by(settled)
    document = command.document or Document(id=hold.document_id or str(hold.id))
    refused = check_receipt(lines) or document_refusal(
        OperationType.purchase, document, snapshot.document_operation
    )
    if refused is not None:
        return refused
    if referral_due(snapshot, record) and not referral:
        return None
    terms = purchase_terms(snapshot, locked, standing, record, actor, command.promo_codes, payments)
    plan = decide_paid_purchase(
        locked.account,
        hold,
        terms.rules,
        terms.tier,
        lines,
        command.points,
        locked.now,
        terms.offered,
        certificate_minor=terms.certificate_minor,
    )
    if isinstance(plan, Rejected):
        return refused_by(plan)
    plan = for_member(plan, lines, terms.perks, terms.rules)
    decided = purchase_change(
        locked, actor, plan, record, standing, document, payments, hold_id=hold.id
    )
    committed = CommitRecord(
        **msgspec.structs.asdict(operation_record(decided.operation, "completed")),
        receipt=decided.receipt,
    )
    return Decided(
        change=decided.change,
        outcome=msgspec.structs.replace(decided.moved, value=committed),
        hold=HoldChange(status=HoldStatus.committed, spent=plan.priced.redeemed_points),
        purchase=PurchaseChange(priced=plan.priced, fiscal=command.fiscal, promos=plan.promos),
        events=decided.events,
    )


def return_in_turn(
    snapshot: Snapshot,
    actor: Actor,
    command: LineReturnCommand,
    refunds: Prepared | None = None,
) -> Decided | Outcome:
    """A return of a purchase's lines on its snapshot (loaded priced, ranked and with the
    purchase). What the lines earned is clawed back and what paid for them given back; a
    shortfall settles by the return policy of the rules the purchase was priced with; the money
    leaves the tier's spend if the purchase lies in the tier
    window, and the tier before and after is ranked by the rules in force (as ``GET .../tier``
    ranks it), so ``tier_after`` and ``tier.changed`` agree with the customer's tier."""
    locked, original, bought = snapshot.locked, snapshot.original, snapshot.bought
    if locked is None or original is None:
        return refuse(Rejection.not_found, "No operation with this id.")
    if original.type is not OperationType.purchase or bought is None:
        return refuse(
            Rejection.operation_not_refundable,
            f"Lines can be returned from a purchase; this is a {original.type}.",
            field="lines",
        )
    existing = snapshot.document_operation
    refused = document_refusal(OperationType.refund, command.document, existing)
    if refused is not None:
        return refused
    requested = command.lines
    if requested is None:
        requested = everything_left(bought.lines, bought.returned)
        if not requested:
            return refuse(
                Rejection.refund_exceeds_original,
                "Every line of this purchase was returned already.",
            )
    plan = plan_return(bought.lines, bought.returned, requested)
    if isinstance(plan, Rejected):
        return refuse(plan.rejection, plan.detail, field="lines")
    in_force, standing = snapshot.rules, snapshot.standing
    if in_force is None or standing is None:
        raise AssertionError("a return is loaded priced and ranked")
    account, lots = refunded_account(locked, snapshot.original_lots)
    new_lot_id = uuid4()
    decision = decide_line_return(
        account, original, lots, plan, locked.expiry, new_lot_id, locked.now
    )
    if isinstance(decision, Rejected):
        return refused_by(decision)
    rules = bought.rules.rules
    settlement = settle(rules.return_policy, decision.shortfall, rules.point_value_minor)
    *giving, clawing = decision.postings
    postings = (*giving, msgspec.structs.replace(clawing, debt_delta=settlement.debt_points))
    operation, change = posting_change(
        locked,
        actor,
        OperationType.refund,
        *postings,
        stored=account,
        new_lot_id=new_lot_id,
        document=command.document,
        refund_of=original.id,
        returned_points=decision.points_returned,
    )
    window_start = locked.now - timedelta(days=in_force.rules.tier_window_days)
    leaves_spend = plan.money_minor if bought.created_at > window_start else 0
    before = standing.tier(in_force.rules)
    after = standing.tier(in_force.rules, -leaves_spend)
    changed = tier_change(
        locked,
        before.name if before else None,
        after.name if after else None,
        operation.id,
        "return",
    )
    record = RefundRecord(
        **msgspec.structs.asdict(operation_record(operation, "completed")),
        points_returned=decision.points_returned,
        points_clawed_back=decision.points_clawed_back,
        debt_points=settlement.debt_points,
        withhold_minor=settlement.withhold_minor,
        tier_after=after.name if after else None,
        lines=plan.lines,
        certificate_minor=plan.certificate_minor if refunds is not None else 0,
        certificates=(
            decide_refunds(refunds, plan.certificate_minor) if refunds is not None else ()
        ),
        money_minor=plan.money_minor,
        program_discount_minor=plan.program_discount_minor,
    )
    moved = decision.points_clawed_back or decision.points_returned
    return Decided(
        change=change,
        outcome=msgspec.structs.replace(movements(*postings), value=record, created=True),
        refunded=decision.points_clawed_back if moved else None,
        given_back=decision.points_returned,
        returns=plan,
        events=() if changed is None else (changed,),
    )


async def with_referral(store: Store, snapshot: Snapshot, decided: Decided) -> Accepted:
    """After a referred customer's first purchase, in its transaction: the referral bonus for
    both sides (``grant_referral``). The purchase's answer is its own; the points the bonus
    issues are counted with it."""
    locked, record = snapshot.locked, snapshot.rules
    if locked is None or record is None:
        raise AssertionError("a purchase is decided on a customer, priced")
    granted = await grant_referral(store, locked.account.id, locked.program_id, record)
    if decided.purchase is not None and snapshot.promoted_by is not None:
        granted += await reward_promoter(
            store,
            locked.account.id,
            locked.program_id,
            record,
            decided.change.operation,
            decided.purchase.priced.money_minor,
        )
    moved = decided.outcome
    if not granted:
        return moved
    return msgspec.structs.replace(
        moved, more_movements=(*moved.more_movements, ("issued", granted))
    )


def tier_change(
    locked: LockedAccount,
    before: str | None,
    after: str | None,
    operation_id: UUID | None,
    cause: str,
) -> Event | None:
    """``tier.changed`` when the tier in force moved: on the purchase that crossed a threshold,
    on a return that dropped below one, on a manual tier. (A tier that lapses as the window
    moves on changes with no operation; it is seen at the customer's next one.)"""
    if before == after:
        return None
    payload = {
        "customer_id": str(locked.account.id),
        "tier_before": before,
        "tier_after": after,
        "cause": cause,
        "operation_id": None if operation_id is None else str(operation_id),
        "created_at": locked.now.isoformat(),
    }
    return Event(type=EventType.tier_changed, payload=payload)


def tier_record(customer_id: UUID, record: RulesRecord, standing: Standing) -> TierRecord:
    current = standing.tier(record.rules)
    higher = [
        tier
        for tier in record.rules.tiers
        if current is None or tier.threshold_minor > current.threshold_minor
    ]
    upcoming = min(higher, key=lambda tier: tier.threshold_minor) if higher else None
    return TierRecord(
        customer_id=customer_id,
        tier=current.name if current else None,
        tier_floor=standing.tier_floor,
        spend_minor=standing.spend_minor,
        next_tier=upcoming.name if upcoming else None,
        next_threshold_minor=upcoming.threshold_minor if upcoming else None,
        rules_version=record.version,
    )


# A decision on a snapshot with the gift certificates' payments decided for it.
PaidDecide = Callable[[Snapshot, tuple[Payment, ...]], Decided | Outcome | None]


class Loyalty:
    def __init__(
        self, database: Database, runner: MutationRunner, pin_keys: PinKeys | None = None
    ) -> None:
        self.database = database
        self.runner = runner
        self.pin_keys = pin_keys

    def keys(self) -> PinKeys:
        if self.pin_keys is None:
            raise AssertionError("gift certificates need the PIN keys")
        return self.pin_keys

    async def paid_with_certificates(
        self,
        mutation: Mutation,
        target: Target,
        requests: tuple[CertificateRequest, ...],
        decide_with: PaidDecide,
        render: Render,
    ) -> StoredResponse:
        """A purchase or a commit that gift certificates pay part of (decision 0033), on the
        locked turn: the certificates are locked and their PINs checked before the decision,
        which prices the receipt with them, and their redemptions are written after the
        purchase in the same transaction, naming it."""
        actor = mutation.actor
        prepared = Prepared()

        async def prepare(store: Store) -> None:
            nonlocal prepared
            prepared = await lock_for_payment(store, self.keys(), actor.program_id, requests)

        def decide(snapshot: Snapshot) -> Decided | Outcome | None:
            if snapshot.locked is None:
                return decide_with(snapshot, ())
            payments = decide_prepared(prepared, snapshot.locked.now)
            if isinstance(payments, Refused):
                return payments
            prepared.payments = payments
            return decide_with(snapshot, payments)

        async def then(store: Store, snapshot: Snapshot, decided: Decided) -> Accepted:
            operation = decided.change.operation
            document_id = operation.document.id if operation.document else None
            writes = redemption_writes(
                prepared, actor, operation.id, document_id, operation.created_at
            )
            await write_all(store, writes)
            if snapshot.rules is not None and referral_due(snapshot, snapshot.rules):
                return await with_referral(store, snapshot, decided)
            return decided.outcome

        return await self.runner.locked(mutation, target, decide, render, then, prepare)

    async def replace_rules(
        self, mutation: Mutation, program_id: UUID, rules: Rules, render: Render
    ) -> StoredResponse:
        """A new version of the program's rules, numbered after the newest: two replacements
        decided on the same one race for its number, and the loser is decided again."""
        actor = mutation.actor

        async def load(store: LoyaltyStore) -> RulesFacts | None:
            return await store.rules_facts(program_id, actor.program_id, rules)

        def decide(facts: RulesFacts | None) -> Change | Outcome:
            contradiction = check_rules(rules)
            if isinstance(contradiction, Rejected):
                return refused_by(contradiction)
            if facts is None:
                return refuse(Rejection.not_found, "No program with this id.")
            record = RulesRecord(
                program_id=program_id,
                version=facts.version + 1,
                rules=facts.rules,
                created_at=facts.now,
            )
            return Change(
                outcome=Accepted(value=record),
                write=lambda store, answer: store.insert_rules(record, actor.key_id, answer),
            )

        return await self.runner.change(mutation, Decision(load, decide), render)

    async def rules(self, actor: Actor, program_id: UUID) -> Outcome:
        async with self.database.reader() as store:
            if await store.get_program(program_id, actor.program_id) is None:
                return refuse(Rejection.not_found, "No program with this id.")
            return Accepted(value=await current_rules(store, program_id))

    async def rules_versions(
        self, actor: Actor, program_id: UUID, limit: int, before: int | None
    ) -> Outcome:
        """The program's stored rules versions, newest first, a page at a time: ``before`` is
        the version the previous page ended on (its ``next_cursor``). A program never given
        rules has none; another program's are not found, as the program itself is not."""
        if before is not None and not 1 <= before <= rules_version_max:
            return refuse(Rejection.validation_error, "cursor is not valid.", field="cursor")
        size = min(limit, limits.page_size_max)
        async with self.database.reader() as store:
            if await store.get_program(program_id, actor.program_id) is None:
                return refuse(Rejection.not_found, "No program with this id.")
            items = await store.rules_versions(program_id, before or rules_version_max, size + 1)
        shown = items[:size]
        more = len(items) > size and bool(shown)
        return Accepted(
            value=Page(items=shown, next_cursor=str(shown[-1].version) if more else None)
        )

    async def rules_version(self, actor: Actor, program_id: UUID, version: int) -> Outcome:
        """One stored version of the program's rules."""
        if not 1 <= version < rules_version_max:
            return refuse(Rejection.not_found, "No such version of the rules.", field="version")
        async with self.database.reader() as store:
            if await store.get_program(program_id, actor.program_id) is None:
                return refuse(Rejection.not_found, "No program with this id.")
            found = await store.rules_versions(program_id, version + 1, 1)
        if not found or found[0].version != version:
            return refuse(Rejection.not_found, "No such version of the rules.", field="version")
        return Accepted(value=found[0])

    async def calculate(self, actor: Actor, command: CalculationCommand) -> Outcome:
        program_id = program_of(actor)
        if isinstance(program_id, Refused):
            return program_id
        refused = check_receipt(command.lines)
        if refused is not None:
            return refused
        async with self.database.reader() as store:
            read = await store.read_account(command.customer_id, program_id)
            if read is None:
                return refuse(Rejection.not_found, "No customer with this id.", field="customer_id")
            record, standing = await standing_now(store, read)
            perks = standing.privileges(read.now)
            rules = with_privileges(record.rules, perks)
            tier = standing.tier(rules)
            typed = command.promo_codes
            found = (
                await store.find_promo_codes(program_id, read.account.id, normalized_codes(typed))
                if typed
                else {}
            )
        available = 0 if read.account.blocked else available_points(read.account, read.now)
        result = calculate(rules, tier, command.lines, available, command.redeem_points)
        payments: tuple[Payment, ...] = ()
        if command.certificates:
            paid = await self.price_certificates(program_id, command.certificates, result, record)
            if isinstance(paid, Refused):
                return paid
            result, payments = paid
        offered = offered_codes(typed, found, read.account.id, actor, read.now)
        result, promos = priced_with_codes(
            offered, command.lines, result, record.rules.point_value_minor
        )
        result = with_membership(result, command.lines, perks, rules)
        quote = Quote(
            **msgspec.structs.asdict(result),
            customer_id=command.customer_id,
            available_points=available,
            rules_version=record.version,
            promo_codes=promos,
            certificates=payments,
        )
        return Accepted(value=quote)

    async def price_certificates(
        self,
        program_id: UUID,
        requests: tuple[CertificateRequest, ...],
        priced: Calculation,
        record: RulesRecord,
    ) -> tuple[Calculation, tuple[Payment, ...]] | Refused:
        """The receipt with gift certificates paying part of its money, as a purchase would
        take them: each PIN checked (a wrong one counted, as a lookup counts it), nothing
        redeemed."""
        async with self.database.transaction() as store:
            prepared = await lock_for_payment(store, self.keys(), program_id, requests)
            now = await store.clock_now()
        payments = decide_prepared(prepared, now)
        if isinstance(payments, Refused):
            return payments
        paid = sum(payment.amount_minor for payment in payments)
        with_certificates = pay_with_certificates(priced, paid, record.rules.point_value_minor)
        if isinstance(with_certificates, Rejected):
            return refused_by(with_certificates)
        return with_certificates, payments

    async def purchase(
        self, mutation: Mutation, customer_id: UUID, command: PurchaseCommand, render: Render
    ) -> StoredResponse:
        """A receipt paid in money: it earns points under the current rules (pending for the
        activation delay, expiring by the rules unless the request says otherwise), and its
        money counts toward the customer's tier. One purchase operation."""
        actor = mutation.actor

        def decide(snapshot: Snapshot) -> Decided | Outcome | None:
            return purchase_in_turn(snapshot, actor, command)

        def referred(snapshot: Snapshot) -> Decided | Outcome | None:
            return purchase_in_turn(snapshot, actor, command, referral=True)

        target = Target(
            account_id=customer_id,
            document_id=command.document.id,
            document_type=OperationType.purchase,
            card_number=command.card_number,
            priced=True,
            ranked=True,
            promo_codes=normalized_codes(command.promo_codes),
        )

        if command.certificates:

            def paid(snapshot: Snapshot, payments: tuple[Payment, ...]) -> Decided | Outcome | None:
                return purchase_in_turn(snapshot, actor, command, True, payments)

            return await self.paid_with_certificates(
                mutation, target, command.certificates, paid, render
            )

        # A referred customer's first purchase also grants on the referrer's account.
        def locked_path() -> Awaitable[StoredResponse]:
            return self.runner.locked(mutation, target, referred, render, with_referral)

        return await self.runner.in_turn(mutation, target, decide, render, locked_path)

    async def commit(
        self, mutation: Mutation, hold_id: UUID, command: CommitCommand, render: Render
    ) -> StoredResponse:
        """Commits a hold. A hold that carries its receipt, or a commit that brings the final
        one, becomes ONE purchase operation: the redemption and the points earned on the money
        (pending for the activation delay), priced under the current rules at the customer's
        tier; the money counts toward the tier. Otherwise a commit operation spends the
        points."""
        actor = mutation.actor

        def decide(snapshot: Snapshot) -> Decided | Outcome | None:
            return commit_with_receipt_in_turn(snapshot, actor, command)

        def referred(snapshot: Snapshot) -> Decided | Outcome | None:
            return commit_with_receipt_in_turn(snapshot, actor, command, referral=True)

        priced = Target(
            hold_id=hold_id,
            document_id=None if command.document is None else command.document.id,
            document_type=OperationType.purchase,
            priced=True,
            ranked=True,
            promo_codes=normalized_codes(command.promo_codes),
        )

        if command.certificates:

            def paid(snapshot: Snapshot, payments: tuple[Payment, ...]) -> Decided | Outcome | None:
                return commit_with_receipt_in_turn(snapshot, actor, command, True, payments)

            return await self.paid_with_certificates(
                mutation, priced, command.certificates, paid, render
            )

        # A referred customer's first purchase also grants on the referrer's account.
        def locked_path() -> Awaitable[StoredResponse]:
            return self.runner.locked(mutation, priced, referred, render, with_referral)

        def priced_turn() -> Awaitable[StoredResponse]:
            return self.runner.in_turn(mutation, priced, decide, render, locked_path)

        # A commit that brings the final receipt is a purchase. Whether a hold reserved with
        # one carries it is seen only once it is loaded: then it is loaded again, priced.
        if command.lines is not None:
            return await priced_turn()
        unpriced = Target(hold_id=hold_id)
        return await self.runner.in_turn(mutation, unpriced, decide, render, priced_turn)

    async def return_lines(
        self, mutation: Mutation, operation_id: UUID, command: LineReturnCommand, render: Render
    ) -> StoredResponse:
        """Returns some of a purchase's lines: claws back what those lines earned (pending
        points first, then available ones); what was already spent is settled by the return
        policy of the rules the purchase was priced with; the money leaves the tier's spend, and
        the tier before and after is ranked by the rules in force (as ``GET .../tier`` ranks
        it), so ``tier_after`` and ``tier.changed`` agree with what the customer's tier is."""

        def decide(snapshot: Snapshot) -> Decided | Outcome | None:
            bought = snapshot.bought
            if bought is not None and any(line.certificate_minor for line in bought.lines):
                return None  # gift certificates paid for it: the locked turn gives back to them
            if bought is not None and bought.promoter_reward is not None:
                return None  # it rewarded a promoter: the locked turn may claw that back
            return return_in_turn(snapshot, mutation.actor, command)

        target = Target(
            operation_id=operation_id,
            document_id=command.document.id,
            document_type=OperationType.refund,
            priced=True,
            ranked=True,
            returns=True,
        )

        def to_certificates() -> Awaitable[StoredResponse]:
            return self.return_to_certificates(mutation, operation_id, command, target, render)

        return await self.runner.in_turn(mutation, target, decide, render, to_certificates)

    async def return_to_certificates(
        self,
        mutation: Mutation,
        operation_id: UUID,
        command: LineReturnCommand,
        target: Target,
        render: Render,
    ) -> StoredResponse:
        """A return of lines of a purchase gift certificates paid part of: on the locked turn,
        the certificates are locked, and the certificates' share of the returned lines goes
        back to them (last-named first) after the refund operation, naming it."""
        actor = mutation.actor
        prepared = Prepared()

        async def prepare(store: Store) -> None:
            nonlocal prepared
            prepared = await lock_for_refund(store, operation_id)

        def decide(snapshot: Snapshot) -> Decided | Outcome:
            return return_in_turn(snapshot, actor, command, prepared)

        async def then(store: Store, snapshot: Snapshot, decided: Decided) -> Accepted:
            operation = decided.change.operation
            amount = decided.returns.certificate_minor if decided.returns else 0
            document_id = operation.document.id if operation.document else None
            writes = refund_writes(
                prepared, amount, actor, operation.id, document_id, operation.created_at
            )
            await write_all(store, writes)
            taken = await claw_back_promoter(
                store, operation_id, operation.program_id, operation.created_at
            )
            if not taken:
                return decided.outcome
            moved = decided.outcome
            return msgspec.structs.replace(
                moved, more_movements=(*moved.more_movements, ("clawed_back", taken))
            )

        return await self.runner.locked(mutation, target, decide, render, then, prepare)

    async def tier(self, actor: Actor, customer_id: UUID) -> Outcome:
        async with self.database.reader() as store:
            read = await store.read_account(customer_id, actor.program_id)
            if read is None:
                return refuse(Rejection.not_found, "No customer with this id.")
            record, standing = await standing_now(store, read)
        return Accepted(value=tier_record(read.account.id, record, standing))

    async def set_tier(
        self, mutation: Mutation, customer_id: UUID, command: TierCommand, render: Render
    ) -> StoredResponse:
        """Sets (or with ``tier: null`` clears) the manual tier, which acts as a floor: the
        customer ranks at it or above, whatever the spend says. Decided on the customer's
        standing and written only at the account version it was decided on."""
        actor = mutation.actor
        target = Target(account_id=customer_id, priced=True, ranked=True)

        async def load(store: Store) -> Snapshot:
            return await self.runner.load_on(store, mutation, target)

        def decide(snapshot: Snapshot) -> Change | Outcome:
            locked, record, before = snapshot.locked, snapshot.rules, snapshot.standing
            if locked is None or snapshot.version is None:
                return refuse(Rejection.not_found, "No customer with this id.")
            if record is None or before is None:
                raise AssertionError("a tier is decided on a ranked snapshot")
            names = [tier.name for tier in record.rules.tiers]
            if command.tier is not None and command.tier not in names:
                return refuse(
                    Rejection.validation_error,
                    f"The program's rules have no tier {command.tier!r}; they have {names}.",
                    field="tier",
                )
            standing = msgspec.structs.replace(before, tier_floor=command.tier)  # spend as it was
            tier_before, after = before.tier(record.rules), standing.tier(record.rules)
            told = tier_change(
                locked,
                tier_before.name if tier_before else None,
                after.name if after else None,
                None,
                "manual",
            )
            version, account_id = snapshot.version, locked.account.id  # the survivor's, once merged
            return Change(
                outcome=Accepted(value=tier_record(account_id, record, standing)),
                write=lambda store, answer: store.set_tier_floor(
                    account_id, version, command.tier, told, answer
                ),
            )

        stored = await self.runner.change(mutation, Decision(load, decide), render, customer_id)
        if stored.status_code == 200 and not stored.replayed:
            log.info(
                "tier_floor_set",
                customer_id=str(customer_id),
                tier=command.tier,
                reason=command.reason,
                key_id=str(actor.key_id),
            )
        return stored
