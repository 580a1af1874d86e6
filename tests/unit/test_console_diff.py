"""The console's diff of two rules versions: added, removed and changed fields by path."""

import msgspec

from api.console.diff import Difference, differences
from processing.core.rules import Expiry, ExpiryMode, Rules, Tier


def test_equal_rules_have_no_differences() -> None:
    rules = msgspec.to_builtins(Rules())
    assert differences(rules, rules) == []


def test_a_changed_threshold_is_named_by_its_path() -> None:
    tiers = (Tier(name="silver", threshold_minor=1000, earn_bp=100),)
    before = Rules(tiers=(*tiers, Tier(name="gold", threshold_minor=5000, earn_bp=300)))
    after = Rules(tiers=(*tiers, Tier(name="gold", threshold_minor=7000, earn_bp=300)))
    found = differences(msgspec.to_builtins(before), msgspec.to_builtins(after))
    assert found == [
        Difference(path="tiers[1].threshold_minor", kind="changed", before=5000, after=7000)
    ]


def test_added_and_removed_keys_and_items() -> None:
    before = {"earning": {"category_bp": {"milk": 100, "old": 5}}, "tiers": [{"name": "a"}]}
    after = {
        "earning": {"category_bp": {"milk": 100, "new cat": 7}},
        "tiers": [],
        "expiry": {"mode": "days"},
    }
    assert differences(before, after) == [
        Difference(path='earning.category_bp["new cat"]', kind="added", after=7),
        Difference(path="earning.category_bp.old", kind="removed", before=5),
        Difference(path="expiry", kind="added", after={"mode": "days"}),
        Difference(path="tiers[0]", kind="removed", before={"name": "a"}),
    ]


def test_a_value_of_another_kind_is_one_change() -> None:
    before = msgspec.to_builtins(Rules(expiry=Expiry(mode=ExpiryMode.days, days=30)))
    after = msgspec.to_builtins(Rules(expiry=Expiry(mode=ExpiryMode.never)))
    assert differences(before, after) == [
        Difference(path="expiry.days", kind="changed", before=30, after=None),
        Difference(path="expiry.mode", kind="changed", before="days", after="never"),
    ]
    assert differences(1, True) == [Difference(path="$", kind="changed", before=1, after=True)]


def test_rates_are_shown_as_percentages() -> None:
    from api.console.rules import percent

    assert [percent(bp) for bp in (0, 1, 505, 550, 10_000)] == [
        "0 %",
        "0.01 %",
        "5.05 %",
        "5.5 %",
        "100 %",
    ]
