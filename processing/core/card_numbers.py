"""Card numbers the center makes itself: thirteen digits in the EAN-13 shape, starting with
``29`` (a range GS1 leaves to in-store use, so no product barcode is ever one of ours) and ending
with the EAN check digit, so a scanner or a person typing it catches one wrong digit."""

import hashlib
from typing import Final

prefix: Final = "29"
body_digits: Final = 10


def check_digit(digits: str) -> str:
    """The EAN-13 check digit of twelve digits: weights 1, 3, 1, 3… from the left."""
    total = sum(int(digit) * (3 if index % 2 else 1) for index, digit in enumerate(digits))
    return str((10 - total % 10) % 10)


def card_number_from(seed: bytes) -> str:
    """A number drawn from ``seed`` (the same seed, the same number: a form sent again asks
    for the same card)."""
    value = int.from_bytes(hashlib.sha256(seed).digest()[:8], "big") % 10**body_digits
    twelve = f"{prefix}{value:0{body_digits}d}"
    return twelve + check_digit(twelve)


def is_ours(number: str) -> bool:
    return (
        len(number) == 13
        and number.isdigit()
        and number.startswith(prefix)
        and check_digit(number[:12]) == number[12]
    )
