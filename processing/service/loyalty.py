"""Loyalty rules and the checkout calculation.

``replace_rules`` adds a version of a program's rules (never changes one); ``rules`` reads the
current version (version 0, the defaults, for a program never given any). ``calculate`` prices a
receipt for a customer with no side effect: the current rules, the customer's tier and the
points available now.
"""

from uuid import UUID

import msgspec

from processing.core.balances import available_points
from processing.core.checkout import Calculation, Line, calculate
from processing.core.model import Rejected
from processing.core.rejections import Rejection
from processing.core.rules import Rules, check_rules, tier_for
from processing.service.customers import program_of
from processing.service.ledger import refused_by
from processing.service.mutations import Mutation, MutationRunner, Render
from processing.service.ports import Database, Store
from processing.service.records import (
    Accepted,
    Actor,
    Outcome,
    Refused,
    RulesRecord,
    StoredResponse,
    refuse,
)


class Quote(Calculation, frozen=True, kw_only=True):
    """A calculation with what it was computed from."""

    customer_id: UUID
    available_points: int
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


async def current_rules(store: Store, program_id: UUID) -> RulesRecord:
    found = await store.current_rules(program_id)
    return found or RulesRecord(program_id=program_id, version=0, rules=Rules(), created_at=None)


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
        # Money spent over the tier window comes with purchases; until a customer has any, the
        # tier is the one reached with no spend.
        tier = tier_for(record.rules, spend_minor=0)
        available = 0 if read.account.blocked else available_points(read.account, read.now)
        result = calculate(record.rules, tier, command.lines, available, command.redeem_points)
        quote = Quote(
            **msgspec.structs.asdict(result),
            customer_id=command.customer_id,
            available_points=available,
            rules_version=record.version,
        )
        return Accepted(value=quote)
