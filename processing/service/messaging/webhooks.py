"""Webhooks: a program's subscriptions (admin use cases) and the relay that delivers the outbox
to them.

The relay runs in the worker (and, unless turned off, beside the API): it fans each outbox event
out to the subscriptions that want it, then leases due deliveries, POSTs each one signed, and
records the outcome: delivered, retried later with backoff, or dead after the last attempt (an
operator may redeliver it). Several relays share the work through SKIP LOCKED; a relay killed
mid-delivery leaves its leased rows due again when the lease runs out, so every event is
delivered at least once and none is lost. Receivers deduplicate by ``webhook-id``.
"""

import asyncio
import base64
import json
import random
import secrets
import time
from collections.abc import Callable
from uuid import UUID, uuid4

import msgspec
import structlog

from processing import telemetry
from processing.core import limits
from processing.core.invariants import invariant
from processing.core.outbound import FailureClass, OutboundPolicy, check_url, refusal_details
from processing.core.rejections import Rejection
from processing.core.webhooks import delivered, retry_delay, secret_prefix, signature
from processing.service.ledger.reads import decode_cursor, page_of
from processing.service.mutations import Change, Decision, Mutation, MutationRunner, Render
from processing.service.ports import Database, SendFailed, WebhookSender, WebhookStore
from processing.service.records import (
    Accepted,
    Actor,
    DeliveryPage,
    LeasedDelivery,
    Outcome,
    StoredResponse,
    WebhookPlaces,
    WebhookRecord,
    refuse,
)

log = structlog.get_logger(__name__)
observe_every_seconds = 15.0


def new_secret() -> str:
    """A signing secret: 32 random bytes, base64, with the Standard Webhooks prefix."""
    return secret_prefix + base64.b64encode(secrets.token_bytes(32)).decode()


class WebhookCommand(msgspec.Struct, frozen=True, kw_only=True):
    url: str
    event_types: tuple[str, ...] = ()


class RelayPolicy(msgspec.Struct, frozen=True, kw_only=True):
    max_attempts: int = 12
    backoff_base_seconds: float = 10.0
    backoff_cap_seconds: float = 3600.0
    lease_seconds: float = 60.0
    timeout_seconds: float = 10.0
    batch: int = 100

    def __post_init__(self) -> None:
        invariant(self.max_attempts >= 1, "a delivery is tried at least once")
        invariant(
            self.lease_seconds > self.timeout_seconds,
            "a lease outlives the attempt it covers, or two relays could send at once",
        )


class Webhooks:
    def __init__(
        self, database: Database, runner: MutationRunner, outbound: OutboundPolicy
    ) -> None:
        self.database = database
        self.runner = runner
        self.outbound = outbound

    async def subscribe(
        self, mutation: Mutation, program_id: UUID, command: WebhookCommand, render: Render
    ) -> StoredResponse:
        """A new subscription, answered once with its signing secret. The URL is checked here
        and the address it resolves to at every delivery (``core.outbound``)."""
        refusal = check_url(command.url, self.outbound)
        # Fixed before deciding, so that a decision made again writes the same subscription.
        webhook_id, secret = uuid4(), new_secret()
        event_types = sorted(set(command.event_types))

        async def load(store: WebhookStore) -> WebhookPlaces | None:
            return await store.webhook_places(program_id, mutation.actor.program_id)

        def decide(places: WebhookPlaces | None) -> Change | Outcome:
            if refusal is not None:
                detail = f"url {refusal_details[refusal]} ({refusal.value})."
                return refuse(Rejection.url_not_allowed, detail, field="url")
            if places is None:
                return refuse(Rejection.not_found, "No program with this id.")
            if places.active >= limits.webhook_subscriptions_per_program_max:
                return refuse(
                    Rejection.webhook_limit_reached,
                    f"A program may have {limits.webhook_subscriptions_per_program_max} active "
                    "webhook subscriptions; disable one first.",
                )
            record = WebhookRecord(
                id=webhook_id,
                program_id=program_id,
                url=command.url,
                event_types=event_types,
                active=True,
                created_at=places.now,
            )
            # The count holds at the write: it is written only if the program row is still the
            # version counted on, and every subscribe changes that version.
            return Change(
                outcome=Accepted(
                    value=msgspec.structs.replace(record, secret=secret), created=True
                ),
                write=lambda store, answer: store.subscribe_webhook(
                    places.version, record, secret, answer
                ),
            )

        return await self.runner.change(mutation, Decision(load, decide), render)

    async def subscriptions(self, actor: Actor, program_id: UUID) -> Outcome:
        async with self.database.reader() as store:
            if await store.get_program(program_id, actor.program_id) is None:
                return refuse(Rejection.not_found, "No program with this id.")
            return Accepted(value=await store.list_webhooks(program_id))

    async def disable(self, mutation: Mutation, webhook_id: UUID, render: Render) -> StoredResponse:
        """Stops new deliveries to a subscription; those already due are still sent."""

        async def load(store: WebhookStore) -> WebhookRecord | None:
            return await store.webhook(webhook_id, mutation.actor.program_id)

        def decide(record: WebhookRecord | None) -> Change | Outcome:
            if record is None:
                return refuse(Rejection.not_found, "No webhook subscription with this id.")
            return Change(
                outcome=Accepted(value=msgspec.structs.replace(record, active=False)),
                write=lambda store, answer: store.disable_webhook(record.id, answer),
            )

        return await self.runner.change(mutation, Decision(load, decide), render)

    async def deliveries(
        self, actor: Actor, webhook_id: UUID, status: str | None, limit: int, cursor: str | None
    ) -> Outcome:
        before = decode_cursor(cursor)
        if before is None:
            return refuse(Rejection.validation_error, "cursor is not valid.", field="cursor")
        async with self.database.reader() as store:
            if await store.webhook_program(webhook_id, actor.program_id) is None:
                return refuse(Rejection.not_found, "No webhook subscription with this id.")
            size = min(limit, limits.page_size_max)
            items = await store.webhook_deliveries(webhook_id, before, status, size + 1)
        page, next_cursor = page_of(items, size, lambda item: item.id)
        return Accepted(value=DeliveryPage(items=page, next_cursor=next_cursor))

    async def redeliver(
        self,
        mutation: Mutation,
        delivery_id: int,
        render: Render,
        webhook_id: UUID | None = None,
    ) -> StoredResponse:
        """Puts a dead delivery back in the queue at once, with a fresh attempt budget. With
        ``webhook_id`` (an address that names the subscription) the delivery must be that
        subscription's: another's is not found, and nothing changes."""

        async def load(store: WebhookStore) -> str | None:
            return await store.webhook_delivery(delivery_id, mutation.actor.program_id, webhook_id)

        def decide(status: str | None) -> Change | Outcome:
            if status is None and webhook_id is not None:
                return refuse(
                    Rejection.not_found,
                    "No undelivered delivery with this id in this webhook subscription.",
                    field="delivery_id",
                )
            if status is None or status == "delivered":
                return refuse(Rejection.not_found, "No undelivered webhook delivery with this id.")
            return Change(
                outcome=Accepted(value={"id": delivery_id, "status": "pending"}),
                write=lambda store, answer: store.redeliver_webhook(delivery_id, answer),
            )

        return await self.runner.change(mutation, Decision(load, decide), render)


async def observe_backlog(database: Database) -> None:
    """Sets the backlog gauges: events to fan out, deliveries pending, deliveries dead."""
    async with database.reader() as store:
        backlog = await store.relay_backlog()
    for state, count in backlog.items():
        telemetry.webhook_backlog.labels(state=state).set(count)


def envelope(delivery: LeasedDelivery) -> bytes:
    """The body every attempt of one event sends, byte for byte."""
    return json.dumps(
        {
            "id": str(delivery.event_id),
            "type": delivery.type,
            "program_id": str(delivery.program_id),
            "created_at": delivery.created_at.isoformat(),
            "data": json.loads(delivery.payload),
        },
        separators=(",", ":"),
        sort_keys=True,
    ).encode()


class Relay:
    def __init__(
        self,
        database: Database,
        sender: WebhookSender,
        policy: RelayPolicy,
        jitter: Callable[[], float] = random.random,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.database = database
        self.sender = sender
        self.policy = policy
        self.jitter = jitter
        self.clock = clock
        self.observed_at = float("-inf")

    async def run_once(self) -> int:
        """Fans out one batch of outbox events, then sends one batch of due deliveries; returns
        how much it did (zero: the outbox was empty and nothing was due)."""
        async with self.database.transaction() as store:
            events, created = await store.fan_out(self.policy.batch)
        if events:
            log.debug("outbox_relayed", events=events, deliveries=created)
        async with self.database.transaction() as store:
            leased = await store.lease_deliveries(self.policy.batch, self.policy.lease_seconds)
        await asyncio.gather(*(self.deliver(delivery) for delivery in leased))
        return events + len(leased)

    async def run_forever(self, idle_seconds: float) -> None:
        while True:
            try:
                sent = await self.run_once()
                if not sent:
                    await self.observe()
            except asyncio.CancelledError:
                raise
            except Exception:  # the relay must outlive a database restart; it tries again
                log.exception("relay_failed")
                sent = 0
            if not sent:  # busy: straight on; idle: poll again after a pause
                await asyncio.sleep(idle_seconds)

    async def observe(self) -> None:
        """The backlog gauges, counted when the relay has nothing to do, at most every
        ``observe_every_seconds``."""
        if self.clock() - self.observed_at < observe_every_seconds:
            return
        self.observed_at = self.clock()
        await observe_backlog(self.database)

    async def deliver(self, delivery: LeasedDelivery) -> None:
        body = envelope(delivery)
        timestamp = int(self.clock())
        event_id = str(delivery.event_id)
        headers = {
            "content-type": "application/json",
            "webhook-id": event_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": signature(delivery.secret, event_id, timestamp, body),
        }
        status_code: int | None = None
        try:
            status_code = await self.sender.post(delivery.url, headers, body)
            error = FailureClass.http_status
        except SendFailed as failure:
            error = failure.kind
        async with self.database.transaction() as store:
            if status_code is not None and delivered(status_code):
                await store.delivery_succeeded(delivery.id, status_code)
                telemetry.webhook_deliveries_total.labels(outcome="delivered").inc()
                return
            if error is FailureClass.http_status:
                telemetry.outbound_failures_total.labels(error.value).inc()
            delay = retry_delay(
                delivery.attempts,
                self.policy.backoff_base_seconds,
                self.policy.backoff_cap_seconds,
                self.jitter(),
            )
            status = await store.delivery_failed(
                delivery.id, delay, self.policy.max_attempts, status_code, error.value
            )
        outcome = "dead" if status == "dead" else "retried"
        telemetry.webhook_deliveries_total.labels(outcome=outcome).inc()
        log.warning(
            "webhook_delivery_failed",
            delivery_id=delivery.id,
            event_id=event_id,
            attempts=delivery.attempts,
            error=error.value,
            status_code=status_code,
            outcome=outcome,
            retry_in_seconds=None if outcome == "dead" else round(delay, 1),
        )
