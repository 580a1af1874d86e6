"""What a partner's receiver makes of a request: refused, acknowledged without being stored, or
a delivery to store in the inbox once per its event key.

A receiver only verifies and reads; the HTTP edge looks the connection up, bounds and parses a
JSON body, stores the delivery and answers. So a partner's receiver is a pure function in its
own folder, tested without a server."""

from collections.abc import Mapping
from typing import Any

import msgspec

from processing.service.records import Refused


class Inbound(msgspec.Struct, frozen=True, kw_only=True):
    """A request to a partner's receiver as it arrived; ``headers`` are looked up in lowercase."""

    headers: Mapping[str, str]
    query: str
    body: bytes


class Delivery(msgspec.Struct, frozen=True, kw_only=True):
    """A verified event. Its payload is ``payload``, or, where ``payload`` is None, the JSON
    ``body`` (bounded and parsed by the edge). ``coalesce``: an event that only says "read this
    again" (``Channels.receive``). ``repeat_field`` names the answer's field that says whether
    the event was stored before (None: the answer does not say)."""

    event_key: str
    topic: str
    payload: dict[str, Any] | None = None
    body: bytes = b""
    coalesce: bool = False
    repeat_field: str | None = "duplicate"


class Acknowledged(msgspec.Struct, frozen=True, kw_only=True):
    """A request answered 200 with ``answer`` and not stored (a topic we do not act on, a ping)."""

    answer: dict[str, Any]


Received = Delivery | Acknowledged | Refused


def json_delivery(event_key: str, topic: str, topics: frozenset[str], body: bytes) -> Received:
    """A verified webhook delivery whose body is the JSON event: a topic we do not act on is
    acknowledged and not stored."""
    if topic not in topics:
        return Acknowledged(answer={"received": False})
    return Delivery(event_key=event_key, topic=topic, body=body)
