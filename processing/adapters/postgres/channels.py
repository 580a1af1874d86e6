"""The Postgres side of partner channels: connections and the inbox (named queries in
``sql/channels.sql``). Mixed into ``PostgresStore`` so one transaction can span both."""

import json
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from processing.adapters.postgres.named import NamedQueries
from processing.adapters.postgres.queries import QUERIES
from processing.adapters.postgres.rows import record_of
from processing.service.ports import Answer, InboxEventFacts
from processing.service.records import (
    Connection,
    ConnectionRecord,
    InboxEventRecord,
    LeasedEvent,
    Position,
)


class ChannelQueries(NamedQueries):
    def _connection_of(self, row: asyncpg.Record | None) -> Connection:
        if row is None:
            raise LookupError("expected a channel_connections row, the query returned none")
        stored = row["secrets_sealed"]
        # A row from before sealing keeps its secrets in clear until the next start seals it.
        secrets = (
            json.loads(row["secrets"])
            if stored is None
            else json.loads(self.keyring.open(stored, f"connection:{row['id']}"))
        )
        return Connection(
            id=row["id"],
            program_id=row["program_id"],
            partner=row["partner"],
            account=row["account"],
            key_id=row["key_id"],
            secrets=secrets,
            settings=json.loads(row["settings"]),
            active=row["active"],
        )

    async def insert_connection(
        self,
        connection_id: UUID,
        program_id: UUID,
        partner: str,
        account: str,
        key_id: UUID,
        secrets: dict[str, str],
        settings: dict[str, Any],
    ) -> Connection | None:
        row = await self.connection.fetchrow(
            QUERIES["insert_connection"],
            connection_id,
            program_id,
            partner,
            account,
            key_id,
            self.keyring.seal(json.dumps(secrets), f"connection:{connection_id}"),
            json.dumps(settings),
        )
        return None if row is None else self._connection_of(row)

    async def get_connection(self, connection_id: UUID) -> Connection | None:
        row = await self.connection.fetchrow(QUERIES["get_connection"], connection_id)
        return None if row is None else self._connection_of(row)

    async def list_connections(self, partner: str) -> list[Connection]:
        rows = await self.connection.fetch(QUERIES["list_connections"], partner)
        return [self._connection_of(row) for row in rows]

    async def set_connection_setting(self, connection_id: UUID, name: str, value: str) -> None:
        await self.connection.execute(QUERIES["set_connection_setting"], connection_id, name, value)

    async def link_contact(
        self, connection_id: UUID, customer_id: UUID, program_id: UUID, contact_id: str
    ) -> None:
        await self.connection.execute(
            QUERIES["link_contact"], connection_id, customer_id, program_id, contact_id
        )

    async def clock_now(self) -> datetime:
        now: datetime = await self.connection.fetchval(QUERIES["clock_now"])
        return now

    async def insert_inbox_event(
        self, connection_id: UUID, event_key: str, topic: str, payload: Any, coalesce: bool
    ) -> bool:
        query = "insert_inbox_event_coalesced" if coalesce else "insert_inbox_event"
        inserted = await self.connection.fetchval(
            QUERIES[query], connection_id, event_key, topic, json.dumps(payload)
        )
        return inserted is not None

    async def lease_inbox_events(self, limit: int, lease_seconds: float) -> list[LeasedEvent]:
        rows = await self.connection.fetch(QUERIES["lease_inbox_events"], limit, lease_seconds)
        return [
            LeasedEvent(
                id=row["id"],
                connection_id=row["connection_id"],
                event_key=row["event_key"],
                topic=row["topic"],
                payload=json.loads(row["payload"]),
                attempts=row["attempts"],
            )
            for row in rows
        ]

    async def inbox_event_done(self, event_id: int) -> None:
        await self.connection.execute(QUERIES["inbox_event_done"], event_id)

    async def inbox_event_failed(
        self, event_id: int, delay_seconds: float, max_attempts: int, error: str, final: bool
    ) -> str | None:
        status = await self.connection.fetchval(
            QUERIES["inbox_event_failed"], event_id, delay_seconds, max_attempts, error, final
        )
        return status  # type: ignore[no-any-return]

    async def inbox_event_deferred(self, event_id: int, delay_seconds: float, reason: str) -> None:
        await self.connection.execute(
            QUERIES["inbox_event_deferred"], event_id, delay_seconds, reason
        )

    async def program_connections(
        self, program_id: UUID, after: Position, limit: int
    ) -> list[ConnectionRecord]:
        rows = await self._fetch("program_connections", program_id, after.at, after.id, limit)
        return [record_of(row, ConnectionRecord) for row in rows]

    async def connection_program(self, connection_id: UUID, scope: UUID | None) -> UUID | None:
        program_id = await self.connection.fetchval(
            QUERIES["connection_program"], connection_id, scope
        )
        return program_id  # type: ignore[no-any-return]

    async def inbox_events(
        self,
        connection_id: UUID,
        status: str | None,
        before_at: datetime,
        before_id: int,
        limit: int,
        excerpt_length: int,
    ) -> list[InboxEventRecord]:
        page = (connection_id, before_at, before_id, limit, excerpt_length)
        if status is None:
            rows = await self._fetch("inbox_events", *page)
        else:
            rows = await self._fetch("inbox_events_by_status", *page, status)
        return [record_of(row, InboxEventRecord) for row in rows]

    async def inbox_event(
        self, event_id: int, connection_id: UUID, scope: UUID | None, excerpt_length: int
    ) -> InboxEventFacts | None:
        row = await self._fetchrow("inbox_event", event_id, connection_id, scope, excerpt_length)
        if row is None:
            return None
        return InboxEventFacts(event=record_of(row, InboxEventRecord), now=row["now"])

    async def retry_inbox_event(self, event_id: int, due_at: datetime, answer: Answer) -> bool:
        return await self._answered("retry_inbox_event", answer, event_id, due_at) is not None
