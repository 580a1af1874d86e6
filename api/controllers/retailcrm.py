"""RetailCRM's trigger receiver, ``/hooks/retailcrm/{connection_id}``. A trigger's "HTTP
request" action is unsigned: it sends the parameters its author chose, here the order's id and
the connection's ``trigger_secret`` (``order_id={{ order.getId() }}&secret=...``, as a form
body or in the query string). The secret is compared in constant time; a good trigger is stored
in the inbox and acknowledged at once, and the channel worker reads the order again.

Triggers carry no event id, and two triggers of one order are not the same event: the second
may follow a change the first did not see. So every trigger is stored as its own event (its key
is the order id and a random suffix) and none is deduped away; what makes a duplicate harmless
is the worker, which acts on the order as RetailCRM shows it and applies under keys made from
the order id, so a trigger fired three times applies once."""

import hmac
import secrets
from typing import Any
from urllib.parse import parse_qs
from uuid import UUID

from litestar import Controller, Request, Response, post

from api.errors import problem
from api.http import partner_connection
from processing.core.rejections import Rejection
from processing.runtime import Runtime
from processing.service.partners.retailcrm.partner import topic

AnyRequest = Request[Any, Any, Any]
order_id_digits_max = 18


class RetailCrmController(Controller):
    path = "/hooks/retailcrm"
    opt = {"public": True}
    tags = ["CRMs"]

    @post("/{connection_id:uuid}", name="retailcrm_trigger", status_code=200)
    async def receive(
        self, request: AnyRequest, connection_id: UUID, runtime: Runtime
    ) -> Response[Any]:
        """A RetailCRM trigger's HTTP request: ``order_id`` and ``secret``."""
        connection = await partner_connection(runtime, connection_id, "retailcrm", "RetailCRM")
        body = await request.body()
        params = {
            **{name: values[-1] for name, values in parse_qs(request.url.query or "").items()},
            **{
                name: values[-1]
                for name, values in parse_qs(body.decode("utf-8", "replace")).items()
            },
        }
        expected = connection.secrets.get("trigger_secret", "")
        given = params.get("secret", "")
        if not expected or not hmac.compare_digest(expected.encode(), given.encode()):
            raise problem(Rejection.unauthorized, "The trigger's secret does not match.", "secret")
        order_id = params.get("order_id", "")
        if not order_id.isdigit() or len(order_id) > order_id_digits_max:
            raise problem(Rejection.validation_error, "order_id is the order's id.", "order_id")
        event_key = f"order:{order_id}:{secrets.token_hex(8)}"
        await runtime.channels.receive(connection, event_key, topic, {"order_id": int(order_id)})
        return Response(content={"received": True}, status_code=200)
