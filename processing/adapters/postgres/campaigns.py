"""Campaigns (``sql/campaigns.sql``, decision 0024): their rows, the snapshot of a segment's
members in one ``insert … select`` over the segment's compiled statement, and each member's
outcome. Mixed into ``PostgresStore``."""

import json
from datetime import datetime
from typing import Any
from uuid import UUID

import msgspec

from processing.adapters.postgres.named import NamedQueries
from processing.adapters.postgres.segments import matching
from processing.service.ports import Answer, Audience
from processing.service.records import (
    CampaignMessages,
    CampaignRecord,
    Position,
    SettledMember,
    TriggerTemplate,
)


def _counted(progress: str) -> dict[str, dict[str, int]]:
    """``{"state:why": n}`` as ``{state: {why: n}}`` (why ``""`` when there is none)."""
    counts: dict[str, dict[str, int]] = {}
    for key, n in json.loads(progress).items():
        state, _, why = key.partition(":")
        counts.setdefault(state, {})[why] = n
    return counts


def _campaign(row: Any) -> CampaignRecord:
    """The row with its members counted by ``state:why`` (``progress``) and its messages by
    ``state:reason`` (``message_progress``)."""
    members, messages = _counted(row["progress"]), _counted(row["message_progress"])

    def total(counts: dict[str, dict[str, int]], state: str) -> int:
        return sum(counts.get(state, {}).values())

    fields: dict[str, Any] = dict(row.items())
    for computed in ("progress", "message_progress", "templates"):
        del fields[computed]
    return CampaignRecord(
        **fields,
        templates=msgspec.json.decode(row["templates"], type=list[TriggerTemplate]),
        pending=total(members, "pending"),
        accrued=total(members, "accrued"),
        messaged=total(members, "messaged"),
        failed=total(members, "failed"),
        skipped=members.get("skipped", {}),
        messages=CampaignMessages(
            queued=total(messages, "queued"),
            sent=total(messages, "sent"),
            failed=total(messages, "failed"),
            suppressed=messages.get("suppressed", {}),
        ),
    )


class CampaignQueries(NamedQueries):
    async def insert_campaign(self, campaign: CampaignRecord, answer: Answer) -> bool:
        row = await self._answered(
            "insert_campaign",
            answer,
            campaign.id,
            campaign.program_id,
            campaign.segment_id,
            campaign.key_id,
            campaign.name,
            campaign.points,
            campaign.expires_at,
            campaign.expiry_days,
            campaign.reason,
            campaign.starts_at,
            campaign.created_at,
            msgspec.json.encode(campaign.templates).decode(),
        )
        return row is not None

    async def get_campaign(self, campaign_id: UUID, scope: UUID | None) -> CampaignRecord | None:
        row = await self._fetchrow("get_campaign", campaign_id, scope)
        return None if row is None else _campaign(row)

    async def list_campaigns(
        self, program_id: UUID, after: Position, limit: int
    ) -> list[CampaignRecord]:
        rows = await self._fetch("list_campaigns", program_id, after.at, after.id, limit)
        return [_campaign(row) for row in rows]

    async def due_campaigns(self, limit: int) -> list[UUID]:
        return [row["id"] for row in await self._fetch("due_campaigns", limit)]

    async def start_campaign(self, campaign_id: UUID, audience: Audience) -> None:
        row = await self._fetchrow("lock_campaign", campaign_id)
        if row is None or row["state"] != "scheduled":
            return
        text, params = matching(audience)
        # The segment's own compiled statement (values only as parameters, decision 0022),
        # its members written with one more parameter: the campaign.
        snapshot = (
            f"insert into campaign_members (campaign_id, customer_id) "
            f"select ${len(params) + 1}::uuid, c.id {text} on conflict do nothing"
        )
        status = await self.connection.execute(snapshot, *params, campaign_id)
        await self._execute("campaign_started", campaign_id, int(status.rsplit(" ", 1)[-1]))

    async def campaign_state(self, campaign_id: UUID) -> tuple[str | None, datetime]:
        """The campaign's state (None: no such campaign) and the database's clock."""
        row = await self._fetchrow("campaign_state", campaign_id)
        if row is None:
            raise AssertionError("the clock row is always there")
        return row["state"], row["now"]

    async def pending_members(self, campaign_id: UUID, limit: int) -> list[UUID]:
        rows = await self._fetch("pending_members", campaign_id, limit)
        return [row["customer_id"] for row in rows]

    async def settle_members(self, campaign_id: UUID, settled: list[SettledMember]) -> None:
        await self._execute(
            "settle_members",
            campaign_id,
            [member.customer_id for member in settled],
            [member.state for member in settled],
            [member.why for member in settled],
            [member.operation_id for member in settled],
        )

    async def member_attempt_failed(
        self, campaign_id: UUID, customer_id: UUID, why: str, attempts_max: int
    ) -> None:
        await self._execute("member_attempt_failed", campaign_id, customer_id, why, attempts_max)

    async def campaign_templates(self, campaign_id: UUID) -> list[TriggerTemplate] | None:
        row = await self._fetchrow("campaign_templates", campaign_id)
        if row is None:
            return None
        return msgspec.json.decode(row["templates"], type=list[TriggerTemplate])

    async def finish_campaign(self, campaign_id: UUID) -> bool:
        return await self._fetchrow("finish_campaign", campaign_id) is not None

    async def cancel_campaign(self, campaign_id: UUID, at: datetime, answer: Answer) -> bool:
        return await self._answered("cancel_campaign", answer, campaign_id, at) is not None


__all__ = ["CampaignQueries"]
