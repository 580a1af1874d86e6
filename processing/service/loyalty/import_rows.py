"""The rows of an import file (docs/import-export.md), checked and grouped into customers without
I/O and without a clock (``now`` comes in), so that a dry run and a real run refuse the same
rows for the same reasons. Each row is checked on its own; consecutive rows of one customer
(the same ``customer_id``, or the same phone when that column is empty) must agree on the
customer's columns; a phone or a card number may occur for one customer only."""

import functools
import re
from collections.abc import Callable, Iterable, Iterator
from datetime import date, datetime
from typing import NamedTuple

import msgspec

from processing.core import limits
from processing.service.loyalty.export import columns
from processing.service.loyalty.phones import normalize_phone

# Card numbers as the API takes them (schemas.base.CardNumber); e-mail by its shape only, as
# the customers table checks it.
card_number_pattern = re.compile(r"^[0-9A-Za-z-]{1,64}$")
email_pattern = re.compile(r"^[^@\s]+@[^@\s]+$")
points_pattern = re.compile(r"^[0-9]{1,13}$")
date_pattern = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")

name_length_max = 200
tier_length_max = 200
reason_length_max = 500
email_length_max = 254
customer_key_length_max = 200
# A blocked customer whose file gives no reason is blocked with this one: an empty reason
# would read as "not blocked".
blocked_reason_default = "blocked before import"

Fail = Callable[[str, str], None]


class _Columns(NamedTuple):
    """A customer's columns as read, the same on each of the customer's rows."""

    phone: str
    name: str | None
    email: str | None
    birthday: date | None
    tier: str | None
    blocked_reason: str | None
    cards: tuple[str, ...]
    blocked_cards: tuple[str, ...]


_no_columns = _Columns("", None, None, None, None, None, (), ())


class RowError(msgspec.Struct, frozen=True):
    row: int  # the file's line number of the row, the header being row 1
    field: str
    reason: str


class ImportLot(msgspec.Struct, frozen=True, gc=False):
    points: int
    activates_at: datetime
    expires_at: datetime | None


class ImportCustomer(msgspec.Struct, frozen=True, gc=False):
    """A customer as the file gives them, with their lots; ``errors`` empty when every one of
    their rows is valid. ``ordinal`` is their place among the file's customers, which fixes the
    batch they are applied in on every run of the same file."""

    ordinal: int
    row: int  # their first row; their opening operation's document names it
    rows: int
    phone: str
    name: str | None
    email: str | None
    birthday: date | None
    tier: str | None
    blocked_reason: str | None
    cards: tuple[str, ...]
    blocked_cards: tuple[str, ...]
    lots: tuple[ImportLot, ...]
    errors: tuple[RowError, ...]

    @property
    def points(self) -> int:
        return sum(lot.points for lot in self.lots)


class _Row(msgspec.Struct, frozen=True, gc=False):
    number: int
    key: str
    customer: _Columns
    lot: ImportLot | None
    errors: tuple[RowError, ...]


# A customer's rows repeat their phone, and libphonenumber costs tens of microseconds a number.
phone_of = functools.lru_cache(maxsize=256)(normalize_phone)


def header_refusal(header: list[str], separator: str) -> str | None:
    """Why the first row is not the export's header, or None."""
    if tuple(header) == columns:
        return None
    if len(header) == 1 and separator not in header[0]:
        other = "," if separator == ";" else ";"
        if other in header[0]:
            return f"the header is not separated by {separator!r}; try --separator '{other}'"
    return "the first row is not the header " + ";".join(columns)


def read_customers(
    rows: Iterable[tuple[int, list[str]]], country: str, now: datetime
) -> Iterator[ImportCustomer]:
    """The file's customers in file order, each with the errors of their rows, including a
    phone or card already given to an earlier customer of the file."""
    phones: dict[str, int] = {}
    cards: dict[str, int] = {}
    group: list[_Row] = []
    ordinal = 0
    for number, fields in rows:
        row = read_row(number, fields, country, now)
        if group and row.key != group[0].key:
            yield customer_of(ordinal, group, phones, cards)
            ordinal += 1
            group = []
        group.append(row)
    if group:
        yield customer_of(ordinal, group, phones, cards)


def customer_of(
    ordinal: int, group: list[_Row], phones: dict[str, int], cards: dict[str, int]
) -> ImportCustomer:
    first = group[0]
    errors = [error for row in group for error in row.errors]
    for row in group[1:]:
        errors.extend(disagreements(first, row))
    customer = first.customer
    errors.extend(repeated(first.number, "phone", [customer.phone], phones))
    errors.extend(
        repeated(first.number, "cards", [*customer.cards, *customer.blocked_cards], cards)
    )
    lots = tuple(row.lot for row in group if row.lot is not None)
    if sum(lot.points for lot in lots) > limits.points_per_account_max:
        errors.append(
            RowError(first.number, "points", f"more than {limits.points_per_account_max} in all")
        )
    return ImportCustomer(
        ordinal=ordinal,
        row=first.number,
        rows=len(group),
        phone=customer.phone,
        name=customer.name,
        email=customer.email,
        birthday=customer.birthday,
        tier=customer.tier,
        blocked_reason=customer.blocked_reason,
        cards=customer.cards,
        blocked_cards=customer.blocked_cards,
        lots=lots,
        errors=tuple(errors),
    )


def disagreements(first: _Row, row: _Row) -> list[RowError]:
    if first.errors or row.errors:
        return []
    return [
        RowError(row.number, column, f"differs from row {first.number} of the same customer")
        for column, mine, theirs in zip(_Columns._fields, row.customer, first.customer, strict=True)
        if mine != theirs
    ][:1]


def repeated(row: int, field: str, values: list[str], seen: dict[str, int]) -> list[RowError]:
    errors = []
    for value in values:
        earlier = seen.setdefault(value, row)
        if earlier != row:
            errors.append(RowError(row, field, f"{value} is already on row {earlier}"))
    return errors


def read_row(number: int, fields: list[str], country: str, now: datetime) -> _Row:
    if len(fields) != len(columns):
        error = RowError(number, "row", f"{len(fields)} columns, expected {len(columns)}")
        return _Row(
            number=number, key=f"row:{number}", customer=_no_columns, lot=None, errors=(error,)
        )
    errors: list[RowError] = []
    values = dict(zip(columns, fields, strict=True))
    for column, value in values.items():
        if "\x00" in value:
            errors.append(RowError(number, column, "holds a NUL character"))
            values[column] = value.replace("\x00", "")
    customer = read_customer(number, values, country, now, errors)
    lot = read_lot(number, values, errors)
    key = values["customer_id"] or values["phone"]
    if len(key) > customer_key_length_max:
        errors.append(RowError(number, "customer_id", "longer than 200 characters"))
    return _Row(number=number, key=key, customer=customer, lot=lot, errors=tuple(errors))


def read_customer(
    number: int, values: dict[str, str], country: str, now: datetime, errors: list[RowError]
) -> _Columns:
    def fail(field: str, reason: str) -> None:
        errors.append(RowError(number, field, reason))

    phone = phone_of(values["phone"], country) if values["phone"] else None
    if phone is None:
        fail("phone", f"not a phone number (E.164, or a number of {country} as dialled there)")
    active = tuple(values["cards"].split())
    blocked = tuple(values["blocked_cards"].split())
    for field, numbers in (("cards", active), ("blocked_cards", blocked)):
        for card in numbers:
            if not card_number_pattern.match(card):
                fail(field, f"{card[:70]!r} is not a card number (1-64 letters, digits, -)")
    if len(set(active + blocked)) < len(active + blocked):
        fail("cards", "a card number is given twice")
    name = text(values["name"], name_length_max, "name", fail)
    email = text(values["email"], email_length_max, "email", fail)
    if email is not None and (len(email) < 3 or not email_pattern.match(email)):
        fail("email", "not an e-mail address")
    birthday = read_birthday(values["birthday"], now, fail)
    tier = text(values["tier"], tier_length_max, "tier", fail)
    blocked_reason = read_block(values["blocked"], values["blocked_reason"], fail)
    return _Columns(
        phone or values["phone"], name, email, birthday, tier, blocked_reason, active, blocked
    )


def text(value: str, length_max: int, field: str, fail: Fail) -> str | None:
    value = value.strip()
    if len(value) > length_max:
        fail(field, f"longer than {length_max} characters")
    return value or None


def read_birthday(value: str, now: datetime, fail: Fail) -> date | None:
    if not value:
        return None
    try:
        day = date.fromisoformat(value) if date_pattern.match(value) else None
    except ValueError:
        day = None
    if day is None:
        fail("birthday", "not a date (YYYY-MM-DD)")
    elif not limits.timestamp_year_min - 100 <= day.year or day > now.date():
        fail("birthday", "not a birthday (from 1870 until today)")
    return day


def read_block(blocked: str, reason: str, fail: Fail) -> str | None:
    reason = reason.strip()
    if blocked not in ("", "0", "1"):
        fail("blocked", "not 1 or 0")
    if len(reason) > reason_length_max:
        fail("blocked_reason", f"longer than {reason_length_max} characters")
    if blocked == "1":
        return reason or blocked_reason_default
    if reason:
        fail("blocked_reason", "a reason for a customer who is not blocked (blocked = 0)")
    return None


def read_lot(number: int, values: dict[str, str], errors: list[RowError]) -> ImportLot | None:
    """The row's lot; ``held`` is not read (an importer credits the whole remaining)."""
    raw, activates, expires = values["points"], values["activates_at"], values["expires_at"]
    if not raw:
        if activates or expires:
            errors.append(RowError(number, "points", "empty on a row with a lot's dates"))
        return None
    found = len(errors)
    points = int(raw) if points_pattern.match(raw) else 0
    if not 0 < points <= limits.points_per_operation_max:
        errors.append(
            RowError(
                number, "points", f"not a whole number from 1 to {limits.points_per_operation_max}"
            )
        )
    activates_at = moment(number, "activates_at", activates, errors)
    if activates_at is None and not activates:
        errors.append(RowError(number, "activates_at", "empty on a row with points"))
    expires_at = moment(number, "expires_at", expires, errors)
    if activates_at and expires_at and expires_at <= activates_at:
        errors.append(RowError(number, "expires_at", "not after activates_at"))
    if len(errors) > found or activates_at is None:
        return None
    return ImportLot(points=points, activates_at=activates_at, expires_at=expires_at)


def moment(number: int, field: str, value: str, errors: list[RowError]) -> datetime | None:
    """RFC 3339 with a zone, years 1970 to 2199, as the API takes a time."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value) if "T" in value or " " in value else None
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        errors.append(RowError(number, field, "not a time with a zone (2026-12-04T19:30:00Z)"))
        return None
    if not limits.timestamp_year_min <= parsed.year <= limits.timestamp_year_max:
        errors.append(RowError(number, field, "outside the years 1970 to 2199"))
        return None
    return parsed
