"""A segment's filter is read into a typed tree or refused at the JSON path to blame, within
the named depth and predicate bounds, and written back as the JSON it was read from."""

from typing import Any

import pytest

from processing.core import limits
from processing.core.model import Rejected
from processing.core.segments import (
    Expiring,
    Group,
    expiring_window_days,
    parse_filter,
    predicates,
    to_json,
)

expiring = {"fact": "expiring_points", "within_days": 30, "min": 500}
every_fact: list[dict[str, Any]] = [
    {"fact": "available", "min": 1, "max": 10},
    {"fact": "pending", "max": 0},
    expiring | {"max": 900},
    {"fact": "tier", "name": "gold"},
    {"fact": "days_since_last_purchase", "min": 0, "max": 30},
    {"fact": "purchase_count", "within_days": 90, "min": 2},
    {"fact": "purchase_money", "within_days": 90, "max": 1000},
    {"fact": "last_purchase_store", "stores": ["s-1", "s-2"]},
    {"fact": "birthday_month", "months": [1, 12]},
    {"fact": "attribute", "key": "city", "value": "Kazan"},
    {"fact": "consent", "channel": "email", "granted": False},
    {"fact": "enrolled", "from": "2026-01-01T00:00:00+00:00", "to": "2026-02-01T00:00:00+03:00"},
    {"fact": "blocked", "value": True},
]


def nested(depth: int) -> dict[str, Any]:
    node: dict[str, Any] = {"all": [expiring]}
    for _ in range(depth - 1):
        node = {"any": [node]}
    return node


def test_every_fact_reads_and_writes_back_as_given() -> None:
    source = {"all": [{"any": every_fact}]}
    parsed = parse_filter(source)
    assert isinstance(parsed, Group)
    assert len(predicates(parsed)) == len(every_fact)
    assert to_json(parsed) == source
    assert parse_filter(to_json(parsed)) == parsed


def test_the_bounds_are_named_limits() -> None:
    assert isinstance(parse_filter(nested(limits.segment_depth_max)), Group)
    too_deep = parse_filter(nested(limits.segment_depth_max + 1))
    assert isinstance(too_deep, Rejected)
    assert too_deep.field == "filter" + ".any[0]" * limits.segment_depth_max
    most = parse_filter({"all": [expiring] * limits.segment_predicates_max})
    assert isinstance(most, Group)
    over = parse_filter({"all": [expiring] * (limits.segment_predicates_max + 1)})
    assert isinstance(over, Rejected)
    assert over.field == f"filter.all[{limits.segment_predicates_max}]"


@pytest.mark.parametrize(
    ("source", "field"),
    [
        ([], "filter"),
        ({"all": [expiring], "any": [expiring]}, "filter"),
        ({"all": "x"}, "filter.all"),
        (
            {"all": [expiring | {"within_days": limits.segment_window_days_max + 1}]},
            "filter.all[0].within_days",
        ),
        ({"all": [expiring | {"min": True}]}, "filter.all[0].min"),
        ({"all": [expiring | {"min": 10, "max": 9}]}, "filter.all[0].min"),
        ({"all": [{"fact": "available"}]}, "filter.all[0].min"),
        ({"all": [{"fact": "pending", "min": -1}]}, "filter.all[0].min"),
        ({"all": [{"fact": "tier", "name": ""}]}, "filter.all[0].name"),
        ({"all": [{"fact": "last_purchase_store", "stores": []}]}, "filter.all[0].stores"),
        ({"all": [{"fact": "attribute", "key": "k", "value": [1]}]}, "filter.all[0].value"),
        ({"all": [{"fact": "attribute", "key": "k\x00", "value": 1}]}, "filter.all[0].key"),
        ({"all": [{"fact": "blocked", "value": "yes"}]}, "filter.all[0].value"),
        (
            {
                "all": [
                    {
                        "fact": "enrolled",
                        "from": "2026-02-01T00:00:00Z",
                        "to": "2026-01-01T00:00:00Z",
                    }
                ]
            },
            "filter.all[0].from",
        ),
        ({"all": [{"fact": "enrolled", "to": "3000-01-01T00:00:00Z"}]}, "filter.all[0].to"),
    ],
)
def test_each_wrong_input_is_refused_at_its_path(source: Any, field: str) -> None:
    refused = parse_filter(source)
    assert isinstance(refused, Rejected)
    assert (refused.rejection.value, refused.field) == ("validation_error", field)


def test_a_members_window_is_the_widest_expiring_one() -> None:
    two = parse_filter({"any": [expiring, expiring | {"within_days": 60}]})
    assert isinstance(two, Group)
    assert expiring_window_days(two) == 60
    none = parse_filter({"all": [{"fact": "blocked", "value": False}]})
    assert isinstance(none, Group)
    assert expiring_window_days(none) == limits.segment_expiring_days_default
    assert [type(p) for p in predicates(two)] == [Expiring, Expiring]
