"""Strict request bodies.

Litestar converts handler arguments leniently (``"10"`` becomes 10, ``1.0`` becomes 1, a number
becomes a timestamp), which suits path and query strings but not money-like bodies: a client that
sends the wrong type must hear about it, not have it guessed. This hook runs before the handler's
arguments are parsed and decodes the body strictly against the handler's ``data`` type; a body
that fails becomes a ``validation_error`` problem naming the field. The lenient pass that follows
only ever sees bodies that already passed the strict one.
"""

import re
from types import UnionType
from typing import Annotated, Any, Union, get_args, get_origin

import msgspec
from litestar import Request, Response
from litestar.routes import HTTPRoute

from api.auth import require_key
from api.errors import ProblemError
from api.storable import (
    has_dates,
    refuse_deep_json,
    refuse_unstorable,
    refuse_unstorable_parameters,
)
from processing.core import limits
from processing.core.rejections import Rejection
from processing.service.records import refuse

_path = re.compile(r" - at `\$(?P<path>[^`]*)`$")
_key_path = re.compile(r" - at `key` in `\$(?P<path>[^`]*)`$")
_named_field = re.compile(r"field `(?P<name>[^`]+)`")
_segment = re.compile(r"\[[^\]]*\]|[^.\[]+")  # a field name, or a [index] / [...]
_any_key = "[...]"  # how msgspec writes "some value of this map" in a path


def field_of(
    message: str, body: bytes | None = None, annotation: Any = None
) -> tuple[str | None, str]:
    """msgspec's ``Expected `int`, got `str` - at `$.document.id``` → (``document.id``, reason).
    A missing or unknown field names itself in the message; it is appended to the path. msgspec
    says only "a key" or "some value" of a map (``[...]``); given the body and its type, the map
    key to blame is found and named, as in ``earning.category_bp["oil"]``."""
    reason, path, refused_key = message, "", False
    located = _key_path.search(message) or _path.search(message)
    if located is not None:
        reason, path = message[: located.start()], located.group("path")
        refused_key = located.re is _key_path
    parts = _segment.findall(path)
    if body is not None and annotation is not None and (refused_key or _any_key in parts):
        parts = _name_map_keys(parts, body, annotation, refused_key)
    named = _named_field.search(reason)
    if named is not None:
        parts.append(named.group("name"))
    if refused_key:
        reason = f"a key of this map is refused: {reason}"
    return (".".join(parts).replace(".[", "[") or None), reason


def _name_map_keys(parts: list[str], body: bytes, annotation: Any, refused_key: bool) -> list[str]:
    """Walks the decoded body beside its type, replacing each ``[...]`` with the first key whose
    value fails to decode (msgspec stops at the first failure, in document order), and naming
    the first refused key at the end of the path. Anything unexpected leaves the path as it was."""
    try:
        return _walk(parts, msgspec.json.decode(body), annotation, refused_key)
    except (msgspec.DecodeError, LookupError, TypeError, ValueError, StopIteration):
        return parts


def _walk(parts: list[str], value: Any, annotation: Any, refused_key: bool) -> list[str]:
    named: list[str] = []
    kind = annotation
    for part in parts:
        kind = _unwrapped(kind)
        if part == _any_key:
            key = _first_refused(value, _map_arguments(kind)[1], values=True)
            if key is None:
                return parts
            value, kind = value[key], _map_arguments(kind)[1]
            named.append(f"[{_quoted(key)}]")
        elif part.startswith("["):
            value, kind = value[int(part[1:-1])], _list_argument(kind)
            named.append(part)
        else:
            value, kind = _struct_field(value, kind, part)
            named.append(part)
    if refused_key:
        key = _first_refused(value, _map_arguments(_unwrapped(kind))[0], values=False)
        if key is not None:
            named.append(f"[{_quoted(key)}]")
    return named


def _first_refused(mapping: Any, kind: Any, *, values: bool) -> str | None:
    if not isinstance(mapping, dict) or kind is None:
        return None
    for key, item in mapping.items():
        try:
            msgspec.json.decode(
                msgspec.json.encode(item if values else key), type=kind, strict=True
            )
        except msgspec.ValidationError:
            return str(key)
    return None


def _unwrapped(kind: Any) -> Any:
    """The type itself, without ``Annotated`` constraints or an optional ``None``."""
    while True:
        if get_origin(kind) is Annotated:
            kind = get_args(kind)[0]
        elif get_origin(kind) in (Union, UnionType):
            arms = [arm for arm in get_args(kind) if arm is not type(None)]
            if len(arms) != 1:
                return kind
            kind = arms[0]
        else:
            return kind


def _map_arguments(kind: Any) -> tuple[Any, Any]:
    arguments = get_args(kind) if get_origin(kind) is dict else ()
    return (arguments[0], arguments[1]) if len(arguments) == 2 else (None, None)


def _list_argument(kind: Any) -> Any:
    arguments = get_args(kind)
    return arguments[0] if arguments else None


def _struct_field(value: Any, kind: Any, name: str) -> tuple[Any, Any]:
    if not (isinstance(kind, type) and issubclass(kind, msgspec.Struct)):
        return value[name], None
    field = next(field for field in msgspec.structs.fields(kind) if field.encode_name == name)
    return value[name], field.type


def _quoted(key: str) -> str:
    return msgspec.json.encode(key).decode()


def answer_options(request: Request[Any, Any, Any]) -> Response[Any]:
    """``OPTIONS``: Litestar's own answer lists only the methods of the first handler it
    registered for the path; this one lists every method the path serves."""
    methods: set[str] = set()
    for route in request.app.routes:
        if isinstance(route, HTTPRoute) and request.route_handler in route.route_handlers:
            methods = set(route.methods)
    return Response(content=None, status_code=204, headers={"Allow": ", ".join(sorted(methods))})


async def before_request(request: Request[Any, Any, Any]) -> Response[Any] | None:
    """The app's ``before_request`` hook: the key first (``api/auth.py``), then the body."""
    await require_key(request, request.route_handler)
    if request.method == "OPTIONS":
        return answer_options(request)
    await decode_strictly(request)
    return None


async def decode_strictly(request: Request[Any, Any, Any]) -> None:
    """``before_request`` hook: refuse a body that does not match the handler's ``data`` type,
    and parameters or bodies no column can store (``api/storable.py``)."""
    refuse_unstorable_parameters(request)
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
    refuse_deep_json(body, limits.request_json_depth_max)
    try:
        decoded = msgspec.json.decode(body, type=data.annotation, strict=True)
    except msgspec.ValidationError as error:
        field, reason = field_of(str(error), body, data.annotation)
        detail = f"{field}: {reason}" if field else reason
        raise ProblemError(refuse(Rejection.validation_error, detail, field=field)) from error
    except msgspec.DecodeError as error:
        raise ProblemError(
            refuse(Rejection.validation_error, f"The body is not valid JSON: {error}", field=None)
        ) from error
    if b"\\u0000" in body or has_dates(data.annotation):
        refuse_unstorable(decoded)
