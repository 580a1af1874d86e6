"""Trigger messages (decision 0023): a program's messaging settings and triggers (operators),
a preview of a template, a customer's messages, and the public unsubscribe link."""

from typing import Annotated, Any
from uuid import UUID

import msgspec
from litestar import Controller, Request, Response, get, post, put
from litestar.params import Parameter

from api.auth import admin_scopes, manager_scopes
from api.http import answer, mutation_for, renderer, respond
from processing.core import limits
from processing.core.triggers import Trigger
from processing.service.messaging.triggers import PreviewCommand, TriggerCommand, Triggers
from processing.service.records import Actor, MessageSettingsRecord
from schemas.messages import (
    MessagePage,
    MessageSettings,
    MessageSettingsPut,
    PreviewRequest,
    RenderedMessage,
    TriggerName,
    TriggerPut,
    TriggerView,
    Unsubscribed,
)

AnyRequest = Request[Any, Any, Any]


class TriggersController(Controller):
    path = "/v1/programs/{program_id:uuid}"
    opt = {"scopes": admin_scopes}
    tags = ["messages"]

    @put("/message-settings", name="put_message_settings", status_code=200)
    async def put_settings(
        self, request: AnyRequest, program_id: UUID, data: MessageSettingsPut, triggers: Triggers
    ) -> Response[MessageSettings]:
        """Sets the program's time zone, quiet hours and daily cap for marketing messages."""
        settings = msgspec.convert(data, MessageSettingsRecord, from_attributes=True)
        stored = await triggers.put_settings(
            mutation_for(request, data, program_id), program_id, settings, renderer(MessageSettings)
        )
        return respond(request, stored)

    @get("/message-settings", name="get_message_settings")
    async def get_settings(
        self, request: AnyRequest, program_id: UUID, triggers: Triggers, actor: Actor
    ) -> Response[MessageSettings]:
        """The settings in force (the defaults until set: Europe/Moscow, 21:00-09:00, 3 a day)."""
        return answer(request, await triggers.settings(actor, program_id), MessageSettings)

    @get("/triggers", name="list_triggers")
    async def list_triggers(
        self, request: AnyRequest, program_id: UUID, triggers: Triggers, actor: Actor
    ) -> Response[list[TriggerView]]:
        """Every trigger of the program, those never set shown off with no templates."""
        return answer(request, await triggers.triggers(actor, program_id), list[TriggerView])

    @put("/triggers/{trigger:str}", name="put_trigger", status_code=200)
    async def put_trigger(
        self,
        request: AnyRequest,
        program_id: UUID,
        trigger: TriggerName,
        data: TriggerPut,
        triggers: Triggers,
    ) -> Response[TriggerView]:
        """Replaces a trigger: on or off, its kind and templates. Each template must render with
        sample values (else 400 naming it, ``templates[0].body``); each replacement is a new
        version, which the messages it makes record."""
        command = msgspec.convert(data, TriggerCommand, from_attributes=True)
        stored = await triggers.replace(
            mutation_for(request, data, program_id, trigger),
            program_id,
            Trigger(trigger),
            command,
            renderer(TriggerView),
        )
        return respond(request, stored)

    @post("/triggers/{trigger:str}/preview", name="preview_trigger", status_code=200)
    async def preview(
        self,
        request: AnyRequest,
        program_id: UUID,
        trigger: TriggerName,
        data: PreviewRequest,
        triggers: Triggers,
        actor: Actor,
    ) -> Response[RenderedMessage]:
        """The trigger's template rendered with a customer's values or sample ones; nothing is
        sent or stored."""
        command = msgspec.convert(data, PreviewCommand, from_attributes=True)
        outcome = await triggers.preview(actor, program_id, Trigger(trigger), command)
        return answer(request, outcome, RenderedMessage)


class CustomerMessagesController(Controller):
    path = "/v1"
    opt = {"scopes": manager_scopes}
    tags = ["messages"]

    @get("/customers/{customer_id:uuid}/messages", name="customer_messages")
    async def messages(
        self,
        request: AnyRequest,
        customer_id: UUID,
        triggers: Triggers,
        actor: Actor,
        limit: Annotated[int, Parameter(ge=1, le=limits.page_size_max)] = limits.page_size_default,
        cursor: Annotated[str | None, Parameter(max_length=128)] = None,
    ) -> Response[MessagePage]:
        """The customer's messages, newest first, a page at a time: sent, queued, failed and
        suppressed (with why)."""
        outcome = await triggers.messages(actor, customer_id, limit, cursor)
        return answer(request, outcome, MessagePage)


class UnsubscribeController(Controller):
    path = "/v1/unsubscribe/{token:str}"
    tags = ["messages"]
    opt = {"public": True}

    @post("", name="unsubscribe", status_code=200)
    async def unsubscribe(
        self,
        request: AnyRequest,
        token: Annotated[str, Parameter(max_length=200)],
        unsubscribes: Triggers,
    ) -> Response[Unsubscribed]:
        """One-click unsubscribe (RFC 8058) from the link in a marketing e-mail: withdraws the
        customer's consent on that channel (source ``unsubscribe``). No key: the signed token
        is the authority; an unknown or forged one answers 404."""
        return answer(request, await unsubscribes.unsubscribe(token), Unsubscribed)
