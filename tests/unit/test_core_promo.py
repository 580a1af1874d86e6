"""Promo codes' pure decisions: generated codes and their check character, which codes of a
receipt apply in which order, each refusal's reason, and what each effect gives per line."""

import typing
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import pytest

from processing.core import limits
from processing.core.certificates import pay_with_certificates
from processing.core.checkout import Calculation, calculate
from processing.core.model import Line
from processing.core.promo import (
    Campaign,
    Code,
    Effect,
    PromoRefusal,
    Stacking,
    Where,
    alphabet,
    apply_codes,
    apportion,
    check_character,
    check_matches,
    generated_code,
    normalized,
)
from processing.core.rules import Earning, Rules
from schemas.promo import PromoCodes

rub = 100
rules = Rules(point_value_minor=rub, earning=Earning(base_bp=500))
now = datetime(2026, 12, 5, 12, tzinfo=UTC)
customer = UUID(int=1)
at_till = Where(customer_id=customer, channel="pos", store_id="store-1", now=now)
lines = (
    Line(line_id="oil", sku="oil-5w30", category="oil", quantity=1, unit_price_minor=1000 * rub),
    Line(line_id="tyre", sku="tyre-r16", category="tyres", quantity=2, unit_price_minor=1500 * rub),
)
priced = calculate(rules, None, lines, 0, 0)  # earns 50 and 150


def code(text: str, **fields: typing.Any) -> Code:
    own = {
        key: fields.pop(key)
        for key in ("customer_id", "uses_max", "used", "customer_used")
        if key in fields
    }
    campaign = Campaign(
        id=fields.pop("campaign_id", uuid4()),
        starts_at=fields.pop("starts_at", now - timedelta(days=1)),
        effect=fields.pop("effect", Effect.bonus_points),
        value=fields.pop("value", 100),
        **fields,
    )
    return Code(id=uuid4(), code=text, campaign=campaign, **own)


def applied(
    *codes: Code, typed: tuple[str, ...] | None = None, where: Where = at_till
) -> typing.Any:
    found = {c.code: c for c in codes}
    return apply_codes(typed or tuple(found), found, where, lines, priced, rules.point_value_minor)


def test_generated_codes_use_no_look_alike_characters_and_carry_their_check() -> None:
    drawn = {generated_code() for _ in range(500)}
    assert len(drawn) == 500
    assert all(len(c) == limits.promo_code_random_characters + 1 for c in drawn)
    assert not set("01ILO") & set("".join(drawn))
    assert set("".join(drawn)) <= set(alphabet)
    assert all(check_matches(c) for c in drawn)


def test_the_check_character_catches_every_single_typo_and_swap_of_neighbours() -> None:
    text = generated_code()
    for index in range(len(text)):
        for other in alphabet:
            if other != text[index]:
                typo = text[:index] + other + text[index + 1 :]
                assert not check_matches(typo), typo
    for index in range(len(text) - 1):
        if text[index] != text[index + 1]:
            swapped = text[:index] + text[index + 1] + text[index] + text[index + 2 :]
            assert not check_matches(swapped), swapped
    assert check_character(text[:-1]) == text[-1]


def test_a_code_is_matched_whatever_its_case_and_separators() -> None:
    assert normalized(" aut-umn_25 ") == "AUTUMN25"
    _, [result] = applied(code("AUTUMN25"), typed=("autumn-25",))
    assert (result.applied, result.code) == (True, "autumn-25")


def test_apportioning_adds_up_exactly_and_ties_go_to_the_earlier() -> None:
    assert apportion(100, [1000, 3000]) == [25, 75]
    assert apportion(1, [1, 1]) == [1, 0]
    assert sum(apportion(97, [3, 7, 11, 0])) == 97


def test_bonus_points_spread_over_the_qualifying_lines_by_their_money() -> None:
    after, [result] = applied(code("TYRES", categories=frozenset({"tyres"})))
    assert [line.promo_points for line in after.lines] == [0, 100]
    assert after.earned_points == 50 + 150 + 100
    assert [(line.line_id, line.points) for line in result.lines] == [("tyre", 100)]


@pytest.mark.parametrize(
    ("effect", "value", "points", "discounts"),
    [
        (Effect.earn_multiplier_bp, 15_000, [25, 75], [0, 0]),
        (Effect.extra_bp, 250, [25, 75], [0, 0]),
        (Effect.discount_bp, 1000, [0, 0], [100 * rub, 300 * rub]),
    ],
)
def test_each_effect_per_line(
    effect: Effect, value: int, points: list[int], discounts: list[int]
) -> None:
    after, _ = applied(code("X", effect=effect, value=value))
    assert [line.promo_points for line in after.lines] == points
    assert [line.promo_discount_minor for line in after.lines] == discounts
    assert after.earned_points == 200 + sum(points)


def test_extra_points_are_earned_on_money_not_on_what_a_certificate_paid() -> None:
    """2,000 of the receipt's 4,000 rubles paid by certificate (spread by money: 500 on the oil,
    1,500 on the tyres): the extra 2.5 % is on the other 2,000, line by line."""
    found = code("X", effect=Effect.extra_bp, value=250)
    paid = pay_with_certificates(priced, 2000 * rub, rules.point_value_minor)
    assert isinstance(paid, Calculation)
    after, _ = apply_codes(("X",), {"X": found}, at_till, lines, paid, rules.point_value_minor)
    by_line = {line.line_id: line for line in after.lines}
    for line in paid.lines:
        earning = line.money_minor - line.certificate_minor
        assert by_line[line.line_id].promo_points == earning * 250 // (10_000 * rub)
    assert sum(line.certificate_minor for line in paid.lines) == 2000 * rub
    assert [line.promo_points for line in after.lines] == [12, 37]  # not 25 and 75


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"customer_id": UUID(int=2)}, PromoRefusal.other_customer),
        ({"starts_at": now + timedelta(seconds=1)}, PromoRefusal.not_yet_valid),
        ({"ends_at": now}, PromoRefusal.expired),  # the end is exclusive
        ({"channels": frozenset({"shop"})}, PromoRefusal.wrong_channel),
        ({"stores": frozenset({"store-2"})}, PromoRefusal.wrong_store),
        ({"uses_max": 3, "used": 3}, PromoRefusal.cap_reached),
        ({"uses_per_customer_max": 1, "customer_used": 1}, PromoRefusal.customer_cap_reached),
        ({"min_amount_minor": 4000 * rub + 1}, PromoRefusal.conditions_not_met),
        ({"skus": frozenset({"wipers"})}, PromoRefusal.conditions_not_met),
    ],
)
def test_each_refusal_leaves_the_receipt_as_priced(
    fields: dict[str, typing.Any], reason: PromoRefusal
) -> None:
    found = code("X", **fields)
    after, [result] = applied(found)
    assert (result.applied, result.reason) == (False, reason)
    assert after == priced


def test_the_campaigns_own_cap_counts_every_code_of_it() -> None:
    capped = code("X", uses_max=10, used=10)
    _, [result] = applied(capped)
    assert result.reason is PromoRefusal.cap_reached


def test_unknown_and_mistyped_codes_are_told_apart() -> None:
    text = generated_code()
    mistyped = text[:-1] + next(c for c in alphabet if c != text[-1])
    _, results = applied(typed=("NOSUCH", mistyped, text))
    assert [r.reason for r in results] == [
        PromoRefusal.unknown,
        PromoRefusal.mistyped,
        PromoRefusal.unknown,
    ]


def test_stacking_in_the_order_typed() -> None:
    first, alone, other = (
        code("FIRST"),
        code("ALONE", stacking=Stacking.exclusive),
        code("OTHER"),
    )
    _, results = applied(first, alone, other)
    assert [(r.applied, r.reason) for r in results] == [
        (True, None),
        (False, PromoRefusal.not_stackable),
        (True, None),
    ]
    _, results = applied(alone, first, typed=("ALONE", "FIRST"))
    assert [(r.applied, r.reason) for r in results] == [
        (True, None),
        (False, PromoRefusal.not_stackable),
    ]


def test_one_code_of_a_campaign_per_receipt() -> None:
    campaign_id = uuid4()
    one, two = code("ONE", campaign_id=campaign_id), code("TWO", campaign_id=campaign_id)
    after, results = applied(one, two, typed=("ONE", "TWO", "one"))
    assert [r.reason for r in results] == [None, PromoRefusal.repeated, PromoRefusal.repeated]
    assert after.earned_points == 200 + 100


def test_a_receipt_takes_as_many_codes_as_the_limit_says() -> None:
    metas = typing.get_args(PromoCodes)[1:]
    assert [m.max_length for m in metas if m.max_length] == [limits.promo_codes_per_receipt_max]


def test_a_batch_is_as_large_as_the_limit_says() -> None:
    from schemas.promo import PromoCodesCreate

    count = typing.get_type_hints(PromoCodesCreate, include_extras=True)["count"]
    [annotated, _] = typing.get_args(count)
    [meta] = typing.get_args(annotated)[1:]
    assert meta.le == limits.promo_batch_codes_max


def test_the_published_reasons_are_the_cores() -> None:
    from schemas.promo import RefusalReason

    assert list(typing.get_args(RefusalReason)) == [reason.value for reason in PromoRefusal]
