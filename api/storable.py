"""Input that is well-formed JSON yet no column can store or no decoder can read.

A NUL character (Postgres text and jsonb refuse it), a timestamp outside the years a client may
name, JSON nested so deep that a decoder's recursion limit fails: each once surfaced as a 500 from
deep inside a use case, which tells a till to retry the same request forever. The request hooks
and the partner receivers refuse each first, as a ``validation_error`` naming the field.
"""

import functools
import re
from collections.abc import Iterator
from datetime import date, datetime
from typing import Any

import msgspec
from litestar import Request

from api.errors import ProblemError
from processing.core import limits
from processing.core.rejections import Rejection
from processing.service.records import refuse

_json_string = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_not_brackets = bytes(set(range(256)) - set(b"[]{}"))
_opening = frozenset(b"[{")
_nul = "\x00"


def nested_deeper_than(body: bytes, depth_max: int) -> bool:
    """Whether the JSON in ``body`` nests arrays and objects more than ``depth_max`` deep.
    Brackets inside strings do not count; a body with few brackets is answered without a scan."""
    if body.count(b"[") + body.count(b"{") <= depth_max:
        return False
    depth = 0
    for bracket in _json_string.sub(b'""', body).translate(None, _not_brackets):
        depth += 1 if bracket in _opening else -1
        if depth > depth_max:
            return True
    return False


def refuse_deep_json(body: bytes, depth_max: int) -> None:
    if nested_deeper_than(body, depth_max):
        raise ProblemError(
            refuse(
                Rejection.validation_error,
                f"The JSON body nests more than {depth_max} levels of arrays and objects.",
                field=None,
            )
        )


def unstorable(value: Any, path: str = "") -> tuple[str, str] | None:
    """The first field of a decoded value that no column can store, and why: a string or a
    map key with a NUL character, or a timestamp outside the years a client may send."""
    if isinstance(value, str):
        return (path, "must not contain a NUL character") if _nul in value else None
    if isinstance(value, datetime | date):
        return _year_refusal(value, path)
    return next(
        (found for found in map(_unstorable_part, _parts(value, path)) if found is not None), None
    )


def _unstorable_part(part: tuple[str, Any]) -> tuple[str, str] | None:
    path, value = part
    return unstorable(value, path)


def _parts(value: Any, path: str) -> Iterator[tuple[str, Any]]:
    """The named parts of a struct, map or list; a map's keys are parts too."""
    if isinstance(value, msgspec.Struct):
        for field in msgspec.structs.fields(value):
            yield _joined(path, field.encode_name), getattr(value, field.name)
    elif isinstance(value, dict):
        for key, item in value.items():
            # Named as the field names of problems name map keys; a top-level key plainly.
            named = f"{path}[{_quoted(str(key))}]" if path else str(key)
            yield named, key
            yield named, item
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield f"{path}[{index}]", item
    elif isinstance(value, set | frozenset):
        for item in value:
            yield path, item


def _joined(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _quoted(key: str) -> str:
    return msgspec.json.encode(key).decode()


def _year_refusal(value: date, path: str) -> tuple[str, str] | None:
    if limits.timestamp_year_min <= value.year <= limits.timestamp_year_max:
        return None
    return path, (
        f"must lie in the years {limits.timestamp_year_min} to {limits.timestamp_year_max}"
    )


def refuse_unstorable(value: Any, path: str = "") -> None:
    found = unstorable(value, path)
    if found is not None:
        field, reason = found
        detail = f"{field}: {reason}." if field else f"The body {reason}."
        raise ProblemError(refuse(Rejection.validation_error, detail, field=field or None))


@functools.cache
def has_dates(annotation: Any) -> bool:
    """Whether a body of this type can carry a date or a timestamp (whose year is checked)."""
    return _dates_in(msgspec.inspect.type_info(annotation), set())


def _dates_in(info: msgspec.inspect.Type, seen: set[int]) -> bool:
    if isinstance(info, msgspec.inspect.DateTimeType | msgspec.inspect.DateType):
        return True
    if id(info) in seen:
        return False
    seen.add(id(info))
    if isinstance(info, msgspec.inspect.Metadata):
        return _dates_in(info.type, seen)
    if isinstance(info, msgspec.inspect.UnionType):
        return any(_dates_in(member, seen) for member in info.types)
    if isinstance(info, msgspec.inspect.StructType):
        return any(_dates_in(field.type, seen) for field in info.fields)
    if isinstance(info, msgspec.inspect.DictType):
        return _dates_in(info.value_type, seen)
    if isinstance(info, msgspec.inspect.ListType | msgspec.inspect.TupleType):
        return _dates_in(getattr(info, "item_type", msgspec.inspect.AnyType()), seen)
    return False


def refuse_unstorable_parameters(request: Request[Any, Any, Any]) -> None:
    """Path and query parameters reach SQL as text too: a NUL character in one is refused.
    The raw query string is looked at in the scope: ``request.url`` would build a URL object
    on every request to answer a question that is almost always no."""
    for name, value in request.path_params.items():
        refuse_unstorable(value, name)
    query: bytes = request.scope.get("query_string", b"")
    if b"\x00" in query or b"%00" in query:
        for name, value in request.query_params.items():
            refuse_unstorable(value, name)
            refuse_unstorable(name, name)
