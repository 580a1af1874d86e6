"""Promoters, the customers they bring and their rewards (``sql/promoters.sql``, decision 0034).
The reward and its claw-back are ledger operations written by the plan writer; this is the
admin's side and the rows that make each happen once. Mixed into ``PostgresStore``."""

from uuid import UUID

import asyncpg

from processing.adapters.postgres.named import NamedQueries
from processing.service.ports import Answer
from processing.service.records import (
    Position,
    PromoterDue,
    PromoterFacts,
    PromoterRecord,
    PromoterReward,
    RewardDue,
)


def _promoter(row: asyncpg.Record) -> PromoterRecord:
    return PromoterRecord(**dict(row.items()))


class PromoterQueries(NamedQueries):
    async def promoter_facts(self, program_id: UUID, customer_id: UUID, code: str) -> PromoterFacts:
        rows = await self._fetch("promoter_facts", program_id, customer_id, code)
        return PromoterFacts(**dict(rows[0].items()))

    async def insert_promoter(self, promoter: PromoterRecord, key_id: UUID, answer: Answer) -> bool:
        row = await self._answered(
            "insert_promoter",
            answer,
            promoter.id,
            promoter.program_id,
            promoter.customer_id,
            promoter.name,
            promoter.code,
            promoter.reward_points,
            promoter.reward_share_bp,
            key_id,
            promoter.created_at,
            races=frozenset({"promoters_program_id_code_key"}),
        )
        return row is not None

    async def get_promoter(self, promoter_id: UUID, program_id: UUID) -> PromoterRecord | None:
        row = await self._fetchrow("get_promoter", promoter_id, program_id)
        return None if row is None else _promoter(row)

    async def list_promoters(
        self, program_id: UUID, after: Position, limit: int
    ) -> list[PromoterRecord]:
        rows = await self._fetch("list_promoters", program_id, after.at, after.id, limit)
        return [_promoter(row) for row in rows]

    async def attribute_to_promoter(self, customer_id: UUID, program_id: UUID, code: str) -> bool:
        row = await self._fetchrow("attribute_to_promoter", customer_id, program_id, code)
        return row is not None

    async def promoter_due(self, customer_id: UUID) -> PromoterDue | None:
        row = await self._fetchrow("promoter_due", customer_id)
        return None if row is None else PromoterDue(**dict(row.items()))

    async def insert_promoter_reward(self, reward: PromoterReward) -> bool:
        row = await self._fetchrow(
            "insert_promoter_reward",
            reward.customer_id,
            reward.program_id,
            reward.promoter_id,
            reward.purchase_operation_id,
            reward.reward_operation_id,
            reward.reward_lot_id,
            reward.points,
        )
        return row is not None

    async def promoter_clawback_due(self, purchase_id: UUID) -> RewardDue | None:
        row = await self._fetchrow("promoter_clawback_due", purchase_id)
        return None if row is None else RewardDue(**dict(row.items()))

    async def settle_promoter_clawback(
        self, customer_id: UUID, clawback_id: UUID, points: int, reward_operation_id: UUID
    ) -> bool:
        row = await self._fetchrow(
            "settle_promoter_clawback", customer_id, clawback_id, points, reward_operation_id
        )
        return row is not None
