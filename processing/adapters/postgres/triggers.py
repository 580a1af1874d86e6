"""Trigger messages: settings, triggers, the events they want and the messages they made
(named queries in ``sql/triggers.sql``). Mixed into ``PostgresStore``."""

from datetime import datetime
from uuid import UUID

import asyncpg
import msgspec

from processing.adapters.postgres.named import NamedQueries
from processing.adapters.postgres.queries import QUERIES
from processing.adapters.postgres.rows import record_of
from processing.service.ports import Answer
from processing.service.records import (
    BirthdayTrigger,
    LeasedMessage,
    MessageEvent,
    MessageFacts,
    MessageRecord,
    MessageSettingsRecord,
    NewMessage,
    RetryFacts,
    TriggerRecord,
    TriggerTemplate,
)

_templates = msgspec.json.Decoder(list[TriggerTemplate])


def trigger_row(row: asyncpg.Record) -> TriggerRecord:
    return TriggerRecord(
        trigger=row["trigger"],
        enabled=row.get("enabled", True),
        kind=row["kind"],
        templates=_templates.decode(row["templates"]),
        version=row["version"],
        updated_at=row.get("updated_at"),
        days_before=row["days_before"],
    )


class TriggerQueries(NamedQueries):
    async def message_settings(self, program_id: UUID) -> MessageSettingsRecord | None:
        row = await self._fetchrow("message_settings", program_id)
        return None if row is None else record_of(row, MessageSettingsRecord)

    async def put_message_settings(
        self, program_id: UUID, settings: MessageSettingsRecord, answer: Answer
    ) -> bool:
        written = await self._answered(
            "put_message_settings",
            answer,
            program_id,
            settings.time_zone,
            settings.quiet_start_minute,
            settings.quiet_end_minute,
            settings.daily_cap,
            settings.updated_at,
        )
        return written is not None

    async def message_triggers(self, program_id: UUID) -> list[TriggerRecord]:
        return [trigger_row(row) for row in await self._fetch("message_triggers", program_id)]

    async def message_trigger(self, program_id: UUID, trigger: str) -> TriggerRecord | None:
        row = await self._fetchrow("message_trigger", program_id, trigger)
        return None if row is None else trigger_row(row)

    async def put_message_trigger(
        self,
        program_id: UUID,
        event_type: str,
        record: TriggerRecord,
        key_id: UUID,
        answer: Answer,
    ) -> bool:
        written = await self._answered(
            "put_message_trigger",
            answer,
            program_id,
            record.trigger,
            event_type,
            record.enabled,
            record.kind,
            msgspec.json.encode(record.templates).decode(),
            key_id,
            record.updated_at,
            record.days_before,
        )
        return written is not None

    async def take_message_events(self, limit: int) -> list[MessageEvent]:
        rows = await self._fetch("take_message_events", limit)
        return [record_of(row, MessageEvent) for row in rows]

    async def message_events_processed(self, event_ids: list[int]) -> None:
        await self._execute("message_events_processed", event_ids)

    async def lock_customer_messages(self, customer_id: UUID) -> None:
        await self._execute("lock_customer_messages", customer_id)

    async def message_facts(self, customer_id: UUID) -> MessageFacts | None:
        row = await self._fetchrow("message_facts", customer_id)
        return None if row is None else record_of(row, MessageFacts)

    async def event_triggers(self, program_id: UUID, event_type: str) -> list[TriggerRecord]:
        rows = await self._fetch("event_triggers", program_id, event_type)
        return [trigger_row(row) for row in rows]

    async def marketing_counted(self, customer_id: UUID, since: datetime) -> dict[str, int]:
        rows = await self._fetch("marketing_counted", customer_id, since)
        return {row["channel"]: int(row["counted"]) for row in rows}

    async def operation_store(self, operation_id: UUID) -> str | None:
        value = await self.connection.fetchval(QUERIES["operation_store"], operation_id)
        return value  # type: ignore[no-any-return]

    async def insert_message(self, message: NewMessage) -> int | None:
        value = await self.connection.fetchval(
            QUERIES["insert_message"],
            message.program_id,
            message.customer_id,
            message.channel,
            message.kind,
            message.trigger,
            message.event_key,
            message.template_version,
            message.locale,
            message.recipient,
            message.subject,
            message.body,
            message.state,
            message.reason,
            message.next_attempt_at,
            message.campaign_id,
        )
        return value  # type: ignore[no-any-return]

    async def lease_messages(self, limit: int, lease_seconds: float) -> list[LeasedMessage]:
        rows = await self._fetch("lease_messages", limit, lease_seconds)
        return [record_of(row, LeasedMessage) for row in rows]

    async def defer_messages(self, deferred: list[tuple[int, datetime]]) -> None:
        ids, untils = [message_id for message_id, _ in deferred], [at for _, at in deferred]
        await self._execute("defer_messages", ids, untils)

    async def message_sent(self, message_id: int, provider_id: str | None) -> None:
        await self._execute("message_sent", message_id, provider_id)

    async def retry_facts(self, message_id: int) -> RetryFacts | None:
        row = await self._fetchrow("retry_facts", message_id)
        return None if row is None else record_of(row, RetryFacts)

    async def message_failed(
        self, message_id: int, retry_at: datetime, reason: str, max_attempts: int
    ) -> str | None:
        row = await self._fetchrow("message_failed", message_id, retry_at, reason, max_attempts)
        return None if row is None else str(row["state"])

    async def purge_messages(self, retention_seconds: int, limit: int) -> int:
        status = await self._execute("purge_messages", float(retention_seconds), limit)
        return int(status.split()[-1])

    async def purge_message_events(self, retention_seconds: int, limit: int) -> int:
        status = await self._execute("purge_message_events", float(retention_seconds), limit)
        return int(status.split()[-1])

    async def customer_messages(
        self, customer_id: UUID, before_id: int, limit: int
    ) -> list[MessageRecord]:
        rows = await self._fetch("customer_messages", customer_id, before_id, limit)
        return [record_of(row, MessageRecord) for row in rows]

    async def customer_of_program(self, customer_id: UUID, scope: UUID | None) -> UUID | None:
        value = await self.connection.fetchval(QUERIES["customer_of_program"], customer_id, scope)
        return value  # type: ignore[no-any-return]

    async def unsubscribe(self, consent_id: UUID, customer_id: UUID, channel: str) -> bool:
        written = await self._fetchrow("unsubscribe", consent_id, customer_id, channel)
        return written is not None

    async def scan_expiring_lots(self, limit: int) -> int:
        return len(await self._fetch("scan_expiring_lots", limit))

    async def birthday_triggers(self) -> list[BirthdayTrigger]:
        return [record_of(row, BirthdayTrigger) for row in await self._fetch("birthday_triggers")]

    async def scan_birthdays(
        self, program_id: UUID, days: list[tuple[str, int]], limit: int
    ) -> int:
        born, years = [day for day, _ in days], [year for _, year in days]
        return len(await self._fetch("scan_birthdays", program_id, born, years, limit))

    async def scan_welcomes(self, limit: int, delay_seconds: float, grace_seconds: float) -> int:
        return len(await self._fetch("scan_welcomes", limit, delay_seconds, grace_seconds))
