"""Webhook subscriptions and deliveries, and the sealing of stored secrets (named queries in
``sql/webhooks.sql`` and ``secrets.sql``). Mixed into ``PostgresStore``."""

from uuid import UUID

import msgspec

from processing.adapters.postgres.named import NamedQueries
from processing.adapters.postgres.queries import QUERIES
from processing.adapters.postgres.rows import record_of
from processing.adapters.sealing import sealed
from processing.service.ports import Answer
from processing.service.records import (
    DeliveryRecord,
    LeasedDelivery,
    WebhookPlaces,
    WebhookRecord,
)


class WebhookQueries(NamedQueries):
    async def insert_webhook(
        self, webhook_id: UUID, program_id: UUID, url: str, secret: str, event_types: list[str]
    ) -> WebhookRecord:
        sealed = self.keyring.seal(secret, f"webhook:{webhook_id}")
        row = await self._fetchrow(
            "insert_webhook", webhook_id, program_id, url, sealed, event_types
        )
        return record_of(row, WebhookRecord)

    async def webhook_places(self, program_id: UUID, scope: UUID | None) -> WebhookPlaces | None:
        row = await self._fetchrow("webhook_places", program_id, scope)
        return None if row is None else record_of(row, WebhookPlaces)

    async def subscribe_webhook(
        self, version: int, record: WebhookRecord, secret: str, answer: Answer
    ) -> bool:
        written = await self._answered(
            "subscribe_webhook",
            answer,
            record.program_id,
            version,
            record.id,
            record.url,
            self.keyring.seal(secret, f"webhook:{record.id}"),
            record.event_types,
            record.created_at,
        )
        return written is not None

    async def list_webhooks(self, program_id: UUID) -> list[WebhookRecord]:
        return [
            record_of(row, WebhookRecord) for row in await self._fetch("list_webhooks", program_id)
        ]

    async def webhook(self, webhook_id: UUID, scope: UUID | None) -> WebhookRecord | None:
        row = await self._fetchrow("webhook", webhook_id, scope)
        return None if row is None else record_of(row, WebhookRecord)

    async def disable_webhook(self, webhook_id: UUID, answer: Answer) -> bool:
        return await self._answered("disable_webhook", answer, webhook_id) is not None

    async def webhook_program(self, webhook_id: UUID, scope: UUID | None) -> UUID | None:
        value = await self.connection.fetchval(QUERIES["webhook_program"], webhook_id, scope)
        return value  # type: ignore[no-any-return]

    async def seal_secrets(self, rotate: bool) -> dict[str, int]:
        """Seals every secret still in clear; with ``rotate``, also re-seals every one sealed
        under an older key with the current one. Returns how many of each it wrote."""
        webhooks = connections = 0
        for row in await self._fetch("webhook_secrets_for_sealing"):
            stored, context = row["secret"], f"webhook:{row['id']}"
            if sealed(stored) and (self.keyring.current(stored) or not rotate):
                continue
            clear = self.keyring.open(stored, context) if sealed(stored) else stored
            await self._execute("seal_webhook_secret", row["id"], self.keyring.seal(clear, context))
            webhooks += 1
        for row in await self._fetch("connection_secrets_for_sealing"):
            stored, context = row["secrets_sealed"], f"connection:{row['id']}"
            if stored is not None and (self.keyring.current(stored) or not rotate):
                continue
            clear = row["secrets"] if stored is None else self.keyring.open(stored, context)
            await self._execute(
                "seal_connection_secrets", row["id"], self.keyring.seal(clear, context)
            )
            connections += 1
        return {"webhook_secrets": webhooks, "connection_secrets": connections}

    async def webhook_deliveries(
        self, webhook_id: UUID, before_id: int, status: str | None, limit: int
    ) -> list[DeliveryRecord]:
        rows = await self._fetch("webhook_deliveries", webhook_id, before_id, status, limit)
        return [record_of(row, DeliveryRecord) for row in rows]

    async def webhook_delivery(
        self, delivery_id: int, scope: UUID | None, webhook_id: UUID | None = None
    ) -> str | None:
        status = await self.connection.fetchval(
            QUERIES["webhook_delivery"], delivery_id, scope, webhook_id
        )
        return status  # type: ignore[no-any-return]

    async def redeliver_webhook(self, delivery_id: int, answer: Answer) -> bool:
        return await self._answered("redeliver_webhook", answer, delivery_id) is not None

    async def fan_out(self, limit: int) -> tuple[int, int]:
        rows = await self._fetch("fan_out", limit)
        return len(rows), int(rows[0]["deliveries"]) if rows else 0

    async def lease_deliveries(self, limit: int, lease_seconds: float) -> list[LeasedDelivery]:
        rows = await self._fetch("lease_deliveries", limit, lease_seconds)
        return [
            record_of(row, LeasedDelivery)
            if not sealed(row["secret"])  # a row from before sealing, sealed at the next start
            else msgspec.structs.replace(
                record_of(row, LeasedDelivery),
                secret=self.keyring.open(row["secret"], f"webhook:{row['subscription_id']}"),
            )
            for row in rows
        ]

    async def relay_backlog(self) -> dict[str, int]:
        row = await self._fetchrow("relay_backlog")
        return {} if row is None else {name: int(value) for name, value in row.items()}

    async def delivery_succeeded(self, delivery_id: int, status_code: int) -> None:
        await self._execute("delivery_succeeded", delivery_id, status_code)

    async def delivery_failed(
        self,
        delivery_id: int,
        delay_seconds: float,
        max_attempts: int,
        status_code: int | None,
        error: str,
    ) -> str | None:
        row = await self._fetchrow(
            "delivery_failed", delivery_id, delay_seconds, max_attempts, status_code, error
        )
        return None if row is None else str(row["status"])
