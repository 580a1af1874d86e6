"""Strict request bodies.

Litestar converts handler arguments leniently (``"10"`` becomes 10, ``1.0`` becomes 1, a number
becomes a timestamp), which suits path and query strings but not money-like bodies: a client that
sends the wrong type must hear about it, not have it guessed. This hook runs before the handler's
arguments are parsed and decodes the body strictly against the handler's ``data`` type; a body
that fails becomes a ``validation_error`` problem naming the field. The lenient pass that follows
only ever sees bodies that already passed the strict one.
"""

import re
from typing import Any

import msgspec
from litestar import Request

from api.errors import ProblemError
from processing.core.rejections import Rejection
from processing.service.records import refuse

_path = re.compile(r" - at `\$(?P<path>[^`]*)`$")
_named_field = re.compile(r"field `(?P<name>[^`]+)`")


def field_of(message: str) -> tuple[str | None, str]:
    """msgspec's ``Expected `int`, got `str` - at `$.document.id``` → (``document.id``, reason).
    A missing or unknown field names itself in the message; it is appended to the path."""
    reason, path = message, ""
    located = _path.search(message)
    if located is not None:
        reason, path = message[: located.start()], located.group("path")
    parts = [part for part in re.split(r"\.|(?=\[)", path) if part]
    named = _named_field.search(reason)
    if named is not None:
        parts.append(named.group("name"))
    return (".".join(parts).replace(".[", "[") or None), reason


async def decode_strictly(request: Request[Any, Any, Any]) -> None:
    """``before_request`` hook: refuse a body that does not match the handler's ``data`` type."""
    data = request.route_handler.parsed_fn_signature.parameters.get("data")
    if data is None:
        return
    body = await request.body()
    if not body.strip():
        if data.is_optional:
            return
        raise ProblemError(
            refuse(Rejection.validation_error, "The request needs a JSON body.", field=None)
        )
    try:
        msgspec.json.decode(body, type=data.annotation, strict=True)
    except msgspec.ValidationError as error:
        field, reason = field_of(str(error))
        detail = f"{field}: {reason}" if field else reason
        raise ProblemError(refuse(Rejection.validation_error, detail, field=field)) from error
    except msgspec.DecodeError as error:
        raise ProblemError(
            refuse(Rejection.validation_error, f"The body is not valid JSON: {error}", field=None)
        ) from error
