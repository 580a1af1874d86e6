"""Promo campaigns and their codes (``sql/promo.sql``, decision 0032). A code's use is written
by the purchase's own apply (``sql/turns.sql``); this is the admin's side and the read a
calculation makes. Mixed into ``PostgresStore``."""

from datetime import datetime
from typing import Any
from uuid import UUID

import msgspec

from processing.adapters.postgres.named import NamedQueries
from processing.core.promo import Code
from processing.service.ports import Answer
from processing.service.records import Position, PromoCampaignRecord, PromoCodeRecord


def _campaign(row: Any) -> PromoCampaignRecord:
    fields: dict[str, Any] = dict(row.items())
    for listed in ("channels", "stores", "skus", "categories"):
        fields[listed] = list(fields[listed])
    return PromoCampaignRecord(**fields)


class PromoQueries(NamedQueries):
    async def insert_promo_campaign(self, campaign: PromoCampaignRecord, answer: Answer) -> bool:
        row = await self._answered(
            "insert_promo_campaign",
            answer,
            campaign.id,
            campaign.program_id,
            campaign.key_id,
            campaign.name,
            campaign.starts_at,
            campaign.ends_at,
            campaign.channels,
            campaign.stores,
            campaign.min_amount_minor,
            campaign.skus,
            campaign.categories,
            campaign.effect,
            campaign.value,
            campaign.uses_max,
            campaign.uses_per_customer_max,
            campaign.stacking,
            campaign.created_at,
        )
        return row is not None

    async def get_promo_campaign(
        self, campaign_id: UUID, program_id: UUID
    ) -> PromoCampaignRecord | None:
        row = await self._fetchrow("get_promo_campaign", campaign_id, program_id)
        return None if row is None else _campaign(row)

    async def list_promo_campaigns(
        self, program_id: UUID, after: Position, limit: int
    ) -> list[PromoCampaignRecord]:
        rows = await self._fetch("list_promo_campaigns", program_id, after.at, after.id, limit)
        return [_campaign(row) for row in rows]

    async def end_promo_campaign(
        self, campaign_id: UUID, program_id: UUID, now: datetime, answer: Answer
    ) -> bool:
        row = await self._answered("end_promo_campaign", answer, campaign_id, program_id, now)
        return row is not None

    async def insert_promo_codes(
        self, codes: list[PromoCodeRecord], program_id: UUID, answer: Answer
    ) -> bool:
        # A code taken meanwhile writes nothing: decided again, the decision sees it taken.
        row = await self._answered(
            "insert_promo_codes",
            answer,
            codes[0].campaign_id,
            program_id,
            [code.id for code in codes],
            [code.code for code in codes],
            [code.kind for code in codes],
            [code.customer_id for code in codes],
            [code.uses_max for code in codes],
            codes[0].created_at,
            races=frozenset({"promo_codes_code"}),
        )
        return row is not None and row["made"] == len(codes)

    async def promo_codes_of(self, campaign_id: UUID) -> list[PromoCodeRecord]:
        rows = await self._fetch("promo_codes_of", campaign_id)
        return [PromoCodeRecord(**dict(row.items())) for row in rows]

    async def find_promo_codes(
        self, program_id: UUID, account_id: UUID, codes: tuple[str, ...]
    ) -> dict[str, Code]:
        row = await self._fetchrow("find_promo_codes", program_id, account_id, list(codes))
        found = msgspec.json.decode(row["codes"] if row else "[]", type=list[Code])
        return {code.code: code for code in found}

    async def promo_code_taken(self, program_id: UUID, code: str) -> bool:
        row = await self._fetchrow("promo_code_taken", program_id, code)
        return bool(row and row["taken"])

    async def customer_in_program(self, customer_id: UUID, program_id: UUID) -> bool:
        row = await self._fetchrow("customer_in_program", customer_id, program_id)
        return bool(row and row["found"])
