"""Programs, their rules, bonuses, tiers and purchases (named queries in ``sql/programs.sql``,
``rules.sql``, ``bonuses.sql``, ``purchases.sql``). Mixed into ``PostgresStore``."""

import json
from datetime import datetime
from uuid import UUID

import msgspec

from processing.adapters.postgres.membership import stored_membership
from processing.adapters.postgres.named import NamedQueries, answer_row
from processing.adapters.postgres.queries import QUERIES
from processing.adapters.postgres.rows import record_of, rules_row
from processing.core.membership import Membership
from processing.core.rules import Rules
from processing.service.ports import Answer, Event, RulesFacts
from processing.service.records import Position, ProgramRecord, ProgramSettings, RulesRecord

# A version of a program's rules is taken by the first replacement decided on the one before.
_rules_taken = frozenset({"program_rules_pkey"})


class LoyaltyQueries(NamedQueries):
    async def insert_program(self, program_id: UUID, program: ProgramSettings) -> ProgramRecord:
        row = await self._fetchrow(
            "insert_program",
            program_id,
            program.name,
            program.currency,
            program.country,
            program.hold_ttl_seconds_default,
            program.hold_ttl_seconds_max,
            program.expiry_days,
            program.key_points_per_call_max,
            program.key_points_per_day_max,
        )
        return record_of(row, ProgramRecord)

    async def create_program(self, program: ProgramRecord, answer: Answer) -> bool:
        row = await self._answered(
            "create_program",
            answer,
            program.id,
            program.name,
            program.currency,
            program.country,
            program.hold_ttl_seconds_default,
            program.hold_ttl_seconds_max,
            program.expiry_days,
            program.key_points_per_call_max,
            program.key_points_per_day_max,
            program.created_at,
        )
        return row is not None

    async def get_program(self, program_id: UUID, scope: UUID | None) -> ProgramRecord | None:
        row = await self._fetchrow("get_program", program_id, scope)
        return None if row is None else record_of(row, ProgramRecord)

    async def rules_facts(
        self, program_id: UUID, scope: UUID | None, rules: Rules
    ) -> RulesFacts | None:
        encoded = msgspec.json.encode(rules).decode()
        row = await self._fetchrow("rules_facts", program_id, scope, encoded)
        if row is None:
            return None
        stored = msgspec.json.decode(row["rules"], type=Rules)
        return RulesFacts(version=row["version"], rules=stored, now=row["now"])

    async def insert_rules(self, rules: RulesRecord, key_id: UUID, answer: Answer) -> bool:
        row = await self._answered(
            "insert_rules",
            answer,
            rules.program_id,
            rules.version,
            msgspec.json.encode(rules.rules).decode(),
            key_id,
            rules.created_at,
            races=_rules_taken,
        )
        return row is not None

    async def current_rules(self, program_id: UUID) -> RulesRecord | None:
        row = await self._fetchrow("current_rules", program_id)
        return None if row is None else rules_row(row)

    async def rules_versions(self, program_id: UUID, before: int, limit: int) -> list[RulesRecord]:
        rows = await self._fetch("rules_versions", program_id, before, limit)
        return [rules_row(row) for row in rows]

    async def referral_due(self, customer_id: UUID) -> UUID | None:
        value = await self.connection.fetchval(QUERIES["referral_due"], customer_id)
        return value  # type: ignore[no-any-return]

    async def bonus_granted(self, account_id: UUID, kind: str, period: str) -> bool:
        return await self._fetchrow("bonus_granted", account_id, kind, period) is not None

    async def insert_bonus_grant(
        self, account_id: UUID, kind: str, period: str, operation_id: UUID
    ) -> bool:
        row = await self._fetchrow("insert_bonus_grant", account_id, kind, period, operation_id)
        return row is not None

    async def tier_inputs(
        self, account_id: UUID, since: datetime
    ) -> tuple[int, str | None, Membership | None]:
        row = await self._fetchrow("tier_inputs", account_id, since)
        if row is None:  # a select of scalar subqueries always returns its row
            raise RuntimeError("tier_inputs returned no row")
        stored = stored_membership(row["membership"])
        membership = None if stored is None else stored.membership
        return int(row["spend"]), row["tier_floor"], membership

    async def set_tier_floor(
        self, customer_id: UUID, version: int, tier: str | None, told: Event | None, answer: Answer
    ) -> bool:
        written = await self.connection.fetchval(
            QUERIES["set_tier_floor"],
            *answer_row(answer),
            customer_id,
            version,
            tier,
            None if told is None else told.type,
            None if told is None else json.dumps(told.payload, default=str),
        )
        return bool(written)

    async def find_program_by_name(self, name: str) -> ProgramRecord | None:
        row = await self._fetchrow("find_program_by_name", name)
        return None if row is None else record_of(row, ProgramRecord)

    async def list_programs(
        self,
        scope: UUID | None,
        name_prefix: str | None,
        after: Position,
        limit: int,
    ) -> list[ProgramRecord]:
        rows = await self._fetch("list_programs", scope, name_prefix, after.at, after.id, limit)
        return [record_of(row, ProgramRecord) for row in rows]
