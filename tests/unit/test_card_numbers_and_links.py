"""Card numbers the center makes (EAN-13 shape in the in-store range, check digit right, the
same seed the same number) and card links (signed for one customer, expiring, refused when
touched, made with another key, or an unsubscribe token's MAC)."""

import base64
from datetime import UTC, datetime, timedelta
from uuid import uuid4

from processing.adapters.sealing import Keyring, parse_keys
from processing.core.card_numbers import card_number_from, check_digit, is_ours
from processing.core.triggers import Channel
from processing.service.messaging.card_links import card_link_token, read_card_link
from processing.service.messaging.links import unsubscribe_token

now = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)


def keyring(*names: str) -> Keyring:
    pairs = ",".join(
        f"{name}:{base64.b64encode(bytes([index]) * 32).decode()}"
        for index, name in enumerate(names, start=1)
    )
    return Keyring(parse_keys(pairs))


def test_the_check_digit_is_the_ean_13_one() -> None:
    assert check_digit("400638133393") == "1"  # 4006381333931, a published EAN-13
    assert check_digit("590123412345") == "7"  # 5901234123457


def test_numbers_are_thirteen_digits_in_the_in_store_range_and_one_per_seed() -> None:
    seeds = [uuid4().bytes for _ in range(500)]
    numbers = [card_number_from(seed) for seed in seeds]
    assert all(is_ours(number) and number.startswith("29") for number in numbers)
    assert card_number_from(seeds[0]) == numbers[0]
    assert len(set(numbers)) == len(numbers)


def test_one_wrong_digit_is_not_ours() -> None:
    number = card_number_from(b"seed")
    for index in range(2, 13):
        changed = number[:index] + str((int(number[index]) + 1) % 10) + number[index + 1 :]
        assert not is_ours(changed)


def test_a_link_opens_its_customers_card_until_it_expires() -> None:
    keys, customer = keyring("k1"), uuid4()
    token = card_link_token(keys, customer, now + timedelta(days=30))
    assert read_card_link(keys, token, now) == customer
    assert read_card_link(keys, token, now + timedelta(days=30)) is None


def test_a_touched_token_another_keys_or_an_unsubscribe_token_opens_nothing() -> None:
    keys, customer = keyring("k1"), uuid4()
    token = card_link_token(keys, customer, now + timedelta(days=1))
    other, expires, key_id, mac = token.split(".")
    assert read_card_link(keys, f"{uuid4().hex}.{expires}.{key_id}.{mac}", now) is None
    assert read_card_link(keys, f"{other}.{int(expires) + 60}.{key_id}.{mac}", now) is None
    assert read_card_link(keys, token[:-1] + ("A" if token[-1] != "A" else "B"), now) is None
    assert read_card_link(keyring("k2"), token, now) is None
    assert read_card_link(keys, unsubscribe_token(keys, customer, Channel.email), now) is None
    assert read_card_link(keys, "not.a.token", now) is None


def test_a_link_made_before_a_rotation_opens_while_its_key_is_in_the_ring() -> None:
    old, customer = keyring("k1"), uuid4()
    token = card_link_token(old, customer, now + timedelta(days=1))
    rotated = Keyring(
        parse_keys(
            f"k2:{base64.b64encode(bytes([9]) * 32).decode()},"
            f"k1:{base64.b64encode(bytes([1]) * 32).decode()}"
        )
    )
    assert read_card_link(rotated, token, now) == customer
