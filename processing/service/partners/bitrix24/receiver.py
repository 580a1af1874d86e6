"""Bitrix24's event receiver, ``/hooks/bitrix24/{connection_id}``: the portal's outgoing webhook
POSTs a form (``event``, ``data[FIELDS][ID]``, ``auth[...]``) with no signature, so the
``auth[application_token]`` it shows is compared with the stored one in constant time, and the
portal's domain with the connection's. A verified deal event is stored in the inbox and
acknowledged at once; the channel worker reads the deal again and applies it."""

import hmac
from typing import Any
from uuid import uuid4

from processing.core.rejections import Rejection
from processing.service.partners.bitrix24.translation import deal_events, parse_form
from processing.service.partners.receiving import Acknowledged, Delivery, Inbound, Received
from processing.service.partners.translation import Unusable
from processing.service.records import Connection, refuse

deal_id_digits_max = 20


def receive(connection: Connection, inbound: Inbound) -> Received:
    """A Bitrix24 event (ONCRMDEALADD, ONCRMDEALUPDATE), form-encoded."""
    try:
        form = parse_form(inbound.body)
    except (Unusable, UnicodeDecodeError) as error:
        return refuse(Rejection.validation_error, f"The body is not a form: {error}")
    auth = dict_or_empty(form.get("auth"))
    token = str(auth.get("application_token", ""))
    expected = connection.secrets.get("application_token", "")
    if not expected or not hmac.compare_digest(token.encode(), expected.encode()):
        return refuse(Rejection.unauthorized, "auth[application_token] does not match.")
    if str(auth.get("domain", "")).lower() != connection.account.lower():
        return refuse(
            Rejection.unauthorized, f"This connection serves {connection.account}.", field="auth"
        )
    event = str(form.get("event", "")).upper()
    if event not in deal_events:
        return Acknowledged(answer={"received": False})
    data = dict_or_empty(form.get("data"))
    fields = dict_or_empty(data.get("FIELDS"))
    deal_id = str(fields.get("ID", ""))
    if not deal_id.isdigit() or len(deal_id) > deal_id_digits_max:
        return refuse(Rejection.validation_error, "data[FIELDS][ID] names no deal.", field="data")
    # Events carry no id of their own, nor what changed: two changes in one second look
    # alike. So no event is dropped as a repeat; one is only folded into a waiting event
    # for the same deal that has not read it yet (the handler's keys make a repeat harmless).
    return Delivery(
        event_key=f"{event}:{deal_id}:{uuid4()}",
        topic=event,
        payload={"deal_id": deal_id},
        coalesce=True,
        repeat_field="coalesced",
    )


def dict_or_empty(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}
