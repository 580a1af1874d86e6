"""Schemathesis hooks for the live contract run (tests/system/test_published_contract_live.py).

Each is an allowance with its reason: a rule the server keeps on purpose that JSON Schema cannot
state, so the generator's schema-valid requests are steered around it rather than the check
being weakened. Only positive cases are touched (negative ones are sent as drawn), except that
every valid Idempotency-Key is made unique.
"""

import itertools
import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

import schemathesis

from processing.core import limits

_idempotency_key = re.compile(r"^[!-~]{1,255}$")
_keys = itertools.count()
valid_phone = "+79120000001"
year_min, year_max = limits.timestamp_year_min, limits.timestamp_year_max
line_total_minor_max, receipt_total_minor_max = (
    limits.line_total_minor_max,
    limits.receipt_total_minor_max,
)


@schemathesis.hook
def before_call(context: Any, case: Any, **kwargs: Any) -> None:
    unique_idempotency_keys(case)
    if case.meta is None or str(case.meta.generation.mode) != "positive":
        return
    case.body = without_nul(
        public_urls(real_times(real_phones(fitting_discounts(integral(case.body)))))
    )
    if case.operation.path == "/v1/api-keys":
        case.body = key_expiry(case.body)
    if isinstance(case.query, dict) or case.operation.path == "/v1/customers":
        case.query = case.query or {}
        case.query = without_nul(one_identifier(case, real_phones(case.query)))
        if "/reports/" in case.operation.path:
            case.query = report_window(case.query)


def unique_idempotency_keys(case: Any) -> None:
    """The generator draws few distinct keys, and a key reused with another body is answered
    422 by design (docs/DESIGN.md §6): a valid key is made unique per call, so each request is
    judged on its own. An invalid key is sent as drawn."""
    headers = case.headers or {}
    key = headers.get("Idempotency-Key")
    if isinstance(key, str) and _idempotency_key.match(key):
        headers["Idempotency-Key"] = f"contract-{next(_keys)}"


def integral(value: Any) -> Any:
    """JSON Schema counts 10.0 as an integer; our bodies are decoded strictly and refuse it,
    because a till sending points or money as floats has a bug worth hearing about (decision
    0008). Integral floats drawn for integer fields are sent as integers."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**63:
        return int(value)
    if isinstance(value, list):
        return [integral(item) for item in value]
    if isinstance(value, dict):
        return {name: integral(item) for name, item in value.items()}
    return value


def without_nul(value: Any) -> Any:
    """A NUL character in any text is refused naming the field (api/storable.py: Postgres
    cannot store it). JSON Schema could say so only with a pattern on every string and a
    recursive schema for free-form values, so drawn text is sent without NULs."""
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, list):
        return [without_nul(item) for item in value]
    if isinstance(value, dict):
        return {without_nul(name): without_nul(item) for name, item in value.items()}
    return value


def fitting_discounts(body: Any) -> Any:
    """A receipt line's discount may not exceed its quantity × unit price, that product and the
    receipt's total are bounded (limits.line_total_minor_max, receipt_total_minor_max), and line
    ids are unique within a receipt: rules across fields, refused naming the field, that JSON
    Schema cannot state."""
    lines = body.get("lines") if isinstance(body, dict) else None
    seen: set[str] = set()
    total = 0
    for number, line in enumerate(lines if isinstance(lines, list) else []):
        if not isinstance(line, dict):
            continue
        quantity, price = line.get("quantity"), line.get("unit_price_minor")
        if isinstance(quantity, int) and quantity > 0 and isinstance(price, int):
            room = min(line_total_minor_max, receipt_total_minor_max - total)
            line["unit_price_minor"] = price = min(price, max(room, 0) // quantity)
            total += quantity * price
            discount = line.get("discount_minor")
            if isinstance(discount, int):
                line["discount_minor"] = min(discount, quantity * price)
        if isinstance(line.get("line_id"), str):
            if line["line_id"] in seen:
                line["line_id"] = f"{number}"[:64]
            seen.add(line["line_id"])
    return body


def real_phones(values: Any) -> Any:
    """A phone must be a number libphonenumber accepts for the program's country, which no
    pattern states: a drawn phone is replaced with a valid one."""
    if not isinstance(values, dict):
        return values
    if isinstance(values.get("phone"), str):
        values["phone"] = valid_phone
    identifier = values.get("identifier")
    if isinstance(identifier, dict) and identifier.get("type") == "phone":
        identifier["value"] = valid_phone
    return values


def real_times(body: Any) -> Any:
    """In OpenAPI 3.1 ``format`` is an annotation, so the coverage phase sends any string for a
    ``date-time`` or ``date`` (``""``, say); the server parses them as RFC 3339 with a zone, in
    the years a client may name (limits.timestamp_year_*), and refuses others naming the field.
    A drawn time that does not pass is replaced with one that does."""
    if not isinstance(body, dict):
        return body
    for name, parse, valid in (
        ("activates_at", datetime.fromisoformat, "2030-01-01T00:00:00+00:00"),
        ("expires_at", datetime.fromisoformat, "2031-01-01T00:00:00+00:00"),
        ("birthday", date.fromisoformat, "1990-05-17"),
    ):
        value = body.get(name)
        if isinstance(value, str):
            try:
                parsed = parse(value)
                zoned = not isinstance(parsed, datetime) or parsed.tzinfo is not None
                zoned = zoned and year_min <= parsed.year <= year_max
            except ValueError:
                zoned = False
            if not zoned:
                body[name] = valid
    return body


def report_window(query: dict[str, Any]) -> dict[str, Any]:
    """A report's days lie in the years a client may name, ``to`` is not before ``from`` and
    the window spans at most limits.report_days_max days: rules across parameters, which no
    schema states. A drawn window that breaks them is replaced with January 2026."""
    days: dict[str, date] = {}
    for name in ("from", "to", "on"):
        value = query.get(name)
        if isinstance(value, str):
            try:
                days[name] = date.fromisoformat(value)
            except ValueError:
                continue
            if not year_min <= days[name].year <= year_max:
                query[name] = "2026-01-15"
    if "from" in days and "to" in days:
        first, last = date.fromisoformat(query["from"]), date.fromisoformat(query["to"])
        if not 0 <= (last - first).days < limits.report_days_max:
            query["from"], query["to"] = "2026-01-01", "2026-01-31"
    return query


def one_identifier(context: Any, query: dict[str, Any]) -> dict[str, Any]:
    """A customer is looked up by exactly one of phone or card, refused naming ``phone``
    otherwise: a rule across two parameters."""
    if "phone" in query and "card" in query:
        del query["card"]
    if "phone" not in query and "card" not in query and context.operation.path == "/v1/customers":
        query["phone"] = valid_phone
    return query


def public_urls(body: Any) -> Any:
    """A webhook URL must be https to a public host (no loopback, private or metadata address,
    no bare number for a host): the outbound policy of issue 16, which no pattern states. A
    drawn URL is replaced with an allowed one."""
    if isinstance(body, dict) and isinstance(body.get("url"), str):
        body["url"] = "https://hooks.example.com/bonus"
    return body


def key_expiry(body: Any) -> Any:
    """A key's ``expires_at`` must lie ahead of the server's clock, at most
    limits.api_key_days_max away: a rule against the clock, which no schema states. A
    drawn expiry is replaced with one a month ahead."""
    if isinstance(body, dict) and isinstance(body.get("expires_at"), str):
        body["expires_at"] = (datetime.now(UTC) + timedelta(days=30)).isoformat()
    return body
