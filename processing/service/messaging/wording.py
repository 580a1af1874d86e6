"""A trigger's templates: rendered by Jinja2's sandbox, checked when stored, and the values a
message of one event is rendered with.

The sandbox keeps a template from reaching into Python objects (attribute and method access to
anything unsafe is refused), ``StrictUndefined`` makes a misspelt variable an error at PUT rather
than an empty gap in a customer's message, and no autoescaping applies: SMS and our e-mails are
plain text. The variables are scalars, so a template needs no loop or macro: both are refused,
with ``*`` and ``**`` bounded, so that no stored template can make the worker spin or fill its
memory (``{% for %}`` nested, ``{{ "x" * 10**9 }}``).
"""

from datetime import datetime, tzinfo
from typing import Any

from jinja2 import StrictUndefined, TemplateError, nodes
from jinja2.exceptions import SecurityError
from jinja2.runtime import Context
from jinja2.sandbox import SandboxedEnvironment

from processing.core import limits
from processing.core.messages import sms_parts
from processing.core.triggers import VARIABLES, Channel
from processing.service.records import TriggerTemplate

# What a multiplication may make (characters or items) and how large a power may be.
product_items_max = 10_000
power_exponent_max = 64
# Statements a template of scalar variables never needs, and which could make it run long.
refused_statements = (
    nodes.For,
    nodes.Macro,
    nodes.CallBlock,
    nodes.Extends,
    nodes.Include,
    nodes.Import,
    nodes.FromImport,
)


class BoundedEnvironment(SandboxedEnvironment):
    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        if operator == "**" and isinstance(right, int) and abs(right) > power_exponent_max:
            raise SecurityError("the exponent is too large")
        if operator == "*":
            for sized, count in ((left, right), (right, left)):
                sequence = isinstance(sized, str | list | tuple) and isinstance(count, int)
                if sequence and len(sized) * count > product_items_max:
                    raise SecurityError("the product is too long")
        return super().call_binop(context, operator, left, right)


environment = BoundedEnvironment(undefined=StrictUndefined, autoescape=False)

# What a template is checked with when stored, and previewed with when no customer is named.
SAMPLE: dict[str, Any] = {
    "name": "Анна",
    "balance": 1250,
    "points": 600,
    "expiry_date": "31.12.2026",
    "tier": "Золотой",
    "store": "Магазин на Ленина",
    "program": "Бонусы",
    "unsubscribe_url": "https://example.com/v1/unsubscribe/sample",
}
assert set(SAMPLE) == VARIABLES  # noqa: S101 - checked at import, a fixed table


class RenderFailed(Exception):
    """A template did not render: its text is the reason, fit to show to the operator."""


def statement_refusal(text: str) -> str | None:
    """Why a template may not be stored for what it contains (a loop, a macro), or None."""
    try:
        tree = environment.parse(text)
    except TemplateError as error:
        return str(error.message or type(error).__name__)
    for node in tree.find_all(refused_statements):
        return f"{type(node).__name__.lower()} is not allowed in a message template"
    return None


def render_text(text: str, values: dict[str, Any]) -> str:
    try:
        return environment.from_string(text).render(values)
    except TemplateError as error:
        raise RenderFailed(str(error.message or type(error).__name__)) from None
    except Exception as error:  # a template's own arithmetic (1/0, ...) is its author's fault
        raise RenderFailed(type(error).__name__) from None


def template_refusal(template: TriggerTemplate, program: str) -> tuple[str, str] | None:
    """(field, reason) when a template does not render with the sample values or would not fit
    the SMS parts allowed; None when it is fit to store."""
    values = SAMPLE | {"program": program}
    if template.channel == Channel.email and not template.subject:
        return "subject", "an e-mail needs a subject."
    if template.channel == Channel.sms and template.subject is not None:
        return "subject", "an SMS has no subject."
    for field, text in (("subject", template.subject), ("body", template.body)):
        if text is None:
            continue
        refused = statement_refusal(text)
        if refused is not None:
            return field, f"does not render: {refused}."
        try:
            rendered = render_text(text, values)
        except RenderFailed as error:
            return field, f"does not render: {error}."
        if field == "subject" and "\n" in rendered:
            return field, "a subject is one line."
        if template.channel == Channel.sms and sms_parts(rendered) > limits.sms_parts_max:
            return field, (
                f"rendered, it takes {sms_parts(rendered)} SMS parts; at most "
                f"{limits.sms_parts_max} are allowed."
            )
    return None


def date_of(moment: datetime | None, zone: tzinfo) -> str:
    """A date as a Russian customer reads it: 31.12.2026, in the program's zone."""
    return "" if moment is None else moment.astimezone(zone).strftime("%d.%m.%Y")


def points_of(event_type: str, payload: dict[str, Any]) -> int:
    """The points an event is about: earned for an accrual (a purchase's net change plus what it
    redeemed), spent for a redemption."""
    points = int(payload.get("points") or 0)
    redeemed = int(payload.get("redeemed_points") or 0)
    if event_type == "points.accrued":
        return points + redeemed if payload.get("type") == "purchase" else points
    if event_type == "points.redeemed":
        return redeemed or -points
    return abs(points)  # any other event: the points it moved, whichever way


# The program's language: a customer without a locale is written to in it, and so is one whose
# locale a channel has no template in.
default_locale = "ru"


def pick_templates(templates: list[TriggerTemplate], locale: str | None) -> list[TriggerTemplate]:
    """One template per channel, in the order the channels first appear: the one in ``locale``
    (the customer's), else the one in ``default_locale``, else the channel's first."""
    preference = [locale or default_locale, default_locale]

    def rank(template: TriggerTemplate) -> int:
        return preference.index(template.locale) if template.locale in preference else 2

    chosen: dict[str, TriggerTemplate] = {}
    for template in templates:
        held = chosen.get(template.channel)
        if held is None or rank(template) < rank(held):
            chosen[template.channel] = template
    return list(chosen.values())
