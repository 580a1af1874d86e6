"""Partner connections for operators: a program's connections, the events in each one's inbox,
and a retry of an event that died."""

from typing import Annotated, Any, Literal
from uuid import UUID

from litestar import Controller, Request, Response, get, post
from litestar.params import Parameter

from api.auth import admin_scopes
from api.http import Cursor, PageSize, answer, mutation_for, renderer, respond
from processing.core import limits
from processing.service.partners.channels import Channels
from processing.service.records import Actor
from schemas.api import InboxEvent, InboxEventPage, PartnerConnectionPage

AnyRequest = Request[Any, Any, Any]
# Inbox ids are bigints, bounded by the largest integer every JSON reader holds exactly.
EventId = Annotated[int, Parameter(ge=1, le=2**53 - 1)]


class ConnectionsController(Controller):
    path = "/v1"
    opt = {"scopes": admin_scopes}
    tags = ["partners"]

    @get("/programs/{program_id:uuid}/connections", name="list_connections")
    async def connections(
        self,
        request: AnyRequest,
        program_id: UUID,
        channels: Channels,
        actor: Actor,
        limit: PageSize = limits.page_size_default,
        cursor: Cursor = None,
    ) -> Response[PartnerConnectionPage]:
        """The program's partner connections, newest first, a page at a time, disabled ones
        included; their secrets and settings are never shown."""
        outcome = await channels.connections(actor, program_id, limit, cursor)
        return answer(request, outcome, PartnerConnectionPage)

    @get("/connections/{connection_id:uuid}/events", name="list_inbox_events")
    async def events(
        self,
        request: AnyRequest,
        connection_id: UUID,
        channels: Channels,
        actor: Actor,
        status: Literal["pending", "done", "dead"] | None = None,
        limit: PageSize = limits.page_size_default,
        cursor: Cursor = None,
    ) -> Response[InboxEventPage]:
        """The events the partner sent to this connection, newest first by when each was
        received, filtered by status, a page at a time, each with its attempts, last error
        and the start of its payload."""
        outcome = await channels.events(actor, connection_id, status, limit, cursor)
        return answer(request, outcome, InboxEventPage)

    @post(
        "/connections/{connection_id:uuid}/events/{event_id:int}/retry",
        name="retry_inbox_event",
        status_code=200,
    )
    async def retry(
        self, request: AnyRequest, connection_id: UUID, event_id: EventId, channels: Channels
    ) -> Response[InboxEvent]:
        """Puts a dead event back in the queue, due at once with a fresh attempt budget; an
        event that is not dead is refused (409 ``inbox_event_not_dead``)."""
        stored = await channels.retry(
            mutation_for(request, None, connection_id, event_id),
            connection_id,
            event_id,
            renderer(InboxEvent),
        )
        return respond(request, stored)
