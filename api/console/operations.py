"""The console's program pages: API keys (list, create or rotate with the secret shown once,
revoke), partner connections, and webhook subscriptions (disable one); a connection's inbox
and a subscription's deliveries are in ``api/console/queues.py``.

A program's key works in its own program only; an operator key picks the program first from the
program list (``?program=``, a hidden field in each form). Every action is an idempotent request
through the same use case as its API call (``api/console/actions.py`` for the session, CSRF,
form key and refusal rules). A new key's secret is rendered on the answer to the creating POST
only: the idempotency record keeps the reply without it, and a replay of the form shows none.
"""

from collections.abc import Callable
from functools import partial
from typing import Any, Final
from uuid import UUID

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.response import Redirect, Template

from api.console.actions import Form, Place, Where, Wrong, console_action
from api.console.pages import (
    console_exception_handlers,
    has_nul,
    page,
    refused_text,
    security_headers,
    session_or_sign_in,
    when,
)
from api.console.sessions import Signed, new_form_key
from api.console.words import words
from api.http import renderer, renderer_hiding_secret
from processing.core import limits
from processing.runtime import Runtime
from processing.service.admin import KeyCommand
from processing.service.records import Accepted, Refused, StoredResponse
from schemas.api import (
    ApiKey,
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyRotate,
    Webhook,
)

AnyRequest = Request[Any, Any, Any]
key_scopes: Final = ("pos", "shop", "crm", "admin")
# A keyset cursor is about 100 characters; a longer one is none of ours.
cursor_length_max: Final = 128
size: Final = limits.console_list_page_size
# A key rotated from the console keeps its old secret working as long as the API's default.
rotation_grace_seconds: Final = ApiKeyRotate().grace_seconds


def program_in(signed: Signed, asked: str | None) -> UUID | None:
    """The program a page works in: a program key's own, or the one an operator picked."""
    if signed.actor.program_id is not None:
        return signed.actor.program_id
    try:
        return UUID(asked) if asked else None
    except ValueError:
        return None


def status_in(asked: str | None, statuses: tuple[str, ...]) -> str | None:
    return asked if asked in statuses else None


def cursor_in(asked: str | None, length_max: int = cursor_length_max) -> str | None:
    """A cursor from the query: None when blank, ``-`` when longer than any of ours (not one of
    ours: the list or use case refuses it on the page), else as asked."""
    if not asked:
        return None
    return asked if len(asked) <= length_max else "-"


def refusal(locale: str, refused: Refused) -> str:
    return refused_text(locale, refused, missing="nothing_found")


def notice_of(locale: str, done: str | None, known: tuple[str, ...]) -> str | None:
    return words(locale).get(f"done_{done}") if done in known else None


async def programs_page(
    runtime: Runtime, signed: Signed, target: str, cursor: str | None
) -> Template:
    """An operator key acts in no program: it picks one from the list first."""
    locale = signed.session.locale
    outcome = await runtime.admin.programs(signed.actor, None, size, cursor)
    message = refusal(locale, outcome) if isinstance(outcome, Refused) else None
    listed = outcome.value if isinstance(outcome, Accepted) else None
    return page(
        "console/programs.html",
        locale,
        signed,
        200 if message is None else 422,
        programs=listed,
        target=target,
        first_page=cursor is not None,
        message=message,
        when=when,
    )


async def keys_page(
    runtime: Runtime,
    signed: Signed,
    program_id: UUID,
    *,
    cursor: str | None = None,
    notice: str | None = None,
    message: str | None = None,
    status_code: int = 200,
    form: dict[str, str] | None = None,
) -> Template:
    locale = signed.session.locale
    outcome = await runtime.admin.api_keys(signed.actor, program_id, None, size, cursor)
    if isinstance(outcome, Refused):
        message = message or refusal(locale, outcome)
        status_code = status_code if status_code != 200 else 404
    listed = outcome.value if isinstance(outcome, Accepted) else None
    live = [key for key in listed.items if key.revoked_at is None] if listed else []
    return page(
        "console/keys.html",
        locale,
        signed,
        status_code,
        program_id=program_id,
        keys=listed,
        first_page=cursor is not None,
        create_key=new_form_key(),
        revoke_keys={key.id: new_form_key() for key in live},
        rotate_keys={key.id: new_form_key() for key in live},
        scopes=key_scopes,
        form=form or {},
        notice=notice,
        message=message,
        when=when,
    )


def key_request(program_id: UUID, form: dict[str, str]) -> ApiKeyCreate | str:
    """The key the create form asks for, or the word naming what is wrong with it."""
    name = form.get("name", "").strip()
    store_id = form.get("store_id", "").strip() or None
    scopes = [scope for scope in key_scopes if form.get(f"scope_{scope}")]
    if not scopes:
        return "bad_scopes"
    if has_nul(name, store_id or ""):
        return "bad_text"
    fields = {"program_id": str(program_id), "name": name, "scopes": scopes, "store_id": store_id}
    try:
        return msgspec.convert(fields, ApiKeyCreate)
    except msgspec.ValidationError as error:
        return "bad_store" if "store_id" in str(error) else "bad_key_name"


def in_program(
    runtime: Runtime, target: str, place: Callable[[Signed, UUID, dict[str, str]], Place]
) -> Where:
    """A form on a program's page; an operator key whose form names no program is shown the
    program list first."""

    async def where(signed: Signed, fields: dict[str, str]) -> Place | Template:
        program_id = program_in(signed, fields.get("program"))
        if program_id is None:
            return await programs_page(runtime, signed, target, None)
        return place(signed, program_id, fields)

    return where


def on_keys(runtime: Runtime) -> Where:
    def place(signed: Signed, program_id: UUID, fields: dict[str, str]) -> Place:
        return Place(
            show=partial(keys_page, runtime, signed, program_id),
            back=f"/console/keys?program={program_id}",
            missing="nothing_found",
            program_id=program_id,
        )

    return in_program(runtime, "/console/keys", place)


def secret_page(form: Form, stored: StoredResponse, *, rotated: bool = False) -> Template:
    """A new key's secret, or a rotated key's new one, on this answer only (the stored reply
    keeps it hidden, so the form sent again shows none)."""
    signed = form.signed
    return page(
        "console/key_created.html",
        signed.session.locale,
        signed,
        key=msgspec.json.decode(stored.body, type=ApiKeyCreated),
        program_id=form.program_id,
        rotated=rotated,
        grace_hours=rotation_grace_seconds // 3600,
        when=when,
    )


def rotated_page(form: Form, stored: StoredResponse) -> Template:
    return secret_page(form, stored, rotated=True)


async def webhooks_page(
    runtime: Runtime,
    signed: Signed,
    program_id: UUID,
    *,
    notice: str | None = None,
    message: str | None = None,
    status_code: int = 200,
) -> Template:
    """The program's webhook subscriptions; an active one has a form that disables it."""
    locale = signed.session.locale
    outcome = await runtime.webhooks.subscriptions(signed.actor, program_id)
    if isinstance(outcome, Refused):
        message = message or refusal(locale, outcome)
        status_code = status_code if status_code != 200 else 404
    listed = outcome.value if isinstance(outcome, Accepted) else None
    return page(
        "console/webhooks.html",
        locale,
        signed,
        status_code,
        program_id=program_id,
        subscriptions=listed,
        disable_keys={item.id: new_form_key() for item in listed or [] if item.active},
        notice=notice,
        message=message,
        when=when,
    )


def on_webhooks(runtime: Runtime) -> Where:
    def place(signed: Signed, program_id: UUID, fields: dict[str, str]) -> Place:
        return Place(
            show=partial(webhooks_page, runtime, signed, program_id),
            back=f"/console/webhooks?program={program_id}",
            missing="nothing_found",
            program_id=program_id,
        )

    return in_program(runtime, "/console/webhooks", place)


class ConsoleProgramController(Controller):
    path = "/console"
    opt = {"public": True}  # noqa: RUF012  (Litestar reads it as configuration)
    include_in_schema = False
    response_headers = security_headers
    exception_handlers = console_exception_handlers

    # API keys

    @get("/keys", name="console_keys")
    async def keys(
        self,
        request: AnyRequest,
        runtime: Runtime,
        lang: str | None = None,
        program: str | None = None,
        cursor: str | None = None,
        done: str | None = None,
    ) -> Response[Any]:
        signed = await session_or_sign_in(request, runtime, lang)
        if isinstance(signed, Redirect):
            return signed
        cursor = cursor_in(cursor)
        program_id = program_in(signed, program)
        if program_id is None:
            return await programs_page(runtime, signed, "/console/keys", cursor)
        notice = notice_of(signed.session.locale, done, ("revoked",))
        return await keys_page(runtime, signed, program_id, cursor=cursor, notice=notice)

    @post("/keys", name="console_create_key", status_code=200)
    async def create_key(self, request: AnyRequest, runtime: Runtime) -> Response[Any]:
        """The answer shows the new secret; it is neither kept nor shown again."""

        async def step(form: Form) -> StoredResponse:
            data = key_request(form.program_id, form.fields)
            if isinstance(data, str):
                shown = {name: form.fields.get(name, "") for name in ("name", "store_id")}
                raise Wrong(data, form=shown)
            command = msgspec.convert(data, KeyCommand, from_attributes=True)
            return await runtime.admin.create_key(
                form.mutation("console_create_key", data),
                command,
                renderer_hiding_secret(ApiKeyCreated),
            )

        return await console_action(request, runtime, on_keys(runtime), step, secret_page)

    @post("/keys/{key_id:uuid}/revoke", name="console_revoke_key", status_code=303)
    async def revoke_key(
        self, request: AnyRequest, runtime: Runtime, key_id: UUID
    ) -> Response[Any]:
        """Needs the form's confirmation box ticked as well: a key revoked is gone for good."""

        async def step(form: Form) -> StoredResponse:
            if form.fields.get("confirm") != "yes":
                raise Wrong("confirm_needed")
            mutation = form.mutation("console_revoke_key", key_id)
            return await runtime.admin.revoke_key(mutation, key_id, renderer(ApiKey))

        return await console_action(request, runtime, on_keys(runtime), step, "revoked")

    @post("/keys/{key_id:uuid}/rotate", name="console_rotate_key", status_code=200)
    async def rotate_key(
        self, request: AnyRequest, runtime: Runtime, key_id: UUID
    ) -> Response[Any]:
        """A new secret for the key, shown on this answer only, as ``POST
        /v1/api-keys/{id}/rotate`` does (``Admin.rotate_key``); the old secret keeps working
        for the API's default grace, so a till can switch without a gap."""

        async def step(form: Form) -> StoredResponse:
            return await runtime.admin.rotate_key(
                form.mutation("console_rotate_key", key_id),
                key_id,
                rotation_grace_seconds,
                renderer_hiding_secret(ApiKeyCreated),
            )

        return await console_action(request, runtime, on_keys(runtime), step, rotated_page)

    # Partner connections and their inbox

    @get("/connections", name="console_connections")
    async def connections(
        self,
        request: AnyRequest,
        runtime: Runtime,
        lang: str | None = None,
        program: str | None = None,
        cursor: str | None = None,
    ) -> Response[Any]:
        signed = await session_or_sign_in(request, runtime, lang)
        if isinstance(signed, Redirect):
            return signed
        cursor = cursor_in(cursor)
        program_id = program_in(signed, program)
        if program_id is None:
            return await programs_page(runtime, signed, "/console/connections", cursor)
        locale = signed.session.locale
        outcome = await runtime.channels.connections(signed.actor, program_id, size, cursor)
        message = refusal(locale, outcome) if isinstance(outcome, Refused) else None
        return page(
            "console/connections.html",
            locale,
            signed,
            200 if message is None else 404,
            program_id=program_id,
            connections=outcome.value if isinstance(outcome, Accepted) else None,
            first_page=cursor is not None,
            message=message,
            when=when,
        )

    # Webhook subscriptions and their deliveries

    @get("/webhooks", name="console_webhooks")
    async def webhooks(
        self,
        request: AnyRequest,
        runtime: Runtime,
        lang: str | None = None,
        program: str | None = None,
        cursor: str | None = None,
        done: str | None = None,
    ) -> Response[Any]:
        signed = await session_or_sign_in(request, runtime, lang)
        if isinstance(signed, Redirect):
            return signed
        program_id = program_in(signed, program)
        if program_id is None:
            return await programs_page(runtime, signed, "/console/webhooks", cursor_in(cursor))
        notice = notice_of(signed.session.locale, done, ("webhook_disabled",))
        return await webhooks_page(runtime, signed, program_id, notice=notice)

    @post("/webhooks/{webhook_id:uuid}/disable", name="console_disable_webhook", status_code=303)
    async def disable_webhook(
        self, request: AnyRequest, runtime: Runtime, webhook_id: UUID
    ) -> Response[Any]:
        """Disables a subscription, as ``POST /v1/webhooks/{id}/disable`` does
        (``Webhooks.disable``): nothing more is queued for it. Needs the confirmation box."""

        async def step(form: Form) -> StoredResponse:
            if form.fields.get("confirm") != "yes":
                raise Wrong("confirm_disable_needed")
            mutation = form.mutation("console_disable_webhook", webhook_id)
            return await runtime.webhooks.disable(mutation, webhook_id, renderer(Webhook))

        where = on_webhooks(runtime)
        return await console_action(request, runtime, where, step, "webhook_disabled")
