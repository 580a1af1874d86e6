"""Loyalty use cases: rules, checkout, purchases, returns by line and tiers.

``replace_rules`` adds a version of a program's rules (never changes one); ``rules`` reads the
current version (version 0, the defaults, for a program never given any). ``calculate`` prices a
receipt with no side effect. ``purchase`` records a receipt paid in money and the points it
earns; ``return_lines`` takes lines of a purchase back under the return policy; ``tier`` and
``set_tier`` read a customer's standing and set the manual tier that acts as a floor. Every
refusal comes before the first write, so a refused call leaves nothing behind.
"""

from datetime import datetime, timedelta
from uuid import UUID

import msgspec
import structlog

from processing.core.balances import available_points
from processing.core.checkout import Calculation, Line, LineResult, calculate
from processing.core.ledger import claw_back_up_to, decide_earn
from processing.core.model import Operation, OperationType, Posting, Rejected, SystemAccount
from processing.core.rejections import Rejection
from processing.core.returns import plan_return, settle
from processing.core.rules import Rules, Tier, check_rules, expiry_at, tier_for
from processing.service.bonuses import grant_referral
from processing.service.customers import program_of
from processing.service.ledger import (
    check_card,
    check_document,
    operation_record,
    refused_by,
    with_lots_of,
    write_posting,
)
from processing.service.mutations import Mutation, MutationRunner, Render
from processing.service.ports import Database, LockedAccount, Store
from processing.service.records import (
    Accepted,
    Actor,
    Document,
    OperationRecord,
    Outcome,
    RefundRecord,
    Refused,
    RulesRecord,
    StoredResponse,
    refuse,
)
from processing.service.rules import current_rules, rules_of

log = structlog.get_logger(__name__)


class Quote(Calculation, frozen=True, kw_only=True):
    """A calculation with what it was computed from."""

    customer_id: UUID
    available_points: int
    rules_version: int


class PurchaseCommand(msgspec.Struct, frozen=True, kw_only=True):
    document: Document
    lines: tuple[Line, ...]
    expires_at: datetime | None = None
    card_number: str | None = None


class PurchaseRecord(msgspec.Struct, frozen=True, kw_only=True):
    """A purchase as the till is told it: the operation, and the receipt as it was priced."""

    operation: OperationRecord
    tier: str | None  # the tier the purchase earned at: reached before it
    tier_after: str | None  # the tier with this purchase's money counted: an upgrade is at once
    rules_version: int
    amount_minor: int
    money_minor: int
    earned_points: int
    debt_repaid: int  # of the points earned, how many repaid debt instead of landing
    activates_at: datetime | None
    expires_at: datetime | None
    lines: tuple[LineResult, ...]


class LineReturnCommand(msgspec.Struct, frozen=True, kw_only=True):
    document: Document
    lines: tuple[tuple[str, int], ...]  # (line_id, quantity)


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


def check_receipt(lines: tuple[Line, ...]) -> Refused | None:
    seen: set[str] = set()
    for index, line in enumerate(lines):
        if line.line_id in seen:
            return refuse(
                Rejection.validation_error,
                f"line_id {line.line_id!r} appears twice.",
                field=f"lines[{index}].line_id",
            )
        seen.add(line.line_id)
        if line.amount_minor < 0:
            return refuse(
                Rejection.validation_error,
                "discount_minor exceeds quantity × unit_price_minor.",
                field=f"lines[{index}].discount_minor",
            )
    return None


class Standing(msgspec.Struct, frozen=True, kw_only=True):
    """What the customer's tier is computed from."""

    spend_minor: int
    tier_floor: str | None

    def tier(self, rules: Rules, extra_spend_minor: int = 0) -> Tier | None:
        return tier_for(rules, self.spend_minor + extra_spend_minor, self.tier_floor)


async def standing_of(store: Store, locked: LockedAccount, rules: Rules) -> Standing:
    """Money the customer paid over the rules' tier window up to now, and the manual tier."""
    since = locked.now - timedelta(days=rules.tier_window_days)
    spend, floor = await store.tier_inputs(locked.account.id, since)
    return Standing(spend_minor=spend, tier_floor=floor)


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


class Loyalty:
    def __init__(self, database: Database, runner: MutationRunner) -> None:
        self.database = database
        self.runner = runner

    async def replace_rules(
        self, mutation: Mutation, program_id: UUID, rules: Rules, render: Render
    ) -> StoredResponse:
        async def work(store: Store) -> Outcome:
            contradiction = check_rules(rules)
            if isinstance(contradiction, Rejected):
                return refused_by(contradiction)
            if not await store.lock_program(program_id, mutation.actor.program_id):
                return refuse(Rejection.not_found, "No program with this id.")
            return Accepted(
                value=await store.insert_rules(program_id, rules, mutation.actor.key_id)
            )

        return await self.runner.run(mutation, None, work, render)

    async def rules(self, actor: Actor, program_id: UUID) -> Outcome:
        async with self.database.reader() as store:
            if await store.get_program(program_id, actor.program_id) is None:
                return refuse(Rejection.not_found, "No program with this id.")
            return Accepted(value=await current_rules(store, program_id))

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
            record = await current_rules(store, program_id)
            tier = (await standing_of(store, read, record.rules)).tier(record.rules)
        available = 0 if read.account.blocked else available_points(read.account, read.now)
        result = calculate(record.rules, tier, command.lines, available, command.redeem_points)
        quote = Quote(
            **msgspec.structs.asdict(result),
            customer_id=command.customer_id,
            available_points=available,
            rules_version=record.version,
        )
        return Accepted(value=quote)

    async def purchase(
        self, mutation: Mutation, customer_id: UUID, command: PurchaseCommand, render: Render
    ) -> StoredResponse:
        """A receipt paid in money: it earns points under the current rules (pending for the
        activation delay, expiring by the rules unless the request says otherwise), and its
        money counts toward the customer's tier. One purchase operation, one transaction."""
        actor = mutation.actor

        async def work(store: Store, locked: LockedAccount) -> Outcome:
            if locked.account.blocked:
                return refuse(Rejection.account_blocked, "The customer's account is blocked.")
            refused = (
                check_receipt(command.lines)
                or await check_card(store, locked, command.card_number)
                or await check_document(
                    store, locked.program_id, actor, OperationType.purchase, command.document
                )
            )
            if refused is not None:
                return refused
            record = await current_rules(store, locked.program_id)
            rules = record.rules
            standing = await standing_of(store, locked, rules)
            priced = calculate(rules, standing.tier(rules), command.lines, 0, 0)
            after = standing.tier(rules, priced.money_minor)
            activates_at = locked.now + timedelta(days=rules.activation_delay_days)
            expires_at = command.expires_at or expiry_at(rules.expiry, activates_at)
            posting = Posting(counter_account=SystemAccount.issued)  # a receipt that earns nothing
            if priced.earned_points > 0:
                decision = decide_earn(
                    locked.account, priced.earned_points, activates_at, expires_at, locked.now
                )
                if isinstance(decision, Rejected):
                    return refused_by(decision)
                posting = decision
            operation = await write_posting(
                store,
                locked,
                actor,
                OperationType.purchase,
                posting,
                document=command.document,
                rules_version=record.version,
            )
            await store.insert_purchase(operation.id, locked, priced)
            referral_points = await grant_referral(store, customer_id, locked.program_id, rules)
            credited = posting.customer_delta
            return Accepted(
                value=PurchaseRecord(
                    operation=operation_record(operation, "completed"),
                    tier=priced.tier,
                    tier_after=after.name if after else None,
                    rules_version=record.version,
                    amount_minor=priced.amount_minor,
                    money_minor=priced.money_minor,
                    earned_points=priced.earned_points,
                    debt_repaid=-posting.debt_delta,
                    activates_at=posting.new_lot.activates_at if posting.new_lot else None,
                    expires_at=posting.new_lot.expires_at if posting.new_lot else None,
                    lines=priced.lines,
                ),
                created=True,
                movement="issued" if credited else None,
                points=credited,
                more_movements=(("issued", referral_points),) if referral_points else (),
            )

        return await self.runner.on_customer(mutation, customer_id, work, render)

    async def return_lines(
        self, mutation: Mutation, operation_id: UUID, command: LineReturnCommand, render: Render
    ) -> StoredResponse:
        """Returns some of a purchase's lines: claws back what those lines earned (pending
        points first, then available ones); what was already spent is settled by the return
        policy of the rules the purchase was priced with; the money leaves the tier's spend."""
        actor = mutation.actor

        async def work(store: Store, locked: LockedAccount, original: Operation) -> Outcome:
            bought = await store.purchase_lines(original.id)
            if original.type is not OperationType.purchase or bought is None:
                return refuse(
                    Rejection.operation_not_refundable,
                    f"Lines can be returned from a purchase; this is a {original.type}.",
                    field="lines",
                )
            refused = await check_document(
                store, locked.program_id, actor, OperationType.refund, command.document
            )
            if refused is not None:
                return refused
            lines, version = bought
            before = await store.returned_quantities(original.id)
            plan = plan_return(lines, before, command.lines)
            if isinstance(plan, Rejected):
                return refuse(plan.rejection, plan.detail, field="lines")
            rules = (await rules_of(store, locked.program_id, version)).rules
            account, _ = await with_lots_of(store, locked, original)
            # A purchase refunded by points earlier has less left to claw back (I6).
            owed = min(plan.earned_points, abs(original.points) - original.refunded_points)
            posting, shortfall = claw_back_up_to(account, original, owed, locked.now)
            settlement = settle(rules.return_policy, shortfall, rules.point_value_minor)
            posting = msgspec.structs.replace(posting, debt_delta=settlement.debt_points)
            operation = await write_posting(
                store,
                locked,
                actor,
                OperationType.refund,
                posting,
                stored=account,
                document=command.document,
                refund_of=original.id,
            )
            taken = -posting.customer_delta
            if taken:
                await store.add_refunded_points(original.id, taken)
            await store.insert_returns(operation.id, original.id, plan, locked.now)
            after = (await standing_of(store, locked, rules)).tier(rules)
            return Accepted(
                value=RefundRecord(
                    **msgspec.structs.asdict(operation_record(operation, "completed")),
                    points_returned=0,
                    points_clawed_back=taken,
                    debt_points=settlement.debt_points,
                    withhold_minor=settlement.withhold_minor,
                    tier_after=after.name if after else None,
                    lines=plan.lines,
                ),
                created=True,
                movement="clawed_back" if taken else None,
                points=taken,
            )

        return await self.runner.on_operation(mutation, operation_id, work, render)

    async def tier(self, actor: Actor, customer_id: UUID) -> Outcome:
        async with self.database.reader() as store:
            read = await store.read_account(customer_id, actor.program_id)
            if read is None:
                return refuse(Rejection.not_found, "No customer with this id.")
            record = await current_rules(store, read.program_id)
            standing = await standing_of(store, read, record.rules)
        return Accepted(value=tier_record(customer_id, record, standing))

    async def set_tier(
        self, mutation: Mutation, customer_id: UUID, command: TierCommand, render: Render
    ) -> StoredResponse:
        """Sets (or with ``tier: null`` clears) the manual tier, which acts as a floor: the
        customer ranks at it or above, whatever the spend says."""
        actor = mutation.actor

        async def work(store: Store, locked: LockedAccount) -> Outcome:
            record = await current_rules(store, locked.program_id)
            names = [tier.name for tier in record.rules.tiers]
            if command.tier is not None and command.tier not in names:
                return refuse(
                    Rejection.validation_error,
                    f"The program's rules have no tier {command.tier!r}; they have {names}.",
                    field="tier",
                )
            await store.set_tier_floor(customer_id, command.tier, locked.program_id)
            log.info(
                "tier_floor_set",
                customer_id=str(customer_id),
                tier=command.tier,
                reason=command.reason,
                key_id=str(actor.key_id),
            )
            standing = await standing_of(store, locked, record.rules)
            return Accepted(value=tier_record(customer_id, record, standing))

        return await self.runner.on_customer(mutation, customer_id, work, render)
