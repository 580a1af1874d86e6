"""Phone numbers in E.164, read with the program's country as the default region."""

import phonenumbers


def normalize_phone(raw: str, country: str) -> str | None:
    """``8 (912) 345-67-89`` in an RU program is ``+79123456789``; None when it is no number."""
    try:
        number = phonenumbers.parse(raw, country)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def masked_phone(phone: str) -> str:
    """A phone as answers and logs may show it: ``+79161234567`` is ``+7916*****67``."""
    return phone[:5] + "*" * max(len(phone) - 7, 0) + phone[-2:]
