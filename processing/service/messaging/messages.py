"""A program's message templates: stored by its operators, rendered when a message is sent.

A template is checked when it is stored, with the values it will be rendered with (the code's
fixed width, the program's name, which never changes, the code's lifetime), so the text a
customer gets always fits the SMS parts it was checked for.
"""

from datetime import datetime
from uuid import UUID

import msgspec

from processing.core import limits
from processing.core.messages import (
    VARIABLES,
    MessageKind,
    Template,
    check_template,
    render,
    sms_code_values,
)
from processing.core.model import Rejected
from processing.core.rejections import Rejection
from processing.service.ledger.decisions import refused_by
from processing.service.mutations import Mutation, MutationRunner, Render
from processing.service.ports import Database, MessageStore, Store
from processing.service.records import Accepted, Actor, Outcome, StoredResponse, refuse


class MessageTemplateRecord(msgspec.Struct, frozen=True, kw_only=True):
    program_id: UUID
    kind: MessageKind
    locale: str
    text: str  # what will be sent, variables unfilled
    default: bool  # the built-in text of the locale, not the program's own
    variables: list[str]
    updated_at: datetime | None


def record_of(
    program_id: UUID, template: Template, updated_at: datetime | None
) -> MessageTemplateRecord:
    return MessageTemplateRecord(
        program_id=program_id,
        kind=template.kind,
        locale=template.locale.value,
        text=template.wording,
        default=template.text is None,
        variables=sorted(VARIABLES[template.kind]),
        updated_at=updated_at,
    )


def sample_values(kind: MessageKind, program_name: str) -> dict[str, str]:
    """The widest values a message of this kind is rendered with: what its size is checked by."""
    return {
        MessageKind.sms_code: sms_code_values(
            "0" * limits.sms_code_digits, program_name, limits.sms_code_seconds_ttl
        ),
    }[kind]


async def sms_code_text(store: MessageStore, program_id: UUID, code: str) -> str:
    """The code message as the program words it, or the Russian default."""
    stored = await store.message_template(program_id, MessageKind.sms_code)
    template = (stored and stored.template) or Template(kind=MessageKind.sms_code)
    name = stored.program_name if stored else ""
    return render(template, sms_code_values(code, name, limits.sms_code_seconds_ttl))


class Messages:
    def __init__(self, database: Database, runner: MutationRunner) -> None:
        self.database = database
        self.runner = runner

    async def replace(
        self, mutation: Mutation, program_id: UUID, template: Template, render: Render
    ) -> StoredResponse:
        async def work(store: Store) -> Outcome:
            if not await store.lock_program(program_id, mutation.actor.program_id):
                return refuse(Rejection.not_found, "No program with this id.")
            stored = await store.message_template(program_id, template.kind)
            name = stored.program_name if stored else ""
            refused = check_template(template, sample_values(template.kind, name))
            if isinstance(refused, Rejected):
                return refused_by(refused)
            updated_at = await store.put_message_template(
                program_id, template, mutation.actor.key_id
            )
            return Accepted(value=record_of(program_id, template, updated_at))

        return await self.runner.run(mutation, None, work, render)

    async def template(self, actor: Actor, program_id: UUID, kind: MessageKind) -> Outcome:
        async with self.database.reader() as store:
            if await store.get_program(program_id, actor.program_id) is None:
                return refuse(Rejection.not_found, "No program with this id.")
            stored = await store.message_template(program_id, kind)
        own = stored.template if stored else None
        return Accepted(
            value=record_of(
                program_id, own or Template(kind=kind), stored.updated_at if stored else None
            )
        )
