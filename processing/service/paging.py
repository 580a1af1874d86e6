"""Keyset pages for the admin lists: newest first by (created_at, id), the cursor the position
of the last item shown, opaque to clients. A page is read one past its size to know whether
another follows; nothing is counted and no offset is skipped, so a page costs the same deep in
a list of millions as on its first screen."""

import base64
import binascii
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TypeVar
from uuid import UUID

from processing.service.records import Position

__all__ = ["Position", "decode_position", "encode_position", "first", "keyset_page"]
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
