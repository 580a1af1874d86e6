"""A program's message templates (operators): the wording of what its customers are sent."""

from typing import Any
from uuid import UUID

from litestar import Controller, Request, Response, get, put

from api.auth import admin_scopes
from api.http import answer, mutation_for, renderer, respond
from processing.core.messages import Locale, MessageKind, Template
from processing.service.messaging.messages import Messages
from processing.service.records import Actor
from schemas.loyalty import MessageTemplatePut, MessageTemplateView

AnyRequest = Request[Any, Any, Any]


class MessagesController(Controller):
    path = "/v1/programs/{program_id:uuid}/messages/{kind:str}"
    opt = {"scopes": admin_scopes}
    tags = ["messages"]

    @put("", name="replace_message_template", status_code=200)
    async def replace(
        self,
        request: AnyRequest,
        program_id: UUID,
        kind: MessageKind,
        data: MessageTemplatePut,
        messages: Messages,
    ) -> Response[MessageTemplateView]:
        """Sets the program's wording of one kind of message (``sms_code``: the code a customer
        reads out to pay with points); a message sent from then on uses it."""
        template = Template(kind=kind, locale=Locale(data.locale), text=data.text)
        stored = await messages.replace(
            mutation_for(request, data, program_id, kind.value),
            program_id,
            template,
            renderer(MessageTemplateView),
        )
        return respond(request, stored)

    @get("", name="get_message_template")
    async def get(
        self,
        request: AnyRequest,
        program_id: UUID,
        kind: MessageKind,
        messages: Messages,
        actor: Actor,
    ) -> Response[MessageTemplateView]:
        """The wording in force: the program's own, or the built-in Russian text
        (``default`` says which)."""
        outcome = await messages.template(actor, program_id, kind)
        return answer(request, outcome, MessageTemplateView)
