"""Message templates: the text a program sends its customers, in the customers' language.

A template is text with ``{variables}`` (``{{`` and ``}}`` for literal braces). Each kind of
message has its own variables and a built-in default per locale; Russian is the default locale,
because the programs this center serves talk to Russian customers. A template is checked once,
when it is stored, against the values it will really be rendered with (a code has a fixed number
of digits; a program's name never changes), so a message that is sent always fits the SMS size
it was checked for. Rendering is pure: values in, text out.
"""

from enum import StrEnum
from string import Formatter

import msgspec

from processing.core import limits
from processing.core.model import Rejected, reject
from processing.core.rejections import Rejection


class MessageKind(StrEnum):
    sms_code = "sms_code"  # the code a customer reads out to pay with points


class Locale(StrEnum):
    ru = "ru"
    en = "en"


default_locale = Locale.ru

# The variables each kind may use, and those it must: a code message without its code is no use.

VARIABLES: dict[MessageKind, frozenset[str]] = {
    MessageKind.sms_code: frozenset({"code", "program", "minutes"}),
}
REQUIRED: dict[MessageKind, frozenset[str]] = {
    MessageKind.sms_code: frozenset({"code"}),
}

DEFAULTS: dict[tuple[MessageKind, Locale], str] = {
    (MessageKind.sms_code, Locale.ru): (
        "Код {code} для оплаты баллами ({minutes} мин). Назовите его только кассиру."
    ),
    (MessageKind.sms_code, Locale.en): (
        "{code} is your code to pay with points. Tell it to no one but the cashier."
    ),
}


class Template(msgspec.Struct, frozen=True, kw_only=True):
    """A program's message of one kind; no ``text`` means the built-in default of its locale."""

    kind: MessageKind
    locale: Locale = default_locale
    text: str | None = None

    @property
    def wording(self) -> str:
        return DEFAULTS[self.kind, self.locale] if self.text is None else self.text


# The GSM 03.38 alphabet an SMS can carry in 7 bits; the extension characters take two septets.
# A text with any other character (Cyrillic, for one) goes as UCS-2, 16 bits a character.
_gsm_basic = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
_gsm_extension = frozenset("^{}\\[~]|€\f")


def sms_parts(text: str) -> int:
    """How many SMS parts the text takes: one up to a whole message's characters, beyond that
    parts of a little less (each carries a header that joins them up again)."""
    if all(character in _gsm_basic or character in _gsm_extension for character in text):
        length = sum(2 if character in _gsm_extension else 1 for character in text)
        single, part = limits.sms_gsm7_characters_single, limits.sms_gsm7_characters_part
    else:
        length = len(text.encode("utf-16-le")) // 2
        single, part = limits.sms_ucs2_characters_single, limits.sms_ucs2_characters_part
    return 1 if length <= single else -(-length // part)


def check_template(template: Template, values: dict[str, str]) -> Rejected | None:
    """Refuses a template that names a variable its kind does not have, is not well formed, or
    would not fit ``limits.sms_parts_max`` parts once rendered with ``values``."""
    allowed = VARIABLES[template.kind]
    text = template.wording
    if any(ord(character) < 0x20 and character != "\n" for character in text):
        return _refuse_text("control characters are not allowed.")
    try:
        fields = [
            (name, spec, conversion)
            for _, name, spec, conversion in Formatter().parse(text)
            if name is not None
        ]
    except ValueError as error:
        return _refuse_text(f"{error}; write {{{{ or }}}} for a brace.")
    known = ", ".join(f"{{{variable}}}" for variable in sorted(allowed))
    for name, spec, conversion in fields:
        if name not in allowed:
            return _refuse_text(
                f"unknown variable {{{name}}}; a {template.kind} message may use {known}."
            )
        if spec or conversion:
            return _refuse_text(f"{{{name}}} takes no format or conversion; write {{{name}}}.")
    missing = sorted(REQUIRED[template.kind] - {name for name, _, _ in fields})
    if missing:
        return _refuse_text(f"a {template.kind} message must contain {{{missing[0]}}}.")
    parts = sms_parts(render(template, values))
    if parts > limits.sms_parts_max:
        return _refuse_text(
            f"rendered, it takes {parts} SMS parts; at most {limits.sms_parts_max} are allowed"
            f" (one part: {limits.sms_ucs2_characters_single} characters of Cyrillic,"
            f" {limits.sms_gsm7_characters_single} of Latin)."
        )
    return None


def _refuse_text(detail: str) -> Rejected:
    return reject(Rejection.validation_error, f"text: {detail}", "text")


def render(template: Template, values: dict[str, str]) -> str:
    """The text with each variable replaced; only a checked template reaches here, so every
    field is a bare variable name of its kind."""
    return template.wording.format_map(
        {name: values.get(name, "") for name in VARIABLES[template.kind]}
    )


def sms_code_values(code: str, program: str, seconds: int) -> dict[str, str]:
    return {"code": code, "program": program, "minutes": str(-(-seconds // 60))}
