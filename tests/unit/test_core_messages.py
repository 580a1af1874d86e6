"""Message templates render their variables and nothing else, the SMS size of a text is counted
as a phone network counts it, and each kind of refusal names the text."""

import pytest

from processing.core import limits
from processing.core.messages import (
    DEFAULTS,
    Locale,
    MessageKind,
    Template,
    check_template,
    render,
    sms_code_values,
    sms_parts,
)
from processing.core.model import Rejected

values = sms_code_values("042917", "Автосервис", limits.sms_code_seconds_ttl)


def sms(text: str | None = None, locale: Locale = Locale.ru) -> Template:
    return Template(kind=MessageKind.sms_code, locale=locale, text=text)


def test_the_default_is_russian_and_fits_one_sms() -> None:
    text = render(sms(), values)
    assert text == "Код 042917 для оплаты баллами (5 мин). Назовите его только кассиру."
    assert sms_parts(text) == 1


@pytest.mark.parametrize("key", list(DEFAULTS))
def test_every_default_passes_its_own_check_and_fits_one_sms(
    key: tuple[MessageKind, Locale],
) -> None:
    kind, locale = key
    template = Template(kind=kind, locale=locale)
    assert check_template(template, values) is None
    assert sms_parts(render(template, values)) == 1


def test_a_template_renders_its_variables_and_literal_braces() -> None:
    template = sms("{program}: {{код}} {code}, {minutes} мин")
    assert render(template, values) == "Автосервис: {код} 042917, 5 мин"


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        pytest.param("a" * 160, 1, id="gsm7-single"),
        pytest.param("a" * 161, 2, id="gsm7-two-parts"),
        pytest.param("a" * 153 * 2 + "a", 3, id="gsm7-three-parts"),
        pytest.param("€" * 80, 1, id="gsm7-extension-counts-twice"),
        pytest.param("€" * 81, 2, id="gsm7-extension-over"),
        pytest.param("я" * 70, 1, id="ucs2-single"),
        pytest.param("я" * 71, 2, id="ucs2-two-parts"),
        pytest.param("a" * 100 + "я", 2, id="one-cyrillic-letter-makes-ucs2"),
        pytest.param("я" * 67 * 3, 3, id="ucs2-three-parts"),
    ],
)
def test_sms_parts_are_counted_as_the_network_counts_them(text: str, parts: int) -> None:
    assert sms_parts(text) == parts


@pytest.mark.parametrize(
    ("text", "says"),
    [
        pytest.param("Код {code} от {shop}", "unknown variable {shop}", id="unknown-variable"),
        pytest.param("Ваш код готов", "must contain {code}", id="no-code"),
        pytest.param("{code:>10}", "no format", id="format-spec"),
        pytest.param("{code!s}", "no format", id="conversion"),
        pytest.param("{code.real}", "unknown variable", id="attribute"),
        pytest.param("{code[0]}", "unknown variable", id="index"),
        pytest.param("{code} }", "brace", id="lone-brace"),
        pytest.param("{code}\x00", "control", id="nul"),
        pytest.param("{code} " + "я" * 67 * 3, "4 SMS parts", id="too-long"),
    ],
)
def test_a_bad_template_is_refused_naming_the_text(text: str, says: str) -> None:
    refused = check_template(sms(text), values)
    assert isinstance(refused, Rejected)
    assert refused.field == "text"
    assert says in refused.detail


def test_the_size_is_checked_with_the_values_it_will_be_sent_with() -> None:
    text = "{program} {code} " + "я" * 150
    assert check_template(sms(text), values) is None
    long_name = sms_code_values("042917", "Я" * 60, limits.sms_code_seconds_ttl)
    assert isinstance(check_template(sms(text), long_name), Rejected)


def test_a_line_break_is_allowed() -> None:
    assert check_template(sms("Код:\n{code}"), values) is None
