"""Trigger messages as operators configure and read them: a program's messaging settings (time
zone, quiet hours, daily cap), its triggers with their templates, a preview of a template with a
customer's or sample values, a customer's messages, and the unsubscribe link's withdrawal of
consent (decision 0023)."""

from typing import Any
from uuid import UUID, uuid4
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec

from processing.core import limits
from processing.core.rejections import Rejection
from processing.core.triggers import (
    DAYS_BEFORE_MAX,
    DEFAULT_KINDS,
    SCANNED,
    TRIGGER_EVENTS,
    Channel,
    Trigger,
    TriggerKind,
)
from processing.service.ledger.reads import decode_cursor, page_of
from processing.service.messaging.links import read_token, unsubscribe_token
from processing.service.messaging.wording import (
    SAMPLE,
    RenderFailed,
    date_of,
    pick_templates,
    render_text,
    template_refusal,
)
from processing.service.mutations import Change, Decision, Mutation, MutationRunner, Render
from processing.service.ports import Database, LinkKeys, Store
from processing.service.records import (
    Accepted,
    Actor,
    MessagePage,
    MessageSettingsRecord,
    Outcome,
    Refused,
    RenderedMessage,
    StoredResponse,
    TemplateProgram,
    TriggerRecord,
    TriggerTemplate,
    refuse,
)


class TriggerCommand(msgspec.Struct, frozen=True, kw_only=True):
    enabled: bool
    kind: TriggerKind | None = None  # None: the trigger's default
    days_before: int | None = None  # a scanned trigger's look-ahead (None: its default)
    templates: list[TriggerTemplate]


class PreviewCommand(msgspec.Struct, frozen=True, kw_only=True):
    """A preview of one channel's template: in ``locale`` exactly, or, when it names none, the
    one the relay would pick for the customer (their locale, else ru, else the first)."""

    channel: Channel
    locale: str | None = None
    customer_id: UUID | None = None


def zone_of(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def trigger_refusal(command: TriggerCommand, program: str) -> Refused | None:
    return templates_refusal(command.templates, program)


def templates_refusal(templates: list[TriggerTemplate], program: str) -> Refused | None:
    """A trigger's or a campaign's templates: at most one per channel and locale, each
    rendering with sample values within its channel's bounds."""
    if len(templates) > limits.trigger_templates_max:
        return refuse(
            Rejection.validation_error,
            f"at most {limits.trigger_templates_max} templates.",
            field="templates",
        )
    seen: set[tuple[str, str]] = set()
    for index, template in enumerate(templates):
        place = (template.channel, template.locale)
        if place in seen:
            return refuse(
                Rejection.validation_error,
                f"templates[{index}]: a second {template.channel} template in {template.locale}.",
                field=f"templates[{index}].channel",
            )
        seen.add(place)
        refusal = template_refusal(template, program)
        if refusal is not None:
            field, reason = refusal
            return refuse(
                Rejection.validation_error,
                f"templates[{index}].{field} {reason}",
                field=f"templates[{index}].{field}",
            )
    return None


class Triggers:
    def __init__(
        self, database: Database, runner: MutationRunner, keys: LinkKeys, public_url: str
    ) -> None:
        self.database = database
        self.runner = runner
        self.keys = keys
        self.public_url = public_url.rstrip("/")

    def unsubscribe_url(self, customer_id: UUID, channel: Channel) -> str:
        """The one-click address (RFC 8058) a mail client POSTs to: the List-Unsubscribe
        header's."""
        return (
            f"{self.public_url}/v1/unsubscribe/{unsubscribe_token(self.keys, customer_id, channel)}"
        )

    def unsubscribe_page_url(self, customer_id: UUID, channel: Channel) -> str:
        """The link a person opens from the message's text: a page that asks before it
        withdraws anything, since mail scanners open every link they find."""
        return f"{self.public_url}/unsubscribe/{unsubscribe_token(self.keys, customer_id, channel)}"

    def unsubscribe_channel(self, token: str) -> Channel | None:
        """The channel an unsubscribe link is for, or None when it is not one we signed."""
        named = read_token(self.keys, token)
        return None if named is None else named.channel

    async def put_settings(
        self,
        mutation: Mutation,
        program_id: UUID,
        settings: MessageSettingsRecord,
        render: Render,
    ) -> StoredResponse:
        async def load(store: Store) -> TemplateProgram | None:
            return await store.template_program(program_id, mutation.actor.program_id)

        def decide(program: TemplateProgram | None) -> Change | Outcome:
            if program is None:
                return refuse(Rejection.not_found, "No program with this id.")
            if zone_of(settings.time_zone) is None:
                return refuse(
                    Rejection.validation_error,
                    "time_zone is not an IANA time zone (Europe/Moscow, Asia/Yekaterinburg, ...).",
                    field="time_zone",
                )
            stored = msgspec.structs.replace(settings, updated_at=program.now)
            return Change(
                outcome=Accepted(value=stored),
                write=lambda store, answer: store.put_message_settings(program_id, stored, answer),
            )

        return await self.runner.change(mutation, Decision(load, decide), render)

    async def settings(self, actor: Actor, program_id: UUID) -> Outcome:
        async with self.database.reader() as store:
            if await store.get_program(program_id, actor.program_id) is None:
                return refuse(Rejection.not_found, "No program with this id.")
            stored = await store.message_settings(program_id)
        return Accepted(value=stored or MessageSettingsRecord())

    async def replace(
        self,
        mutation: Mutation,
        program_id: UUID,
        trigger: Trigger,
        command: TriggerCommand,
        render: Render,
    ) -> StoredResponse:
        async def load(store: Store) -> tuple[TemplateProgram | None, TriggerRecord | None]:
            program = await store.template_program(program_id, mutation.actor.program_id)
            return program, await store.message_trigger(program_id, trigger.value)

        def decide(facts: tuple[TemplateProgram | None, TriggerRecord | None]) -> Change | Outcome:
            program, before = facts
            if program is None:
                return refuse(Rejection.not_found, "No program with this id.")
            refused = trigger_refusal(command, program.program_name)
            if refused is not None:
                return refused
            most = DAYS_BEFORE_MAX.get(trigger)
            if most is not None and (command.days_before or 0) > most:
                return refuse(
                    Rejection.validation_error,
                    f"days_before: at most {most} for {trigger.value}.",
                    field="days_before",
                )
            record = TriggerRecord(
                trigger=trigger.value,
                enabled=command.enabled,
                kind=(command.kind or DEFAULT_KINDS[trigger]).value,
                templates=command.templates,
                version=1 if before is None else before.version + 1,
                updated_at=program.now,
                days_before=(
                    (SCANNED[trigger] if command.days_before is None else command.days_before)
                    if trigger in SCANNED
                    else None
                ),
            )
            return Change(
                outcome=Accepted(value=record),
                write=lambda store, answer: store.put_message_trigger(
                    program_id, TRIGGER_EVENTS[trigger], record, mutation.actor.key_id, answer
                ),
            )

        return await self.runner.change(mutation, Decision(load, decide), render)

    async def triggers(self, actor: Actor, program_id: UUID) -> Outcome:
        async with self.database.reader() as store:
            if await store.get_program(program_id, actor.program_id) is None:
                return refuse(Rejection.not_found, "No program with this id.")
            stored = {record.trigger: record for record in await store.message_triggers(program_id)}
        return Accepted(
            value=[
                stored.get(trigger.value)
                or TriggerRecord(
                    trigger=trigger.value,
                    enabled=False,
                    kind=DEFAULT_KINDS[trigger].value,
                    templates=[],
                    version=0,
                    updated_at=None,
                    days_before=SCANNED.get(trigger),
                )
                for trigger in Trigger
            ]
        )

    async def preview(
        self, actor: Actor, program_id: UUID, trigger: Trigger, command: PreviewCommand
    ) -> Outcome:
        """The trigger's template for the channel rendered with the customer's values (their
        name, balance, soonest expiry) or, without a customer, the sample ones. The template is
        the one in the locale asked for; none asked, the one the relay would send the customer
        (``pick_templates`` with their locale; without a customer, ru's)."""
        customer_locale: str | None = None
        async with self.database.reader() as store:
            program = await store.template_program(program_id, actor.program_id)
            if program is None:
                return refuse(Rejection.not_found, "No program with this id.")
            record = await store.message_trigger(program_id, trigger.value)
            values = SAMPLE | {"program": program.program_name}
            if command.customer_id is not None:
                if await store.customer_of_program(command.customer_id, program_id) is None:
                    return refuse(
                        Rejection.not_found, "No customer with this id.", field="customer_id"
                    )
                facts = await store.message_facts(command.customer_id)
                if facts is not None:
                    customer_locale = facts.locale
                    zone = zone_of(facts.time_zone) or ZoneInfo("Europe/Moscow")
                    values |= {
                        "name": facts.name or "",
                        "balance": facts.balance,
                        "expiry_date": date_of(facts.expires_at, zone),
                        "unsubscribe_url": self.unsubscribe_page_url(
                            facts.customer_id, command.channel
                        ),
                    }
        templates = [
            t for t in (record.templates if record else []) if t.channel == command.channel
        ]
        if command.locale is None:
            chosen = next(iter(pick_templates(templates, customer_locale)), None)
        else:
            chosen = next((t for t in templates if t.locale == command.locale), None)
        if chosen is None:
            named = "" if command.locale is None else f" in {command.locale}"
            return refuse(
                Rejection.not_found,
                f"The trigger has no {command.channel.value} template{named}.",
                field="channel",
            )
        return rendered(chosen, values)

    async def messages(
        self, actor: Actor, customer_id: UUID, limit: int, cursor: str | None
    ) -> Outcome:
        before = decode_cursor(cursor)
        if before is None:
            return refuse(Rejection.validation_error, "cursor is not valid.", field="cursor")
        async with self.database.reader() as store:
            if await store.customer_of_program(customer_id, actor.program_id) is None:
                return refuse(Rejection.not_found, "No customer with this id.")
            size = min(limit, limits.page_size_max)
            items = await store.customer_messages(customer_id, before, size + 1)
        page, next_cursor = page_of(items, size, lambda item: item.id)
        return Accepted(value=MessagePage(items=page, next_cursor=next_cursor))

    async def unsubscribe(self, token: str) -> Outcome:
        """Withdraws the consent the link names (source ``unsubscribe``); a second click finds it
        withdrawn already and answers the same."""
        named = read_token(self.keys, token)
        if named is None:
            return refuse(Rejection.not_found, "This unsubscribe link is not valid.")
        async with self.database.transaction() as store:
            await store.unsubscribe(uuid4(), named.customer_id, named.channel.value)
        return Accepted(value={"channel": named.channel.value, "granted": False})


def rendered(template: TriggerTemplate, values: dict[str, Any]) -> Outcome:
    try:
        subject = None if template.subject is None else render_text(template.subject, values)
        body = render_text(template.body, values)
    except RenderFailed as error:
        return refuse(
            Rejection.validation_error, f"the template does not render: {error}.", field="body"
        )
    return Accepted(
        value=RenderedMessage(
            channel=template.channel, locale=template.locale, subject=subject, body=body
        )
    )
