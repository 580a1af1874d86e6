"""The console's queues: a partner connection's inbox and a webhook subscription's deliveries,
filtered by status a page at a time, each dead row with a form that sends it again (retry an
inbox event through ``Channels.retry``, redeliver a delivery through ``Webhooks.redeliver``).
One page (``console/queue.html``) and one set of functions serve both; a ``Queue`` says what
differs. The lists of connections and subscriptions are in ``api/console/operations.py``.
"""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, Final
from uuid import UUID

from litestar import Controller, Request, Response, get, post
from litestar.response import Redirect, Template

from api.console.actions import Form, Place, Where, Wrong, console_action
from api.console.operations import (
    cursor_in,
    notice_of,
    refusal,
    size,
    status_in,
)
from api.console.pages import (
    console_exception_handlers,
    page,
    security_headers,
    session_or_sign_in,
    when,
)
from api.console.sessions import Signed, new_form_key
from api.http import renderer
from processing.runtime import Runtime
from processing.service.records import Accepted, Actor, Outcome, Refused, StoredResponse
from schemas.api import InboxEvent, Redelivery

AnyRequest = Request[Any, Any, Any]
event_statuses: Final = ("pending", "done", "dead")
delivery_statuses: Final = ("pending", "delivered", "dead")
# Inbox and delivery ids are bigints no larger than every JSON reader holds exactly.
row_id_max: Final = 2**53 - 1


@dataclass(frozen=True)
class Queue:
    """A list whose dead rows can be sent again: a partner connection's inbox, a webhook's
    deliveries. One template (``console/queue.html``) and one page function serve both."""

    name: str  # the rows' path segment and the table's class
    row: str
    parent: str  # the page of connections or webhooks, and the prefix of this one's address
    template: str
    statuses: tuple[str, ...]
    back_word: str
    title_word: str
    empty_word: str
    again: str  # the action's path segment and its button's word
    again_class: str
    done: str
    read: Callable[[Runtime, Actor, UUID, str | None, str | None], Awaitable[Outcome]]


inbox: Final = Queue(
    name="events",
    row="event",
    parent="/console/connections",
    template="console/events.html",
    statuses=event_statuses,
    back_word="back_to_connections",
    title_word="events_title",
    empty_word="no_events",
    again="retry",
    again_class="retry-event",
    done="retried",
    read=lambda runtime, actor, owner_id, status, cursor: runtime.channels.events(
        actor, owner_id, status, size, cursor
    ),
)
webhook_deliveries: Final = Queue(
    name="deliveries",
    row="delivery",
    parent="/console/webhooks",
    template="console/deliveries.html",
    statuses=delivery_statuses,
    back_word="back_to_webhooks",
    title_word="deliveries_title",
    empty_word="no_deliveries",
    again="redeliver",
    again_class="redeliver",
    done="redelivered",
    read=lambda runtime, actor, owner_id, status, cursor: runtime.webhooks.deliveries(
        actor, owner_id, status, size, cursor
    ),
)


async def queue_page(
    runtime: Runtime,
    signed: Signed,
    queue: Queue,
    owner_id: UUID,
    status: str | None,
    *,
    cursor: str | None = None,
    notice: str | None = None,
    message: str | None = None,
    status_code: int = 200,
) -> Template:
    locale = signed.session.locale
    outcome = await queue.read(runtime, signed.actor, owner_id, status, cursor)
    if isinstance(outcome, Refused):
        message = message or refusal(locale, outcome)
        status_code = status_code if status_code != 200 else 404
    listed = outcome.value if isinstance(outcome, Accepted) else None
    dead = [item for item in listed.items if item.status == "dead"] if listed else []
    return page(
        queue.template,
        locale,
        signed,
        status_code,
        queue=queue,
        owner_id=owner_id,
        status=status,
        listed=listed,
        first_page=cursor is not None,
        again_keys={item.id: new_form_key() for item in dead},
        notice=notice,
        message=message,
        when=when,
    )


async def queue_view(
    request: AnyRequest,
    runtime: Runtime,
    queue: Queue,
    owner_id: UUID,
    lang: str | None,
    status: str | None,
    cursor: str | None,
    done: str | None,
) -> Response[Any]:
    signed = await session_or_sign_in(request, runtime, lang)
    if isinstance(signed, Redirect):
        return signed
    cursor = cursor_in(cursor)
    return await queue_page(
        runtime,
        signed,
        queue,
        owner_id,
        status_in(status, queue.statuses),
        cursor=cursor,
        notice=notice_of(signed.session.locale, done, (queue.done,)),
    )


def on_queue(runtime: Runtime, queue: Queue, owner_id: UUID) -> Where:
    """A form on a dead row: the dead rows shown again, a success back to them."""

    async def where(signed: Signed, fields: dict[str, str]) -> Place:
        return Place(
            show=partial(queue_page, runtime, signed, queue, owner_id, "dead"),
            back=f"{queue.parent}/{owner_id}?status=dead",
            missing="nothing_found",
        )

    return where


class ConsoleQueueController(Controller):
    path = "/console"
    opt = {"public": True}  # noqa: RUF012  (Litestar reads it as configuration)
    include_in_schema = False
    response_headers = security_headers
    exception_handlers = console_exception_handlers

    @get("/connections/{connection_id:uuid}", name="console_connection_events")
    async def events(
        self,
        request: AnyRequest,
        runtime: Runtime,
        connection_id: UUID,
        lang: str | None = None,
        status: str | None = None,
        cursor: str | None = None,
        done: str | None = None,
    ) -> Response[Any]:
        return await queue_view(request, runtime, inbox, connection_id, lang, status, cursor, done)

    @post(
        "/connections/{connection_id:uuid}/events/{event_id:int}/retry",
        name="console_retry_event",
        status_code=303,
    )
    async def retry(
        self, request: AnyRequest, runtime: Runtime, connection_id: UUID, event_id: int
    ) -> Response[Any]:
        async def step(form: Form) -> StoredResponse:
            if not 1 <= event_id <= row_id_max:
                raise Wrong("nothing_found")
            mutation = form.mutation("console_retry_event", connection_id, event_id)
            return await runtime.channels.retry(
                mutation, connection_id, event_id, renderer(InboxEvent)
            )

        where = on_queue(runtime, inbox, connection_id)
        return await console_action(request, runtime, where, step, inbox.done)

    @get("/webhooks/{webhook_id:uuid}", name="console_webhook_deliveries")
    async def deliveries(
        self,
        request: AnyRequest,
        runtime: Runtime,
        webhook_id: UUID,
        lang: str | None = None,
        status: str | None = None,
        cursor: str | None = None,
        done: str | None = None,
    ) -> Response[Any]:
        return await queue_view(
            request, runtime, webhook_deliveries, webhook_id, lang, status, cursor, done
        )

    @post(
        "/webhooks/{webhook_id:uuid}/deliveries/{delivery_id:int}/redeliver",
        name="console_redeliver",
        status_code=303,
    )
    async def redeliver(
        self, request: AnyRequest, runtime: Runtime, webhook_id: UUID, delivery_id: int
    ) -> Response[Any]:
        async def step(form: Form) -> StoredResponse:
            if not 1 <= delivery_id <= row_id_max:
                raise Wrong("nothing_found")
            mutation = form.mutation("console_redeliver", webhook_id, delivery_id)
            return await runtime.webhooks.redeliver(
                mutation, delivery_id, renderer(Redelivery), webhook_id
            )

        where = on_queue(runtime, webhook_deliveries, webhook_id)
        return await console_action(request, runtime, where, step, webhook_deliveries.done)
