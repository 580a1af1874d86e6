"""Bitrix24's event receiver, ``/hooks/bitrix24/{connection_id}``: the portal's outgoing webhook
POSTs a form (``event``, ``data[FIELDS][ID]``, ``auth[...]``) with no signature, so the
``auth[application_token]`` it shows is compared with the stored one in constant time, and the
portal's domain with the connection's. A verified deal event is stored in the inbox and
acknowledged at once; the channel worker reads the deal again and applies it."""

import hmac
from typing import Any
from uuid import UUID, uuid4

from litestar import Controller, Request, Response, post

from api.errors import problem
from api.http import partner_connection
from processing.core.rejections import Rejection
from processing.runtime import Runtime
from processing.service.partners.bitrix24 import translation as bitrix24
from processing.service.partners.translation import Unusable

AnyRequest = Request[Any, Any, Any]
_deal_id_digits_max = 20


class Bitrix24Controller(Controller):
    path = "/hooks/bitrix24"
    opt = {"public": True}
    tags = ["CRMs"]

    @post("/{connection_id:uuid}", name="bitrix24_event", status_code=200)
    async def receive(
        self, request: AnyRequest, connection_id: UUID, runtime: Runtime
    ) -> Response[Any]:
        """A Bitrix24 event (ONCRMDEALADD, ONCRMDEALUPDATE), form-encoded."""
        connection = await partner_connection(runtime, connection_id, "bitrix24", "Bitrix24")
        body = await request.body()
        try:
            form = bitrix24.parse_form(body)
        except (Unusable, UnicodeDecodeError) as error:
            raise problem(Rejection.validation_error, f"The body is not a form: {error}") from error
        auth = form.get("auth") if isinstance(form.get("auth"), dict) else {}
        token = str(auth.get("application_token", ""))
        expected = connection.secrets.get("application_token", "")
        if not expected or not hmac.compare_digest(token.encode(), expected.encode()):
            raise problem(Rejection.unauthorized, "auth[application_token] does not match.")
        if str(auth.get("domain", "")).lower() != connection.account.lower():
            raise problem(
                Rejection.unauthorized, f"This connection serves {connection.account}.", "auth"
            )
        event = str(form.get("event", "")).upper()
        if event not in bitrix24.deal_events:
            return Response(content={"received": False}, status_code=200)
        data = form.get("data") if isinstance(form.get("data"), dict) else {}
        fields = data.get("FIELDS") if isinstance(data.get("FIELDS"), dict) else {}
        deal_id = str(fields.get("ID", ""))
        if not deal_id.isdigit() or len(deal_id) > _deal_id_digits_max:
            raise problem(Rejection.validation_error, "data[FIELDS][ID] names no deal.", "data")
        # Events carry no id of their own, nor what changed: two changes in one second look
        # alike. So no event is dropped as a repeat; one is only folded into a waiting event
        # for the same deal that has not read it yet (the handler's keys make a repeat harmless).
        new = await runtime.channels.receive(
            connection, f"{event}:{deal_id}:{uuid4()}", event, {"deal_id": deal_id}, coalesce=True
        )
        return Response(content={"received": True, "coalesced": not new}, status_code=200)
