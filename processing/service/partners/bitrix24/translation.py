"""Bitrix24's events and REST API, translated: the form-encoded event body with PHP bracket keys,
deals and contacts as ``crm.deal.get`` / ``crm.contact.get`` show them (numbers as strings),
the ``batch`` that reads a deal with its contact in one request, and the error envelope.

An event carries only the deal's id (``data[FIELDS][ID]``) and the portal's
``auth[application_token]``; Bitrix24 never retries an event and never signs one, so the token is
compared and the deal is always read again. A deal is won when its stage's semantic is success
(``STAGE_SEMANTIC_ID`` = ``S``), or, where a portal does not send it, when its stage is ``WON``
or ``C{pipeline}:WON``.
"""

import re
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qsl

import msgspec

from processing.service.partners.translation import Unusable, minor_units

deal_events = frozenset({"ONCRMDEALADD", "ONCRMDEALUPDATE"})
# The custom fields the installer creates (Bitrix24 prefixes UF_CRM_ to every name).
default_fields = {
    "writeoff_field": "UF_CRM_LOYALTY_WRITEOFF",  # deal: points the manager wants to write off
    "applied_field": "UF_CRM_LOYALTY_APPLIED",  # deal: points written off so far
    "balance_field": "UF_CRM_LOYALTY_BALANCE",  # contact
    "tier_field": "UF_CRM_LOYALTY_TIER",  # contact
    "card_field": "UF_CRM_LOYALTY_CARD",  # contact
    # deal: the promoter's code, filled by the CRM form's hidden promo parameter (decision 0034)
    "promoter_field": "UF_CRM_LOYALTY_PROMOTER",
}
# What the installer creates, by entity: name (without UF_CRM_) → (type, label).
installed_fields = {
    "deal": {
        "LOYALTY_WRITEOFF": ("double", "Points to write off"),
        "LOYALTY_APPLIED": ("double", "Points written off"),
    },
    "contact": {
        "LOYALTY_BALANCE": ("double", "Bonus balance"),
        "LOYALTY_TIER": ("string", "Loyalty tier"),
        "LOYALTY_CARD": ("string", "Loyalty card"),
    },
}
rate_limited_errors = frozenset({"QUERY_LIMIT_EXCEEDED", "OPERATION_TIME_LIMIT", "OVERLOAD_LIMIT"})
_bracket = re.compile(r"\[([^\[\]]*)\]")
_form_keys_max = 200
points_max = 1_000_000_000


def parse_form(body: bytes) -> dict[str, Any]:
    """``a[b][c]=1&a[d]=2`` as ``{"a": {"b": {"c": "1"}, "d": "2"}}``, the way PHP reads a form
    body; a key that is both a value and a map, or too many keys, is refused."""
    pairs = parse_qsl(body.decode("utf-8", "strict"), keep_blank_values=True, strict_parsing=False)
    if len(pairs) > _form_keys_max:
        raise Unusable(f"more than {_form_keys_max} form fields")
    parsed: dict[str, Any] = {}
    for key, value in pairs:
        head, _, rest = key.partition("[")
        path = [head, *_bracket.findall("[" + rest)] if rest else [head]
        node = parsed
        for name in path[:-1]:
            child = node.setdefault(name, {})
            if not isinstance(child, dict):
                raise Unusable(f"form field {key!r} is both a value and a map")
            node = child
        if isinstance(node.get(path[-1]), dict):
            raise Unusable(f"form field {key!r} is both a value and a map")
        node[path[-1]] = value
    return parsed


class Phone(msgspec.Struct, kw_only=True, rename="upper"):
    value: str


class Contact(msgspec.Struct, kw_only=True):
    id: str = msgspec.field(name="ID")
    phones: list[Phone] = msgspec.field(name="PHONE", default_factory=list)


class Deal(msgspec.Struct, kw_only=True):
    """The fields of a deal we read; custom fields are looked up by their portal's codes."""

    id: str = msgspec.field(name="ID")
    stage_id: str = msgspec.field(name="STAGE_ID")
    stage_semantic: str | None = msgspec.field(name="STAGE_SEMANTIC_ID", default=None)
    currency: str = msgspec.field(name="CURRENCY_ID")
    opportunity: str = msgspec.field(name="OPPORTUNITY")
    contact_id: str | None = msgspec.field(name="CONTACT_ID", default=None)


class DealRead(msgspec.Struct, frozen=True, kw_only=True):
    deal: Deal
    fields: dict[str, Any]  # the deal as read, custom fields included
    contact: Contact | None


def read_batch(deal_id: str) -> dict[str, Any]:
    """One ``batch`` request: the deal, its contacts, and its primary contact (the first of
    ``crm.deal.contact.items.get``, which Bitrix24 lists primary first)."""
    return {
        "halt": 0,
        "cmd": {
            "deal": f"crm.deal.get?ID={deal_id}",
            "contacts": f"crm.deal.contact.items.get?ID={deal_id}",
            "contact": "crm.contact.get?ID=$result[contacts][0][CONTACT_ID]",
        },
    }


def deal_read_of(answer: Any) -> DealRead:
    """The deal and its contact from the ``batch`` answer; a missing deal is refused, a deal with
    no contact has none."""
    try:
        results = answer["result"]["result"]
        errors = answer["result"].get("result_error") or {}
    except (KeyError, TypeError) as error:
        raise Unusable(f"not a Bitrix24 batch answer: {error!r}") from error
    if "deal" not in results:
        detail = (errors.get("deal") or {}) if isinstance(errors, dict) else {}
        raise Unusable(f"the deal cannot be read: {detail.get('error_description', 'no result')}")
    try:
        fields = dict(results["deal"])
        deal = msgspec.convert(fields, Deal, strict=False)
        contact_fields = results.get("contact") if isinstance(results, dict) else None
        contact = (
            msgspec.convert(contact_fields, Contact, strict=False)
            if isinstance(contact_fields, dict)
            else None
        )
    except (msgspec.ValidationError, TypeError, ValueError) as error:
        raise Unusable(f"not a Bitrix24 deal: {error}") from error
    return DealRead(deal=deal, fields=fields, contact=contact)


def text_in(fields: dict[str, Any], code: str) -> str | None:
    """A deal's string field (a promoter's code), None when empty or not a string."""
    value = fields.get(code)
    return value.strip()[:64] or None if isinstance(value, str) else None


def is_won(deal: Deal) -> bool:
    if deal.stage_semantic is not None:
        return deal.stage_semantic == "S"
    return deal.stage_id == "WON" or bool(re.fullmatch(r"C\d+:WON", deal.stage_id))


def is_lost(deal: Deal) -> bool:
    if deal.stage_semantic is not None:
        return deal.stage_semantic == "F"
    return deal.stage_id.endswith("LOSE")


def is_open(deal: Deal) -> bool:
    if deal.stage_semantic is not None:
        return deal.stage_semantic == "P"
    return not (deal.stage_id.endswith("WON") or deal.stage_id.endswith("LOSE"))


def points_in(fields: dict[str, Any], code: str) -> int:
    """A points custom field (``double`` in Bitrix24: ``"150"``, ``"150.00"``, ``150``, or empty)
    as whole points; a fraction or a negative number is refused."""
    raw = fields.get(code)
    if raw in (None, "", False):
        return 0
    try:
        value = Decimal(str(raw))
    except InvalidOperation as error:
        raise Unusable(f"{code} = {raw!r} is not a number") from error
    if not value.is_finite() or value != value.to_integral_value() or not 0 <= value <= points_max:
        raise Unusable(f"{code} = {raw!r} is not a whole number of points")
    return int(value)


def amount_minor(deal: Deal) -> int:
    return minor_units(deal.opportunity, deal.currency)


def money(minor: int, currency: str) -> str:
    """Minor units back as the decimal string Bitrix24 keeps (``"9500.00"``)."""
    digits = 2 if minor_units("1", currency) == 100 else 0
    return f"{Decimal(minor).scaleb(-digits):.{digits}f}"


def date_time(moment: datetime) -> str:
    """A moment as Bitrix24 writes its dates (ISO 8601 to the second, with the zone's offset:
    ``2024-08-30T14:29:00+02:00``); a fraction of a second is not part of it."""
    return moment.isoformat(timespec="seconds")


def error_of(answer: Any) -> tuple[str, str] | None:
    """``(error, error_description)`` of an error answer (``error`` may be empty for legacy CRM
    methods), or None."""
    if isinstance(answer, dict) and "error" in answer and "result" not in answer:
        return str(answer.get("error") or ""), str(answer.get("error_description") or "")
    return None
