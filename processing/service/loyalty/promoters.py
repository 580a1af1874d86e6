"""Promoters (decision 0034): the admin's promoters with their codes, links and QR codes, the
reward a referred customer's first purchase pays the promoter, and its claw-back when that
purchase is returned in full.

The reward is written inside the first purchase's own transaction on the locked turn, as the
referral bonus is (``with_referral``): the promoter's account is locked after the customer's
(a promoter is made of a customer enrolled before anyone it brings, so locks are always taken
newer to older), the accrual is claimed as the bonus ``promoter:<customer>`` once, and the
``promoter_rewards`` row (one per customer) names it. A return that leaves the purchase fully
returned claws the reward back in the return's transaction, as a refund of the reward."""

from datetime import datetime
from uuid import UUID, uuid4

import msgspec

from processing.core.events import EventType
from processing.core.model import OperationType
from processing.core.promoters import claw_back_reward, new_code, normalized_code, reward_points
from processing.core.rejections import Rejection
from processing.service.ledger.decisions import posting_change
from processing.service.loyalty.bonuses import grant_change
from processing.service.mutations import (
    Change,
    Decided,
    Decision,
    Mutation,
    MutationRunner,
    Render,
)
from processing.service.paging import Position, by_creation, paged
from processing.service.ports import (
    Answer,
    BonusGrant,
    Database,
    NewOperation,
    RetryTransaction,
    Store,
)
from processing.service.records import (
    Accepted,
    Actor,
    Outcome,
    PromoterFacts,
    PromoterRecord,
    PromoterReward,
    Refused,
    RulesRecord,
    StoredResponse,
    refuse,
)


class PromoterCommand(msgspec.Struct, frozen=True, kw_only=True):
    customer_id: UUID
    name: str
    code: str | None = None
    reward_points: int = 0
    reward_share_bp: int = 0


_no_program = refuse(Rejection.not_found, "No such program.")


def promoter_refusal(
    facts: PromoterFacts, command: PromoterCommand, code: str | None
) -> Refused | None:
    if code is None:
        return refuse(
            Rejection.validation_error,
            "code must be 4 to 32 letters and digits (spaces and dashes are dropped).",
            field="code",
        )
    if command.reward_points <= 0 and command.reward_share_bp <= 0:
        return refuse(
            Rejection.validation_error,
            "A promoter is rewarded by reward_points, reward_share_bp or both.",
            field="reward_points",
        )
    if not facts.customer_found:
        return refuse(
            Rejection.not_found,
            "customer_id is not a customer of this program.",
            field="customer_id",
        )
    if facts.code_taken:
        return refuse(
            Rejection.promoter_code_taken,
            "Another promoter of the program has this code.",
            field="code",
        )
    return None


def promoter_link(public_url: str, promoter: PromoterRecord) -> str | None:
    """The referral link: the program's enrollment page carrying the code (none without a
    page)."""
    if promoter.slug is None:
        return None
    return f"{public_url}/join/{promoter.slug}?promoter={promoter.code}"


class Promoters:
    def __init__(self, database: Database, runner: MutationRunner, public_url: str) -> None:
        self.database = database
        self.runner = runner
        self.public_url = public_url.rstrip("/")

    def link(self, promoter: PromoterRecord) -> str | None:
        return promoter_link(self.public_url, promoter)

    async def create(
        self, mutation: Mutation, program_id: UUID, command: PromoterCommand, render: Render
    ) -> StoredResponse:
        """A promoter of the program: a customer record of it (its bonus account), its code
        (made when not given) and its reward."""
        actor = mutation.actor
        code = new_code() if command.code is None else normalized_code(command.code)

        async def load(store: Store) -> PromoterFacts | None:
            if await store.get_program(program_id, actor.program_id) is None:
                return None
            return await store.promoter_facts(program_id, command.customer_id, code or "")

        def decide(facts: PromoterFacts | None) -> Change | Outcome:
            if facts is None:
                return _no_program
            refused = promoter_refusal(facts, command, code)
            if refused is not None or code is None:
                return refused or _no_program
            promoter = PromoterRecord(
                id=uuid4(),
                program_id=program_id,
                customer_id=command.customer_id,
                name=command.name,
                code=code,
                reward_points=command.reward_points,
                reward_share_bp=command.reward_share_bp,
                created_at=facts.now,
                slug=facts.slug,
            )

            async def write(store: Store, answer: Answer) -> bool:
                return await store.insert_promoter(promoter, actor.key_id, answer)

            return Change(outcome=Accepted(value=promoter, created=True), write=write)

        return await self.runner.change(mutation, Decision(load, decide), render)

    async def known_code(self, program_id: UUID, typed: str) -> str | None:
        """The code as stored when a promoter of the program has it (the enrollment page's
        ``?promoter=``); None otherwise."""
        code = normalized_code(typed)
        if code is None:
            return None
        async with self.database.reader() as store:
            found = await store.promoter_facts(program_id, program_id, code)
        return code if found.code_taken else None

    async def get(self, actor: Actor, program_id: UUID, promoter_id: UUID) -> Outcome:
        async with self.database.reader() as store:
            if await store.get_program(program_id, actor.program_id) is None:
                return _no_program
            found = await store.get_promoter(promoter_id, program_id)
        if found is None:
            return refuse(Rejection.not_found, "No promoter with this id.")
        return Accepted(value=found)

    async def page(self, actor: Actor, program_id: UUID, limit: int, cursor: str | None) -> Outcome:
        async def read(store: Store, after: Position, count: int) -> list[PromoterRecord] | Refused:
            if await store.get_program(program_id, actor.program_id) is None:
                return _no_program
            return await store.list_promoters(program_id, after, count)

        return await paged(self.database, cursor, limit, read, by_creation)


async def reward_promoter(
    store: Store,
    customer_id: UUID,
    program_id: UUID,
    record: RulesRecord,
    purchase: NewOperation,
    money_minor: int,
) -> int:
    """Inside a purchase's transaction: when it is the first purchase of a customer a promoter
    brought, the promoter's reward (once: claimed as a bonus and recorded per customer);
    returns its points. The purchase stands whatever this says (a blocked promoter, say,
    simply gets nothing)."""
    due = await store.promoter_due(customer_id)
    if due is None:
        return 0
    rules = record.rules
    points = reward_points(
        due.reward_points, due.reward_share_bp, money_minor, rules.point_value_minor
    )
    if points <= 0:
        return 0
    locked = await store.lock_account(due.customer_id, program_id)
    kind = f"promoter:{customer_id}"
    if locked is None or await store.bonus_granted(locked.account.id, kind, "once"):
        return 0
    claimed = BonusGrant(kind=kind, period="once")
    decided = grant_change(locked, None, record, claimed, points, None, "promoter reward")
    if not isinstance(decided, Decided):
        return 0
    change = decided.change
    told = msgspec.structs.replace(
        change,
        event={
            **change.event,
            "promoter_id": str(due.id),
            "referred_customer_id": str(customer_id),
            "purchase_operation_id": str(purchase.id),
        },
        event_types=(*change.event_types, EventType.promoter_rewarded),
    )
    await store.write(told)
    if not await store.insert_bonus_grant(locked.account.id, kind, "once", change.operation.id):
        raise RetryTransaction
    reward = PromoterReward(
        customer_id=customer_id,
        program_id=program_id,
        promoter_id=due.id,
        purchase_operation_id=purchase.id,
        reward_operation_id=change.operation.id,
        reward_lot_id=change.new_lot_id,
        points=points,
    )
    if not await store.insert_promoter_reward(reward):
        raise RetryTransaction
    return points


async def claw_back_promoter(
    store: Store, purchase_id: UUID, program_id: UUID, now: datetime
) -> int:
    """Inside a return's transaction: when it left a rewarding purchase returned in full, the
    promoter's reward taken back (a refund of the reward operation; what the promoter already
    spent is forgiven). Returns the points taken."""
    due = await store.promoter_clawback_due(purchase_id)
    if due is None:
        return 0
    locked = await store.lock_account(due.promoter_customer_id, program_id)
    if locked is None:
        return 0
    posting, _ = claw_back_reward(locked.account, due.reward_lot_id, due.points, locked.now)
    operation, change = posting_change(
        locked,
        None,
        OperationType.refund,
        posting,
        refund_of=due.reward_operation_id,
        reason="promoter reward clawed back: the purchase was returned",
    )
    told = msgspec.structs.replace(
        change,
        event={
            **change.event,
            "promoter_id": str(due.promoter_id),
            "referred_customer_id": str(due.customer_id),
            "purchase_operation_id": str(purchase_id),
        },
    )
    await store.write(told)
    taken = -operation.points
    settled = await store.settle_promoter_clawback(
        due.customer_id, operation.id, taken, due.reward_operation_id
    )
    if not settled:
        raise RetryTransaction
    return taken


async def attribute_customer(
    database: Database, customer_id: UUID, program_id: UUID, typed: str
) -> bool:
    """A customer, not attributed and yet to buy, made the customer of the promoter whose code
    an order or a lead carries (one statement); False when nothing changed (an unknown code, a
    customer already attributed or who has bought)."""
    code = normalized_code(typed)
    if code is None:
        return False
    async with database.transaction() as store:
        return await store.attribute_to_promoter(customer_id, program_id, code)
