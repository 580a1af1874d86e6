"""The partners' receivers, ``/hooks/{partner}/{connection_id}``: one route for each entry of the
partner registry. No API key (a partner cannot send ours): the partner's own receiver
(``processing/service/partners/{partner}/receiver.py``) verifies the request by its signature or
token. A verified event is stored in the inbox and acknowledged at once; the channel worker
applies it, so a partner's time budget (Shopify's five seconds) is never spent on the ledger."""

import json
from typing import Any
from uuid import UUID

from litestar import Request, Response, post
from litestar.handlers import HTTPRouteHandler

from api.errors import ProblemError, problem
from api.storable import refuse_deep_json, refuse_unstorable
from processing.core import limits
from processing.core.rejections import Rejection
from processing.service.partners.channels import Channels
from processing.service.partners.receiving import Acknowledged, Inbound
from processing.service.partners.registry import Registration, registry
from processing.service.records import Refused

AnyRequest = Request[Any, Any, Any]
tags = {"crm": "CRMs", "shop": "web shops"}


def json_payload(body: bytes) -> Any:
    """A delivery's JSON body within our bounds, or a refusal."""
    refuse_deep_json(body, limits.partner_json_depth_max)
    try:
        payload = json.loads(body)
    except ValueError as error:
        raise problem(Rejection.validation_error, f"The body is not JSON: {error}") from error
    refuse_unstorable(payload)
    return payload


def receiver_of(registration: Registration) -> HTTPRouteHandler:
    async def receive(
        request: AnyRequest, connection_id: UUID, channels: Channels
    ) -> Response[Any]:
        connection = await channels.connection(connection_id)
        if connection is None or connection.partner != registration.name:
            raise problem(Rejection.not_found, f"No {registration.label} connection with this id.")
        inbound = Inbound(
            headers=request.headers, query=request.url.query or "", body=await request.body()
        )
        received = registration.receive(connection, inbound)
        if isinstance(received, Refused):
            raise ProblemError(received)
        if isinstance(received, Acknowledged):
            return Response(content=received.answer, status_code=200)
        payload = json_payload(received.body) if received.payload is None else received.payload
        new = await channels.receive(
            connection, received.event_key, received.topic, payload, coalesce=received.coalesce
        )
        answer: dict[str, bool] = {"received": True}
        if received.repeat_field is not None:
            answer[received.repeat_field] = not new
        return Response(content=answer, status_code=200)

    receive.__doc__ = registration.receive.__doc__  # the route's description in the contract
    return post(
        f"/hooks/{registration.name}/{{connection_id:uuid}}",
        name=registration.receiver,
        status_code=200,
        tags=[tags[registration.scope]],
        opt={"public": True},
    )(receive)


receivers = [receiver_of(registration) for registration in registry]
