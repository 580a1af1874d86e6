"""A segment's filter: a tree of ``{"all": [...]}`` and ``{"any": [...]}`` over predicates on
customer facts, read from JSON into typed values (``parse_filter``), every refusal naming the
JSON path it is about (``filter.all[2].within_days``). Pure: the adapter compiles a parsed
filter into one parameterised statement; nothing here knows SQL.

A predicate is an object with a ``fact`` and that fact's fields:

- ``available`` / ``pending``: points, ``min`` and/or ``max`` (inclusive);
- ``expiring_points``: what lots active now and expiring within ``within_days`` still hold free
  (remaining − held: points an active hold keeps are not there to burn), at least ``min``
  (≥ 1), at most ``max``;
- ``tier``: the tier in force under the program's current rules, by ``name``;
- ``days_since_last_purchase``: ``min`` and/or ``max`` whole days; a customer who never bought
  matches none;
- ``purchase_count`` / ``purchase_money``: purchases (their money less what returns took, in
  minor units) over the last ``within_days``, ``min`` and/or ``max``;
- ``last_purchase_store``: the store of the newest purchase is one of ``stores``;
- ``birthday_month``: the birthday falls in one of ``months`` (1-12);
- ``attribute``: the customer's attribute ``key`` equals ``value`` (a string, number or bool);
- ``consent``: the consent in force on ``channel`` is ``granted`` (true) or not (false: withdrawn
  or never given);
- ``enrolled``: enrolled from ``from`` up to (not including) ``to``, RFC 3339 with a zone;
- ``blocked``: the account is blocked (``value`` true) or not.
"""

from datetime import datetime
from typing import Any, Literal

import msgspec

from processing.core import limits
from processing.core.model import Rejected, reject
from processing.core.rejections import Rejection

Combinator = Literal["all", "any"]
channels = ("sms", "email", "push", "phone")


class PointsRange(msgspec.Struct, frozen=True, kw_only=True):
    """``available`` or ``pending`` points within [min, max]."""

    fact: Literal["available", "pending"]
    min: int | None
    max: int | None


class Expiring(msgspec.Struct, frozen=True, kw_only=True):
    within_days: int
    min: int
    max: int | None


class Tier(msgspec.Struct, frozen=True, kw_only=True):
    name: str


class DaysSinceLastPurchase(msgspec.Struct, frozen=True, kw_only=True):
    min: int | None
    max: int | None


class Purchases(msgspec.Struct, frozen=True, kw_only=True):
    """``purchase_count`` or ``purchase_money`` over the last ``within_days``."""

    fact: Literal["purchase_count", "purchase_money"]
    within_days: int
    min: int | None
    max: int | None


class LastPurchaseStore(msgspec.Struct, frozen=True, kw_only=True):
    stores: tuple[str, ...]


class BirthdayMonth(msgspec.Struct, frozen=True, kw_only=True):
    months: tuple[int, ...]


class Attribute(msgspec.Struct, frozen=True, kw_only=True):
    key: str
    value: str | int | bool


class Consent(msgspec.Struct, frozen=True, kw_only=True):
    channel: str
    granted: bool


class Enrolled(msgspec.Struct, frozen=True, kw_only=True):
    start: datetime | None
    end: datetime | None


class Blocked(msgspec.Struct, frozen=True, kw_only=True):
    value: bool


Predicate = (
    PointsRange
    | Expiring
    | Tier
    | DaysSinceLastPurchase
    | Purchases
    | LastPurchaseStore
    | BirthdayMonth
    | Attribute
    | Consent
    | Enrolled
    | Blocked
)


class Group(msgspec.Struct, frozen=True, kw_only=True):
    """Every part must hold (``all``) or at least one (``any``)."""

    combinator: Combinator
    parts: tuple["Group | Predicate", ...]


Node = Group | Predicate


class _Refusal(Exception):
    def __init__(self, field: str, detail: str) -> None:
        super().__init__(detail)
        self.field = field
        self.detail = detail


def parse_filter(value: Any, path: str = "filter") -> Group | Rejected:
    """The filter ``value`` (decoded JSON) as a typed tree, or the first thing wrong with it."""
    counter = [0]
    try:
        node = _node(value, path, 1, counter)
    except _Refusal as refusal:
        return reject(Rejection.validation_error, refusal.detail, refusal.field)
    if not isinstance(node, Group):
        return reject(
            Rejection.validation_error, 'The filter is {"all": [...]} or {"any": [...]}.', path
        )
    return node


def _node(value: Any, path: str, depth: int, counter: list[int]) -> Node:
    if not isinstance(value, dict):
        raise _Refusal(path, "Each part of a filter is a JSON object.")
    if "fact" in value:
        counter[0] += 1
        if counter[0] > limits.segment_predicates_max:
            raise _Refusal(
                path, f"A filter holds at most {limits.segment_predicates_max} predicates."
            )
        return _predicate(value, path)
    if len(value) != 1 or next(iter(value)) not in ("all", "any"):
        raise _Refusal(path, 'A group is {"all": [...]} or {"any": [...]}; a predicate has "fact".')
    if depth > limits.segment_depth_max:
        raise _Refusal(path, f"Groups nest at most {limits.segment_depth_max} deep.")
    combinator: Combinator = "all" if "all" in value else "any"
    parts = value[combinator]
    where = f"{path}.{combinator}"
    if not isinstance(parts, list) or not parts:
        raise _Refusal(where, "A group is a non-empty list of parts.")
    nodes = tuple(
        _node(part, f"{where}[{at}]", depth + 1, counter) for at, part in enumerate(parts)
    )
    return Group(combinator=combinator, parts=nodes)


# Each fact's fields: name → (kind, required). Kinds are read by ``_field``.
_fields: dict[str, dict[str, tuple[str, bool]]] = {
    "available": {"min": ("points", False), "max": ("points", False)},
    "pending": {"min": ("points", False), "max": ("points", False)},
    "expiring_points": {
        "within_days": ("days", True),
        "min": ("positive_points", True),
        "max": ("points", False),
    },
    "tier": {"name": ("name", True)},
    "days_since_last_purchase": {"min": ("days_or_zero", False), "max": ("days_or_zero", False)},
    "purchase_count": {
        "within_days": ("days", True),
        "min": ("count", False),
        "max": ("count", False),
    },
    "purchase_money": {
        "within_days": ("days", True),
        "min": ("money", False),
        "max": ("money", False),
    },
    "last_purchase_store": {"stores": ("stores", True)},
    "birthday_month": {"months": ("months", True)},
    "attribute": {"key": ("name", True), "value": ("scalar", True)},
    "consent": {"channel": ("channel", True), "granted": ("bool", True)},
    "enrolled": {"from": ("time", False), "to": ("time", False)},
    "blocked": {"value": ("bool", True)},
}
_ranged = ("min", "max")
_bounds = {
    "points": (0, limits.points_per_account_max),
    "positive_points": (1, limits.points_per_account_max),
    "days": (1, limits.segment_window_days_max),
    "days_or_zero": (0, limits.segment_window_days_max),
    "count": (0, limits.segment_purchase_count_max),
    "money": (0, limits.segment_money_minor_max),
}


def _predicate(value: dict[str, Any], path: str) -> Predicate:
    fact = value["fact"]
    if not isinstance(fact, str) or fact not in _fields:
        raise _Refusal(f"{path}.fact", f"fact is one of {sorted(_fields)}.")
    fields = _fields[fact]
    for name in value:
        if name != "fact" and name not in fields:
            raise _Refusal(
                f"{path}.{name}", f"{fact} has no field {name!r}; it has {list(fields)}."
            )
    read = {
        name: _field(value.get(name), kind, f"{path}.{name}", required)
        for name, (kind, required) in fields.items()
    }
    if "min" in fields and "max" in fields:
        low, high = read["min"], read["max"]
        if low is None and high is None:
            raise _Refusal(f"{path}.min", "Give min, max or both.")
        if low is not None and high is not None and low > high:
            raise _Refusal(f"{path}.min", "min may not exceed max.")
    return _built(fact, read, path)


def _built(fact: str, read: dict[str, Any], path: str) -> Predicate:
    if fact in ("available", "pending"):
        return PointsRange(fact=fact, min=read["min"], max=read["max"])  # type: ignore[arg-type]
    if fact == "expiring_points":
        return Expiring(within_days=read["within_days"], min=read["min"], max=read["max"])
    if fact in ("purchase_count", "purchase_money"):
        return Purchases(
            fact=fact,  # type: ignore[arg-type]
            within_days=read["within_days"],
            min=read["min"],
            max=read["max"],
        )
    if fact == "days_since_last_purchase":
        return DaysSinceLastPurchase(min=read["min"], max=read["max"])
    if fact == "enrolled":
        start, end = read["from"], read["to"]
        if start is None and end is None:
            raise _Refusal(f"{path}.from", "Give from, to or both.")
        if start is not None and end is not None and start >= end:
            raise _Refusal(f"{path}.from", "from must be before to.")
        return Enrolled(start=start, end=end)
    simple: dict[str, Any] = {
        "tier": lambda: Tier(name=read["name"]),
        "last_purchase_store": lambda: LastPurchaseStore(stores=read["stores"]),
        "birthday_month": lambda: BirthdayMonth(months=read["months"]),
        "attribute": lambda: Attribute(key=read["key"], value=read["value"]),
        "consent": lambda: Consent(channel=read["channel"], granted=read["granted"]),
        "blocked": lambda: Blocked(value=read["value"]),
    }
    built: Predicate = simple[fact]()
    return built


def _field(value: Any, kind: str, path: str, required: bool) -> Any:
    if value is None:
        if required:
            raise _Refusal(path, "This field is required.")
        return None
    if kind in _bounds:
        low, high = _bounds[kind]
        if not _integer(value) or not low <= value <= high:
            raise _Refusal(path, f"An integer from {low} to {high}.")
        return value
    reader = _readers[kind]
    return reader(value, path)


def _integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _name(value: Any, path: str) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= limits.segment_name_length_max:
        raise _Refusal(path, f"A text of 1 to {limits.segment_name_length_max} characters.")
    if "\x00" in value:
        raise _Refusal(path, "A text without NUL characters.")
    return value


def _stores(value: Any, path: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not 1 <= len(value) <= limits.segment_list_items_max:
        raise _Refusal(path, f"A list of 1 to {limits.segment_list_items_max} store ids.")
    return tuple(_name(store, f"{path}[{at}]") for at, store in enumerate(value))


def _months(value: Any, path: str) -> tuple[int, ...]:
    if not isinstance(value, list) or not 1 <= len(value) <= 12:
        raise _Refusal(path, "A list of 1 to 12 months.")
    for at, month in enumerate(value):
        if not _integer(month) or not 1 <= month <= 12:
            raise _Refusal(f"{path}[{at}]", "A month is an integer from 1 to 12.")
    return tuple(value)


def _scalar(value: Any, path: str) -> str | int | bool:
    if isinstance(value, str):
        return _name(value, path)
    if isinstance(value, bool) or (_integer(value) and abs(value) <= limits.money_minor_max):
        return value  # type: ignore[no-any-return]
    raise _Refusal(path, "A string, an integer or a boolean.")


def _channel(value: Any, path: str) -> str:
    if value not in channels:
        raise _Refusal(path, f"channel is one of {list(channels)}.")
    return value  # type: ignore[no-any-return]


def _bool(value: Any, path: str) -> bool:
    if not isinstance(value, bool):
        raise _Refusal(path, "true or false.")
    return value


def _time(value: Any, path: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None or "T" not in value.upper():
        raise _Refusal(path, "An RFC 3339 time with its zone.")
    if not limits.timestamp_year_min <= moment.year <= limits.timestamp_year_max:
        raise _Refusal(
            path, f"A year from {limits.timestamp_year_min} to {limits.timestamp_year_max}."
        )
    return moment


_readers: dict[str, Any] = {
    "name": _name,
    "stores": _stores,
    "months": _months,
    "scalar": _scalar,
    "channel": _channel,
    "bool": _bool,
    "time": _time,
}


def predicates(node: Node) -> list[Predicate]:
    """Every predicate of the tree, depth first."""
    if isinstance(node, Group):
        return [found for part in node.parts for found in predicates(part)]
    return [node]


def tier_names(node: Node) -> list[tuple[str, str]]:
    """The tiers the filter names, with the JSON path of each (for a check against rules)."""
    return [
        (f"{path}.name", predicate.name)
        for path, predicate in _paths(node, "filter")
        if isinstance(predicate, Tier)
    ]


def _paths(node: Node, path: str) -> list[tuple[str, Predicate]]:
    if isinstance(node, Group):
        where = f"{path}.{node.combinator}"
        return [
            found for at, part in enumerate(node.parts) for found in _paths(part, f"{where}[{at}]")
        ]
    return [(path, node)]


def expiring_window_days(node: Node) -> int:
    """The window a member's expiring points are shown for: the widest ``expiring_points``
    predicate's, else ``segment_expiring_days_default``."""
    windows = [p.within_days for p in predicates(node) if isinstance(p, Expiring)]
    return max(windows, default=limits.segment_expiring_days_default)


def to_json(node: Node) -> Any:
    """The tree as the JSON it was read from (what is stored and shown)."""
    if isinstance(node, Group):
        return {node.combinator: [to_json(part) for part in node.parts]}
    return _predicate_json(node)


def _predicate_json(predicate: Predicate) -> dict[str, Any]:
    if isinstance(predicate, PointsRange | Purchases):
        body = msgspec.structs.asdict(predicate)
    elif isinstance(predicate, Enrolled):
        body = {
            "fact": "enrolled",
            "from": None if predicate.start is None else predicate.start.isoformat(),
            "to": None if predicate.end is None else predicate.end.isoformat(),
        }
    else:
        body = {"fact": _fact_names[type(predicate)], **msgspec.to_builtins(predicate)}
    return {
        name: list(value) if isinstance(value, tuple) else value
        for name, value in body.items()
        if value is not None
    }


_fact_names: dict[type, str] = {
    Expiring: "expiring_points",
    Tier: "tier",
    DaysSinceLastPurchase: "days_since_last_purchase",
    LastPurchaseStore: "last_purchase_store",
    BirthdayMonth: "birthday_month",
    Attribute: "attribute",
    Consent: "consent",
    Blocked: "blocked",
}
