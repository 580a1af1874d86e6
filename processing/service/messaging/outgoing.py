"""The message relay: turns the events triggers want into messages, once per trigger, event and
channel, and sends the queued ones with leases and retries as the webhook relay sends
deliveries (decision 0023).

Making messages: the outbox fan-out hands each event an enabled trigger answers to
``message_events`` in the statement that marks it relayed. A relay takes a batch of them with
SKIP LOCKED and, per event, under the customer's advisory lock, renders each channel's template,
decides the message's fate (``core.triggers.decide_fate``: consent, cap, quiet hours) and inserts
it; the unique (trigger, event_key, channel) makes a second relay's insert of the same message
write nothing, so a duplicate delivery of an event never makes a second message.

Sending: due queued messages are leased (their next attempt pushed past the lease), sent through
their channel's port, and marked sent, or retried after the webhook relay's backoff, or failed
with the provider's reason after the last attempt. A relay killed mid-send leaves the message
due again when the lease runs out: at least once, as webhooks are; a sent row is never leased.
Quiet hours are asked again at both ends (``core.triggers.next_attempt_at``): a marketing
message leased while its program's quiet hours are in force is put back until they end, and a
retry whose backoff lands inside them waits until they end.
"""

import asyncio
import json
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta
from functools import partial
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import msgspec
import structlog

from processing import telemetry
from processing.core import limits
from processing.core.bonuses import birthday_year
from processing.core.invariants import invariant
from processing.core.rejections import Rejection
from processing.core.triggers import (
    SCANNED,
    Audience,
    Channel,
    MessageState,
    QuietHours,
    Trigger,
    TriggerKind,
    birthdays_within,
    decide_fate,
    local_midnight,
    next_attempt_at,
)
from processing.core.webhooks import retry_delay
from processing.service.loyalty.bonuses import birthday as birthday_bonus
from processing.service.loyalty.bonuses import grant
from processing.service.messaging.triggers import Triggers, zone_of
from processing.service.messaging.wording import (
    RenderFailed,
    date_of,
    pick_templates,
    points_of,
    render_text,
)
from processing.service.ports import (
    Database,
    MessageChannel,
    MessageNotSent,
    OutgoingMessage,
    Store,
)
from processing.service.records import (
    BirthdayTrigger,
    LeasedMessage,
    MessageEvent,
    MessageFacts,
    NewMessage,
    Refused,
    TriggerRecord,
    TriggerTemplate,
)

log = structlog.get_logger(__name__)
# How often the relay looks for newly enrolled customers a welcome trigger greets, and how long
# before the trigger was last stored (beyond the welcome's delay) an enrollment still counts.
welcome_scan_seconds = 5.0
# A campaign's message (decision 0024): its event type, and the trigger its messages name.
CAMPAIGN_EVENT = "campaign.message"
CAMPAIGN_TRIGGER = "campaign"
welcome_grace_seconds = 300.0


class MessagePolicy(msgspec.Struct, frozen=True, kw_only=True):
    max_attempts: int = 6
    backoff_base_seconds: float = 30.0
    backoff_cap_seconds: float = 3600.0
    lease_seconds: float = 120.0
    timeout_seconds: float = 30.0
    batch: int = limits.message_events_batch_max
    # A welcome waits this long after the enrollment: a till records consent just after it.
    welcome_delay_seconds: float = 60.0

    def __post_init__(self) -> None:
        invariant(self.max_attempts >= 1, "a message is tried at least once")
        invariant(
            self.lease_seconds > self.timeout_seconds,
            "a lease outlives the attempt it covers, or two relays could send at once",
        )


def consent_in_force(facts: MessageFacts, channel: str) -> bool | None:
    if facts.consents is None:
        return None
    value = json.loads(facts.consents).get(channel)
    return value if isinstance(value, bool) else None


def expiry_of(payload: dict[str, Any]) -> datetime | None:
    """The expiry an event names (a lot about to expire), else None: the soonest is told."""
    value = payload.get("expires_at")
    return datetime.fromisoformat(value) if isinstance(value, str) else None


def recipient_of(facts: MessageFacts, channel: str) -> str | None:
    if facts.erased:
        return None
    return facts.phone if channel == Channel.sms else facts.email


def quiet_window(time_zone: str, start_minute: int, end_minute: int) -> tuple[ZoneInfo, QuietHours]:
    """A program's zone (Moscow when it names none we know) and quiet hours, as stored."""
    zone = zone_of(time_zone) or ZoneInfo("Europe/Moscow")
    return zone, QuietHours(start_minute=start_minute, end_minute=end_minute)


def deferrals(leased: list[LeasedMessage]) -> list[tuple[int, datetime]]:
    """The leased messages not to send now, each with when their program's quiet hours end: a
    marketing message queued before the quiet hours were moved over its due time."""
    found = []
    for message in leased:
        zone, quiet = quiet_window(
            message.time_zone, message.quiet_start_minute, message.quiet_end_minute
        )
        until = next_attempt_at(TriggerKind(message.kind), message.now, zone, quiet)
        if until > message.now:
            found.append((message.id, until))
    return found


async def scan_birthdays(trigger: BirthdayTrigger, limit: int, store: Store) -> int:
    """One pass of a program's birthday scan: the days ahead in its zone, from its clock."""
    zone = zone_of(trigger.time_zone) or ZoneInfo("Europe/Moscow")
    ahead = SCANNED[Trigger.birthday] if trigger.days_before is None else trigger.days_before
    days = birthdays_within(trigger.now.astimezone(zone).date(), ahead)
    return await store.scan_birthdays(trigger.program_id, days, limit)


class MessageRelay:
    def __init__(
        self,
        database: Database,
        channels: Mapping[Channel, MessageChannel],
        triggers: Triggers,
        policy: MessagePolicy,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self.database = database
        self.channels = channels
        self.triggers = triggers
        self.policy = policy
        self.jitter = jitter

    async def run_once(self) -> int:
        """Makes the messages of one batch of events, then sends one batch of due messages;
        returns how much it did (zero: nothing to do)."""
        async with self.database.transaction() as store:
            events = await store.take_message_events(self.policy.batch)
            answering: dict[tuple[str, str], list[TriggerRecord]] = {}  # read once a batch
            for event in events:
                await self.make_messages(store, event, answering)
            await store.message_events_processed([event.id for event in events])
        async with self.database.transaction() as store:
            leased = await store.lease_messages(self.policy.batch, self.policy.lease_seconds)
            deferred = deferrals(leased)
            if deferred:  # put back in the lease's own transaction: no attempt was made
                await store.defer_messages(deferred)
                log.info("messages_deferred", quiet_hours=len(deferred))
        waiting = {message_id for message_id, _ in deferred}
        await asyncio.gather(
            *(self.send(message) for message in leased if message.id not in waiting)
        )
        return len(events) + len(leased)

    async def scan(self) -> int:
        """The daily scans' events (a lot about to expire, a birthday ahead), each made once
        however often this runs; how many were new."""
        found = await self.repeat(lambda store: store.scan_expiring_lots(self.policy.batch))
        async with self.database.reader() as store:
            birthdays = await store.birthday_triggers()
        for trigger in birthdays:
            found += await self.repeat(partial(scan_birthdays, trigger, self.policy.batch))
        return found

    async def welcome(self) -> int:
        """Events for customers enrolled since a welcome trigger was stored, each once."""
        return await self.repeat(
            lambda store: store.scan_welcomes(
                self.policy.batch,
                self.policy.welcome_delay_seconds,
                self.policy.welcome_delay_seconds + welcome_grace_seconds,
            )
        )

    async def repeat(self, scan: Callable[[Store], Awaitable[int]]) -> int:
        """Runs one scan's passes until a pass finds fewer than a batch; how many it found."""
        found = 0
        while True:
            async with self.database.transaction() as store:
                new = await scan(store)
            found += new
            if new < self.policy.batch:
                return found

    async def run_forever(self, idle_seconds: float, scan_interval_seconds: float) -> None:
        scanned_at = welcomed_at = float("-inf")
        while True:
            try:
                if time.monotonic() - scanned_at >= scan_interval_seconds:
                    await self.scan()
                    scanned_at = time.monotonic()
                if time.monotonic() - welcomed_at >= welcome_scan_seconds:
                    await self.welcome()
                    welcomed_at = time.monotonic()
                done = await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:  # the relay must outlive a database restart; it tries again
                log.exception("message_relay_failed")
                done = 0
            if not done:
                await asyncio.sleep(idle_seconds)

    async def make_messages(
        self,
        store: Store,
        event: MessageEvent,
        answering: dict[tuple[str, str], list[TriggerRecord]] | None = None,
    ) -> None:
        payload: dict[str, Any] = json.loads(event.payload)
        customer = payload.get("customer_id")
        if not isinstance(customer, str):
            return
        customer_id = UUID(customer)
        await store.lock_customer_messages(customer_id)
        facts = await store.message_facts(customer_id)
        if facts is None:
            return
        zone = zone_of(facts.time_zone) or ZoneInfo("Europe/Moscow")
        counted = await store.marketing_counted(customer_id, local_midnight(facts.now, zone))
        if event.type == "customer.birthday":
            payload["points"] = await self.birthday_bonus(store, facts, event, payload)
        operation = payload.get("operation_id")
        store_name = await store.operation_store(UUID(operation)) if operation else None
        values: dict[str, Any] = {
            "name": facts.name or "",
            "balance": payload.get("available_after", facts.balance),
            "points": points_of(event.type, payload),
            "expiry_date": date_of(expiry_of(payload) or facts.expires_at, zone),
            "tier": payload.get("tier_after") or "",
            "store": store_name or "",
            "program": facts.program_name,
        }
        campaign = payload.get("campaign_id") if event.type == CAMPAIGN_EVENT else None
        for trigger in await self.triggers_of(store, event, campaign, answering):
            for template in pick_templates(trigger.templates, facts.locale):
                message = self.message_of(event, facts, trigger, template, values, counted, zone)
                if campaign is not None:
                    message = msgspec.structs.replace(message, campaign_id=UUID(campaign))
                written = await store.insert_message(message)
                if written is None:
                    continue  # this event already made this message: nothing twice
                if message.kind == TriggerKind.marketing and message.state == MessageState.queued:
                    counted[message.channel] = counted.get(message.channel, 0) + 1
                if message.state == MessageState.suppressed:
                    telemetry.messages_total.labels(
                        message.channel, "suppressed", message.reason or ""
                    ).inc()

    async def triggers_of(
        self,
        store: Store,
        event: MessageEvent,
        campaign: str | None,
        answering: dict[tuple[str, str], list[TriggerRecord]] | None,
    ) -> list[TriggerRecord]:
        """The triggers an event answers, read once per batch of events (``answering``: the
        batch is one transaction, and its events mostly share a few; a campaign's, all one)."""
        key = ("campaign", campaign) if campaign else (str(event.program_id), event.type)
        known = {} if answering is None else answering
        if key not in known:
            known[key] = await self._triggers_of(store, event, campaign)
        return known[key]

    async def _triggers_of(
        self, store: Store, event: MessageEvent, campaign: str | None
    ) -> list[TriggerRecord]:
        """A campaign's event: its campaign's templates as a marketing trigger of its own (none
        once it is cancelled; the row stays share-locked until the batch commits)."""
        if campaign is None:
            return await store.event_triggers(event.program_id, event.type)
        templates = await store.campaign_templates(UUID(campaign))
        if templates is None:
            return []
        trigger = TriggerRecord(
            trigger=CAMPAIGN_TRIGGER,
            enabled=True,
            kind=TriggerKind.marketing.value,
            templates=templates,
            version=1,
            updated_at=None,
        )
        return [trigger]

    async def birthday_bonus(
        self, store: Store, facts: MessageFacts, event: MessageEvent, payload: dict[str, Any]
    ) -> int:
        """Grants the rules' birthday bonus with the birthday's message, once a year (the same
        grant ``POST …/events`` makes, so whichever comes first grants it); the points the
        message announces, 0 when the rules have none or the birthday week has not begun."""
        year = payload.get("birthday_year")
        record = await store.current_rules(event.program_id)
        if record is None or record.rules.bonuses.birthday <= 0 or facts.birthday is None:
            return 0
        locked = await store.lock_account(facts.customer_id, event.program_id)
        if locked is None or birthday_year(facts.birthday, locked.now.date()) != year:
            return 0
        points = record.rules.bonuses.birthday
        outcome = await grant(
            store, locked, None, record, birthday_bonus, str(year), points, None, "birthday bonus"
        )
        if (
            isinstance(outcome, Refused)
            and outcome.rejection is not Rejection.bonus_already_granted
        ):
            return 0
        return points

    def message_of(
        self,
        event: MessageEvent,
        facts: MessageFacts,
        trigger: TriggerRecord,
        template: TriggerTemplate,
        values: dict[str, Any],
        counted: dict[str, int],
        zone: ZoneInfo,
    ) -> NewMessage:
        channel, kind = Channel(template.channel), TriggerKind(trigger.kind)
        audience = Audience(
            recipient=recipient_of(facts, channel),
            consented=consent_in_force(facts, channel),
            counted_today=counted.get(channel, 0),
            daily_cap=facts.daily_cap,
        )
        quiet = QuietHours(start_minute=facts.quiet_start_minute, end_minute=facts.quiet_end_minute)
        fate = decide_fate(kind, audience, facts.now, zone, quiet)
        marketing_email = kind is TriggerKind.marketing and channel is Channel.email
        link = (
            self.triggers.unsubscribe_page_url(facts.customer_id, channel)
            if marketing_email
            else ""
        )
        subject, body, state, reason = None, "", fate.state.value, fate.reason
        try:
            shown = values | {"unsubscribe_url": link}
            if template.subject is not None:  # one line whatever a customer's name holds
                subject = " ".join(render_text(template.subject, shown).split())
            body = render_text(template.body, shown)
        except RenderFailed:
            state, reason = MessageState.failed.value, None
        if marketing_email and link and link not in body:
            body = f"{body}\n\n--\nОтписаться от рассылки: {link}"
        return NewMessage(
            program_id=event.program_id,
            customer_id=facts.customer_id,
            channel=channel.value,
            kind=kind.value,
            trigger=trigger.trigger,
            event_key=event.event_key,
            template_version=trigger.version,
            locale=template.locale,
            recipient=audience.recipient,
            subject=subject,
            body=body,
            state=state,
            reason="render_failed" if state == MessageState.failed else (reason and reason.value),
            next_attempt_at=fate.due_at,
        )

    async def send(self, message: LeasedMessage) -> None:
        channel = self.channels.get(Channel(message.channel))
        try:
            if channel is None or message.recipient is None:
                raise MessageNotSent("no_channel")
            headers = {}
            if message.kind == TriggerKind.marketing and message.channel == Channel.email:
                url = self.triggers.unsubscribe_url(message.customer_id, Channel.email)
                headers = {
                    "List-Unsubscribe": f"<{url}>",
                    "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
                }
            provider_id = await asyncio.wait_for(
                channel.send(
                    OutgoingMessage(
                        recipient=message.recipient,
                        subject=message.subject,
                        body=message.body,
                        headers=headers,
                    )
                ),
                self.policy.timeout_seconds,
            )
        except (MessageNotSent, TimeoutError) as failure:
            await self.failed(message, str(failure) or "timeout")
            return
        async with self.database.transaction() as store:
            await store.message_sent(message.id, provider_id)
        telemetry.messages_total.labels(message.channel, "sent", "").inc()

    async def failed(self, message: LeasedMessage, reason: str) -> None:
        delay = retry_delay(
            message.attempts,
            self.policy.backoff_base_seconds,
            self.policy.backoff_cap_seconds,
            self.jitter(),
        )
        async with self.database.transaction() as store:
            facts = await store.retry_facts(message.id)
            state = None
            if facts is not None:  # still queued: the backoff, past quiet hours if it lands there
                zone, quiet = quiet_window(
                    facts.time_zone, facts.quiet_start_minute, facts.quiet_end_minute
                )
                due = facts.now + timedelta(seconds=delay)
                retry_at = next_attempt_at(TriggerKind(message.kind), due, zone, quiet)
                state = await store.message_failed(
                    message.id, retry_at, reason, self.policy.max_attempts
                )
        outcome = "failed" if state == MessageState.failed else "retried"
        telemetry.messages_total.labels(message.channel, outcome, reason).inc()
        log.warning(
            "message_send_failed",
            message_id=message.id,
            channel=message.channel,
            attempts=message.attempts,
            reason=reason,
            outcome=outcome,
        )
