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
from urllib.parse import parse_qs

from processing.core.rejections import Rejection
from processing.service.partners.receiving import Delivery, Inbound, Received
from processing.service.partners.retailcrm.partner import topic
from processing.service.records import Connection, refuse

order_id_digits_max = 18


def receive(connection: Connection, inbound: Inbound) -> Received:
    """A RetailCRM trigger's HTTP request: ``order_id`` and ``secret``."""
    params = {
        **{name: values[-1] for name, values in parse_qs(inbound.query).items()},
        **{
            name: values[-1]
            for name, values in parse_qs(inbound.body.decode("utf-8", "replace")).items()
        },
    }
    expected = connection.secrets.get("trigger_secret", "")
    given = params.get("secret", "")
    if not expected or not hmac.compare_digest(expected.encode(), given.encode()):
        return refuse(
            Rejection.unauthorized, "The trigger's secret does not match.", field="secret"
        )
    order_id = params.get("order_id", "")
    if not order_id.isdigit() or len(order_id) > order_id_digits_max:
        return refuse(Rejection.validation_error, "order_id is the order's id.", field="order_id")
    return Delivery(
        event_key=f"order:{order_id}:{secrets.token_hex(8)}",
        topic=topic,
        payload={"order_id": int(order_id)},
        repeat_field=None,
    )
