"""Keyset pages for the admin lists: newest first by (created_at, id), the cursor the position
of the last item shown, opaque to clients. A page is read one past its size to know whether
another follows; nothing is counted and no offset is skipped, so a page costs the same deep in
a list of millions as on its first screen.

``paged`` is the one shape of such a list: the cursor read (a foreign one is refused naming
``cursor``), the size bounded, the rows read one past it in one reader, and the page with the
next cursor; the caller says only what it reads and what one page is called."""

import base64
import binascii
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar
from uuid import UUID

from processing.core import limits
from processing.core.rejections import Rejection
from processing.service.ports import Database, Store
from processing.service.records import Accepted, Outcome, Page, Position, Refused, refuse

__all__ = [
    "Position",
    "by_creation",
    "decode_position",
    "encode_position",
    "first",
    "invalid_cursor",
    "keyset_page",
    "paged",
]
T = TypeVar("T")
_kind = "at"


# Before every item: the first page.
first = Position(at=datetime(9999, 12, 31, tzinfo=UTC), id=UUID(int=2**128 - 1))


def encode_position(position: Position) -> str:
    text = f"{_kind}:{position.at.isoformat()}|{position.id}"
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_position(cursor: str | None) -> Position | None:
    """The position a cursor names (``first`` for none); None when it is not one of ours."""
    if cursor is None:
        return first
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        kind, _, rest = text.partition(":")
        at, _, id_ = rest.partition("|")
        position = Position(at=datetime.fromisoformat(at), id=UUID(id_))
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    if kind != _kind or position.at.tzinfo is None:
        return None
    return position


def keyset_page(
    items: list[T], size: int, position: Callable[[T], Position]
) -> tuple[list[T], str | None]:
    """One page of ``items`` (read one past ``size``), and the cursor of the next page."""
    page = items[:size]
    more = len(items) > size and bool(page)
    return page, encode_position(position(page[-1])) if more else None


class Created(Protocol):
    @property
    def created_at(self) -> datetime: ...
    @property
    def id(self) -> UUID: ...


def by_creation(item: Created) -> Position:
    """Where most rows stand in their list: by when they were created, then by id."""
    return Position(at=item.created_at, id=item.id)


invalid_cursor = refuse(
    Rejection.validation_error, "cursor is not one this list gave out.", field="cursor"
)
ReadPage = Callable[[Store, Position, int], Awaitable[Sequence[T] | Refused]]


async def paged(
    database: Database,
    cursor: str | None,
    limit: int,
    read: ReadPage[T],
    position: Callable[[T], Position],
    page: Callable[..., Any] = Page,
) -> Outcome:
    """One page of a list: ``read(store, after, count)`` reads up to ``count`` rows after the
    position (or refuses, e.g. an owner not found), ``position`` places a row in the list, and
    ``page(items=, next_cursor=)`` is the answer's value."""
    after = decode_position(cursor)
    if after is None:
        return invalid_cursor
    size = min(limit, limits.page_size_max)
    async with database.reader() as store:
        items = await read(store, after, size + 1)
    if isinstance(items, Refused):
        return items
    shown, next_cursor = keyset_page(list(items), size, position)
    return Accepted(value=page(items=shown, next_cursor=next_cursor))
