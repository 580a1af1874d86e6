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
from processing.service.mutations import Change, Decision, Mutation, MutationRunner, Render
from processing.service.ports import Database, MessageStore
from processing.service.records import (
    Accepted,
    Actor,
    Outcome,
    StoredResponse,
    TemplateProgram,
    refuse,
)


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


def sms_code_text(template: Template | None, program_name: str, code: str) -> str:
    """The code message as the program words it (``template``), or the Russian default."""
    own = template or Template(kind=MessageKind.sms_code)
    return render(own, sms_code_values(code, program_name, limits.sms_code_seconds_ttl))


class Messages:
    def __init__(self, database: Database, runner: MutationRunner) -> None:
        self.database = database
        self.runner = runner

    async def replace(
        self, mutation: Mutation, program_id: UUID, template: Template, render: Render
    ) -> StoredResponse:
        async def load(store: MessageStore) -> TemplateProgram | None:
            return await store.template_program(program_id, mutation.actor.program_id)

        def decide(program: TemplateProgram | None) -> Change | Outcome:
            if program is None:
                return refuse(Rejection.not_found, "No program with this id.")
            refused = check_template(template, sample_values(template.kind, program.program_name))
            if isinstance(refused, Rejected):
                return refused_by(refused)
            return Change(
                outcome=Accepted(value=record_of(program_id, template, program.now)),
                write=lambda store, answer: store.put_message_template(
                    program_id, template, mutation.actor.key_id, program.now, answer
                ),
            )

        return await self.runner.change(mutation, Decision(load, decide), render)

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
