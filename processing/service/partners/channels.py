"""Partner channels (web shops, CRMs): their connections, and the inbox their events land in.

A receiver verifies a partner's request and stores it in the inbox once per the partner's own
event id, then answers at once (Shopify allows five seconds; a slow handler must never make a
partner give up). The channel worker hands each inbox event to its partner's ``handle``, which
applies core operations under idempotency keys derived from the partner's ids, so a duplicate,
retried or replayed event never applies twice; a failed event is retried with backoff and is
dead, kept for an operator, after the last attempt.
"""

import asyncio
import json
import random
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol
from uuid import UUID, uuid4

import msgspec
import structlog

from processing import telemetry
from processing.core import limits
from processing.core.outbound import OutboundPolicy, check_url, refusal_details
from processing.core.rejections import Rejection
from processing.core.webhooks import retry_delay
from processing.service.admin import create_key
from processing.service.mutations import (
    Change,
    Decision,
    Mutation,
    MutationRunner,
    Render,
    fingerprint,
)
from processing.service.paging import Position, by_creation, paged
from processing.service.ports import ChannelStore, Database, InboxEventFacts, RateLimiter, Store
from processing.service.records import (
    Accepted,
    Actor,
    Connection,
    ConnectionRecord,
    InboxEventRecord,
    LeasedEvent,
    Outcome,
    Refused,
    StoredResponse,
    refuse,
)

log = structlog.get_logger(__name__)
inbox_batch_max = 20
inbox_lease_seconds = 60.0
inbox_attempts_max = 10
inbox_backoff_base_seconds = 5.0
inbox_backoff_cap_seconds = 1800.0
sweep_first_window = timedelta(days=1)  # a new connection's first sweep looks back this far
sweep_overlap = timedelta(minutes=5)
# An operator sees an inbox event's payload as its first characters of JSON text: enough to
# recognise the order or deal, never a whole order with all its lines in every list row.
inbox_payload_excerpt_length_max = 2000
# Inbox ids are bigints; a page's position carries one as a UUID's integer, and the first page's
# position (past every id) reads as the largest bigint.
_inbox_id_max = 2**63 - 1


class InboxEvent(msgspec.Struct, frozen=True, kw_only=True):
    """An inbox event with its connection, as a partner's handler gets it."""

    id: int
    connection: Connection
    topic: str
    event_key: str
    payload: Any
    attempts: int  # this attempt included


class Applied(msgspec.Struct, frozen=True, kw_only=True):
    """What a core operation a channel applied answered: its status and decoded body (a
    refusal's body is ``{"code": ..., "detail": ...}``). A replay answers the same."""

    status_code: int
    body: Any
    replayed: bool = False

    @property
    def accepted(self) -> bool:
        return self.status_code < 300

    @property
    def code(self) -> str | None:
        return None if self.accepted else str(self.body.get("code"))

    @property
    def operation_id(self) -> str | None:
        """The ledger operation an accepted answer made (a purchase nests it)."""
        if not self.accepted:
            return None
        operation = self.body.get("operation", self.body)
        return str(operation["id"]) if "id" in operation else None


class PartnerRejected(Exception):
    """An event no retry can mend (it names nothing we know how to act on): dead at once,
    kept for an operator to look at."""


class PartnerBusy(Exception):
    """The partner asks us to wait (its rate limit): the event comes due again after
    ``retry_after`` seconds, and the attempt does not count toward making it dead."""

    def __init__(self, reason: str, retry_after: float) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


Operation = Callable[[Mutation, Render], Awaitable[StoredResponse]]


async def paced(
    limiter: RateLimiter, key: str, rate: float, burst: int, wait_max_seconds: float
) -> None:
    """Waits for a token of ``key``'s bucket, at most ``wait_max_seconds`` in all; a longer
    wait defers the event (``PartnerBusy``) rather than keep the worker from the others."""
    waited = 0.0
    while True:
        wait = await limiter.acquire(key, rate, burst)
        if wait <= 0:
            return
        if waited + wait > wait_max_seconds:
            raise PartnerBusy(f"the partner's rate limit: {wait:.2f} s to a slot", wait)
        await asyncio.sleep(wait)
        waited += wait


def rate_share(settings: Mapping[str, Any]) -> float:
    """The share of a partner's rate limit a connection takes (its ``rate_share_percent``
    setting, checked when it is made; anything else reads as the default)."""
    percent = settings.get("rate_share_percent", limits.partner_rate_share_percent_default)
    if not valid_rate_share(percent):
        percent = limits.partner_rate_share_percent_default
    return float(percent) / 100


def valid_rate_share(percent: Any) -> bool:
    return (
        isinstance(percent, int)
        and not isinstance(percent, bool)
        and 1 <= percent <= limits.partner_rate_share_percent_max
    )


def render_for_channel(outcome: Outcome) -> StoredResponse:
    """The answer kept under a channel's idempotency key: the service's own record, or the
    refusal's code and detail (a channel reads these; no HTTP caller ever sees them)."""
    if isinstance(outcome, Accepted):
        return StoredResponse(
            status_code=201 if outcome.created else 200,
            media_type="application/json",
            body=msgspec.json.encode(outcome.value),
        )
    body = {"code": outcome.rejection.value, "detail": outcome.detail, "field": outcome.field}
    return StoredResponse(
        status_code=409,
        media_type="application/json",
        body=msgspec.json.encode(body),
        outcome=outcome.rejection.value,
    )


class Partner(Protocol):
    name: str

    async def handle(self, event: InboxEvent, channels: "Channels") -> None:
        """Acts on one inbox event; an exception means "try again later" (``PartnerRejected``:
        never)."""
        ...


class Terms(Protocol):
    """What a partner's connections are held to: its entry in ``registry.py``."""

    @property
    def scope(self) -> str: ...  # the scope its channel key acts with

    @property
    def secrets(self) -> tuple[str, ...]: ...  # what a connection cannot work without

    @property
    def api_url(self) -> tuple[str, str] | None: ...  # ("account" | "secret", name)


class AlreadyConnected(ValueError):
    """One partner account, one connection: a second ``connect`` of it is refused."""

    def __init__(self, partner: str, account: str) -> None:
        super().__init__(f"the {partner} account {account} is connected already")


class Channels:
    def __init__(
        self,
        database: Database,
        runner: MutationRunner,
        partners: Mapping[str, Partner],
        terms: Mapping[str, Terms],
        jitter: Callable[[], float] = random.random,
        lease_seconds: float = inbox_lease_seconds,
        outbound: OutboundPolicy | None = None,
    ) -> None:
        self.outbound = outbound or OutboundPolicy()
        self.database = database
        self.runner = runner
        self.partners = dict(partners)
        self.terms = dict(terms)
        self.jitter = jitter
        self.lease_seconds = lease_seconds

    async def connect(
        self,
        program_id: UUID,
        partner: str,
        account: str,
        secrets: dict[str, str],
        settings: dict[str, Any] | None = None,
    ) -> Connection:
        """A new connection with its own API key (scope ``crm`` or ``shop``), in one
        transaction. Operator set-up: the CLI and the tests call it."""
        if partner not in self.terms:
            raise ValueError(f"unknown partner {partner!r}; known: {sorted(self.terms)}")
        terms = self.terms[partner]
        missing = [name for name in terms.secrets if not secrets.get(name)]
        if missing:
            raise ValueError(f"a {partner} connection needs the secrets {', '.join(missing)}")
        share = (settings or {}).get("rate_share_percent")
        if share is not None and not valid_rate_share(share):
            raise ValueError(
                "rate_share_percent must be a whole number from 1 to "
                f"{limits.partner_rate_share_percent_max}, got {share!r}"
            )
        self.check_partner_url(partner, account, secrets)
        async with self.database.transaction() as store:
            key = await create_key(store, program_id, f"{partner} {account}", [terms.scope], None)
            connection = await store.insert_connection(
                uuid4(), program_id, partner, account, key.id, secrets, settings or {}
            )
            if connection is None:  # raised inside the transaction: the key is rolled back
                raise AlreadyConnected(partner, account)
            return connection

    def check_partner_url(self, partner: str, account: str, secrets: dict[str, str]) -> None:
        """The URL a partner's API is called at must be one we may send to (the same policy
        as webhooks; the address is checked again at every call)."""
        api_url = self.terms[partner].api_url
        if api_url is None:
            return
        where, name = api_url
        url = account if where == "account" else secrets[name]
        refusal = check_url(url, self.outbound)
        if refusal is not None:
            # The value is not echoed: a Bitrix24 webhook URL is itself a credential.
            raise ValueError(f"the {partner} {name} {refusal_details[refusal]} ({refusal.value})")

    def actor(self, connection: Connection) -> Actor:
        """The connection as the caller of core use cases: its own key, acting with its
        partner's scope."""
        return Actor(
            key_id=connection.key_id,
            program_id=connection.program_id,
            scopes=frozenset({self.terms[connection.partner].scope}),
            store_id=None,
        )

    async def connection(self, connection_id: UUID) -> Connection | None:
        async with self.database.reader() as store:
            return await store.get_connection(connection_id)

    async def connections(
        self, actor: Actor, program_id: UUID, limit: int, cursor: str | None
    ) -> Outcome:
        """A program's partner connections newest first, a page at a time, never their secrets;
        another program's are not found, as the program itself is not."""

        async def read(
            store: Store, after: Position, count: int
        ) -> list[ConnectionRecord] | Refused:
            if await store.get_program(program_id, actor.program_id) is None:
                return refuse(Rejection.not_found, "No program with this id.")
            return await store.program_connections(program_id, after, count)

        return await paged(self.database, cursor, limit, read, by_creation)

    async def events(
        self,
        actor: Actor,
        connection_id: UUID,
        status: str | None,
        limit: int,
        cursor: str | None,
    ) -> Outcome:
        """A connection's inbox newest first by when each event was received, in one status
        or any, a page at a time."""

        async def read(
            store: Store, after: Position, count: int
        ) -> list[InboxEventRecord] | Refused:
            if await store.connection_program(connection_id, actor.program_id) is None:
                return refuse(Rejection.not_found, "No partner connection with this id.")
            return await store.inbox_events(
                connection_id,
                status,
                after.at,
                min(after.id.int, _inbox_id_max),
                count,
                inbox_payload_excerpt_length_max,
            )

        return await paged(self.database, cursor, limit, read, inbox_position)

    async def retry(
        self, mutation: Mutation, connection_id: UUID, event_id: int, render: Render
    ) -> StoredResponse:
        """Puts a dead inbox event back in the queue, due now with a fresh attempt budget; an
        event that is not dead (pending, done, or retried meanwhile) is refused with
        ``inbox_event_not_dead``, so nothing is handed to a partner's handler twice."""
        actor = mutation.actor

        async def load(store: ChannelStore) -> InboxEventFacts | None:
            return await store.inbox_event(
                event_id, connection_id, actor.program_id, inbox_payload_excerpt_length_max
            )

        def decide(facts: InboxEventFacts | None) -> Change | Outcome:
            if facts is None:
                return refuse(Rejection.not_found, "No inbox event with this id.")
            if facts.event.status != "dead":
                return refuse(
                    Rejection.inbox_event_not_dead,
                    f"The event is {facts.event.status}; only a dead event is retried.",
                )
            retried = msgspec.structs.replace(
                facts.event,
                status="pending",
                attempts=0,
                next_attempt_at=facts.now,
                processed_at=None,
            )
            return Change(
                outcome=Accepted(value=retried),
                write=lambda store, answer: store.retry_inbox_event(event_id, facts.now, answer),
            )

        return await self.runner.change(mutation, Decision(load, decide), render)

    async def receive(
        self,
        connection: Connection,
        event_key: str,
        topic: str,
        payload: Any,
        *,
        coalesce: bool = False,
    ) -> bool:
        """Stores a verified event once per ``event_key``; False: it was received before. With
        ``coalesce`` (an event that only says "read this again"), also False when an event with
        the same payload is waiting and has not been handed out yet: it covers this one."""
        async with self.database.transaction() as store:
            new = await store.insert_inbox_event(connection.id, event_key, topic, payload, coalesce)
        log.info(
            "channel_event_received",
            partner=connection.partner,
            connection_id=str(connection.id),
            topic=topic,
            event_key=event_key,
            duplicate=not new,
        )
        return new

    async def apply(
        self, connection: Connection, idempotency_key: str, request: Any, operation: Operation
    ) -> Applied:
        """Runs one core use case as the connection's key under ``idempotency_key``;
        ``request`` is what it asks, so the same key with another request is refused
        (``idempotency_key_reused``) rather than applied."""
        mutation = Mutation(
            actor=self.actor(connection),
            idempotency_key=idempotency_key,
            fingerprint=fingerprint(
                f"channel:{connection.partner}", idempotency_key, msgspec.json.encode(request)
            ),
        )
        stored = await operation(mutation, render_for_channel)
        return Applied(
            status_code=stored.status_code, body=json.loads(stored.body), replayed=stored.replayed
        )

    async def run_once(self) -> int:
        """Handles one batch of due inbox events; returns how many."""
        async with self.database.transaction() as store:
            leased = await store.lease_inbox_events(inbox_batch_max, self.lease_seconds)
        for event in leased:
            await self.handle(event)
        return len(leased)

    async def drain(self, rounds_max: int = 100) -> int:
        """Handles events until none is due (for the CLI and the tests); returns how many."""
        handled = 0
        for _ in range(rounds_max):
            done = await self.run_once()
            if not done:
                break
            handled += done
        return handled

    async def sweep(self) -> int:
        """Asks every partner that can (``sweep``) to look for changes whose events never came
        (Bitrix24 and WooCommerce do not retry a failed delivery); returns how many events
        that queued. A partner that fails is logged and tried at the next sweep."""
        queued = 0
        for name, partner in self.partners.items():
            sweep = getattr(partner, "sweep", None)
            if sweep is None:
                continue
            async with self.database.reader() as store:
                connections = await store.list_connections(name)
            for connection in connections:
                try:
                    queued += await sweep(connection, self)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception(
                        "channel_sweep_failed", partner=name, connection_id=str(connection.id)
                    )
        return queued

    async def sweep_window(self, connection: Connection) -> tuple[datetime, datetime]:
        """Where a partner's sweep starts (its cursor less a little overlap, or a day back the
        first time) and now, on the database's clock: one clock for every worker, the overlap
        for the partner's clock being a little off and for edits in flight."""
        async with self.database.reader() as store:
            now = await store.clock_now()
        cursor = connection.settings.get("swept_until")
        if not isinstance(cursor, str):
            return now - sweep_first_window, now
        reached = datetime.fromisoformat(cursor)
        if reached.tzinfo is None:
            reached = reached.replace(tzinfo=UTC)
        return reached - sweep_overlap, now

    async def sweep_done(self, connection: Connection, reached: str) -> None:
        """Moves the sweep's cursor: to when a complete sweep started, or to the last change a
        sweep cut short reached, so the next one goes on from there."""
        async with self.database.transaction() as store:
            await store.set_connection_setting(connection.id, "swept_until", reached)

    async def sweep_forever(self, interval_seconds: float) -> None:
        while True:
            try:
                await self.sweep()
            except asyncio.CancelledError:
                raise
            except Exception:  # the database away: the next sweep tries again
                log.exception("channel_sweep_failed")
            await asyncio.sleep(interval_seconds)

    async def run_forever(self, idle_seconds: float) -> None:
        while True:
            try:
                busy = await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:  # the worker must outlive a database restart; it tries again
                log.exception("channel_worker_failed")
                busy = 0
            if not busy:
                await asyncio.sleep(idle_seconds)

    async def handle(self, leased: LeasedEvent) -> None:
        async with self.database.reader() as store:
            connection = await store.get_connection(leased.connection_id)
        partner = self.partners.get(connection.partner) if connection else None
        try:
            if connection is None or partner is None:
                raise PartnerRejected("the connection is disabled or its partner is not served")
            event = InboxEvent(
                id=leased.id,
                connection=connection,
                topic=leased.topic,
                event_key=leased.event_key,
                payload=leased.payload,
                attempts=leased.attempts,
            )
            await partner.handle(event, self)
        except asyncio.CancelledError:
            raise
        except Exception as error:
            await self.failed(leased, connection, error)
            return
        async with self.database.transaction() as store:
            await store.inbox_event_done(leased.id)
        telemetry.channel_events_total.labels(partner=connection.partner, outcome="done").inc()

    async def failed(
        self, leased: LeasedEvent, connection: Connection | None, error: Exception
    ) -> None:
        if isinstance(error, PartnerBusy):
            async with self.database.transaction() as store:
                await store.inbox_event_deferred(leased.id, error.retry_after, str(error))
            partner = connection.partner if connection else "unknown"
            telemetry.channel_events_total.labels(partner=partner, outcome="deferred").inc()
            log.info("channel_event_deferred", event_id=leased.id, reason=str(error))
            return
        final = isinstance(error, PartnerRejected)
        delay = retry_delay(
            leased.attempts, inbox_backoff_base_seconds, inbox_backoff_cap_seconds, self.jitter()
        )
        async with self.database.transaction() as store:
            status = await store.inbox_event_failed(
                leased.id, delay, inbox_attempts_max, f"{type(error).__name__}: {error}", final
            )
        outcome = "dead" if status == "dead" else "retried"
        partner = connection.partner if connection else "unknown"
        telemetry.channel_events_total.labels(partner=partner, outcome=outcome).inc()
        log.warning(
            "channel_event_failed",
            event_id=leased.id,
            topic=leased.topic,
            attempts=leased.attempts,
            error=repr(error),
            outcome=outcome,
            exc_info=not final,
        )


def inbox_position(event: InboxEventRecord) -> Position:
    return Position(at=event.received_at, id=UUID(int=event.id))
