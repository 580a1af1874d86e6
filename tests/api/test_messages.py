"""A program words its own SMS: the code reaches the customer in Russian by default, then in the
program's own template once an operator stores one; a template that names an unknown variable,
leaves out the code or would not fit the SMS parts is refused naming the field, and changes
nothing."""

import json
import re
from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID

import pytest

from processing.core import limits
from processing.service.admin import create_key
from processing.settings import Settings
from tests.conftest import Api, make_program, secrets_keys
from tests.fakes.webhook_receiver import WebhookReceiver, webhook_receiver

phone = "+79161234567"
russian_default = "Код {code} для оплаты баллами (5 мин). Назовите его только кассиру."


@pytest.fixture
async def gateway() -> AsyncIterator[WebhookReceiver]:
    async with webhook_receiver() as receiver:
        yield receiver


@pytest.fixture
def settings(database_url: str, redis_server: str, gateway: WebhookReceiver) -> Settings:
    return Settings(
        database_url=database_url,
        redis_url=redis_server,
        expiry_worker=False,
        db_pool_min=1,
        db_pool_max=10,
        sms_provider="http",
        sms_url=gateway.url,
        secrets_keys=secrets_keys,
    )


def messages_path(api: Api, kind: str = "sms_code") -> str:
    return f"/v1/programs/{api.program_id}/messages/{kind}"


async def put_template(api: Api, body: dict[str, Any], **kw: Any) -> Any:
    return await api.client.put(
        messages_path(api, kw.pop("kind", "sms_code")),
        json=body,
        headers=api.headers(kw.pop("key", api.admin_key), kw.pop("idempotency_key", "auto")),
    )


async def sent_text(api: Api, gateway: WebhookReceiver, customer: str) -> tuple[str, str]:
    """Sends a code; returns the text the gateway got and the code in it."""
    before = len(gateway.received)
    response = await api.post("/pos/v1/sms-codes", {"customer_id": customer})
    assert response.status_code == 201, response.text
    assert len(gateway.received) == before + 1
    text: str = json.loads(gateway.received[-1].body)["text"]
    found = re.search(r"\b\d{6}\b", text)
    assert found, text
    return text, found.group(0)


async def test_the_code_goes_in_russian_by_default_then_in_the_programs_own_words(
    api: Api, gateway: WebhookReceiver
) -> None:
    customer = await api.customer(phone=phone)

    text, code = await sent_text(api, gateway, customer)
    assert text == russian_default.format(code=code)

    own = "{program}: код {code}, действует {minutes} мин."
    stored = await put_template(api, {"text": own})
    assert stored.status_code == 200, stored.text
    assert stored.json() | {"updated_at": None} == {
        "program_id": api.program_id,
        "kind": "sms_code",
        "locale": "ru",
        "text": own,
        "default": False,
        "variables": ["code", "minutes", "program"],
        "updated_at": None,
    }

    text, code = await sent_text(api, gateway, customer)
    minutes = limits.sms_code_seconds_ttl // 60
    assert text == f"Test program: код {code}, действует {minutes} мин."


async def test_the_template_in_force_is_read_back_default_or_own(api: Api) -> None:
    default = await api.get(messages_path(api), key=api.admin_key)
    assert default.status_code == 200, default.text
    assert (default.json()["default"], default.json()["locale"]) == (True, "ru")
    assert default.json()["text"] == russian_default.replace("(5 мин)", "({minutes} мин)")
    assert default.json()["updated_at"] is None

    english = await put_template(api, {"locale": "en"})
    assert english.status_code == 200, english.text
    read = (await api.get(messages_path(api), key=api.admin_key)).json()
    assert (read["default"], read["locale"]) == (True, "en")
    assert read["text"].startswith("{code} is your code")
    assert read["updated_at"] is not None


async def test_an_english_default_is_sent_when_the_program_chooses_it(
    api: Api, gateway: WebhookReceiver
) -> None:
    customer = await api.customer(phone=phone)
    assert (await put_template(api, {"locale": "en"})).status_code == 200

    text, code = await sent_text(api, gateway, customer)

    assert text == f"{code} is your code to pay with points. Tell it to no one but the cashier."


@pytest.mark.parametrize(
    ("body", "field", "says"),
    [
        pytest.param({"text": "Код {code} от {shop}"}, "text", "unknown variable {shop}",
                     id="unknown-variable"),
        pytest.param({"text": "Ваш код готов"}, "text", "must contain {code}", id="no-code"),
        pytest.param({"text": "Код {code!r}"}, "text", "no format", id="conversion"),
        pytest.param({"text": "Код {code"}, "text", "brace", id="unbalanced-brace"),
        pytest.param({"text": "{code.__class__}"}, "text", "unknown variable", id="attribute"),
        pytest.param({"text": "{code} " + "я" * 3 * limits.sms_ucs2_characters_part}, "text",
                     "SMS parts", id="too-long-for-sms"),
        pytest.param({"text": ""}, "text", "length", id="empty"),
        pytest.param({"text": "{code}", "locale": "de"}, "locale", "de", id="unknown-locale"),
        pytest.param({"text": "{code}", "tone": "warm"}, "tone", "unknown", id="unknown-field"),
    ],
)  # fmt: skip
async def test_a_bad_template_is_refused_naming_the_field_and_changes_nothing(
    api: Api, body: dict[str, Any], field: str, says: str
) -> None:
    response = await put_template(api, body)

    assert response.status_code == 400, response.text
    problem = response.json()
    assert (problem["code"], problem["field"]) == ("validation_error", field)
    assert says in problem["detail"]
    assert (await api.get(messages_path(api), key=api.admin_key)).json()["default"] is True


async def test_the_size_is_checked_with_the_programs_own_name(api: Api) -> None:
    # With a name of 88 characters the text fits three parts (201 characters of Cyrillic) when
    # it names the program once, and not when it names it twice.
    text = "{program} {program} {code} " + "я" * 30
    assert (await put_template(api, {"text": text})).status_code == 200

    long_name = "Очень длинное название программы лояльности " * 2
    program, admin, _ = await make_program(api.runtime, name=long_name.strip())
    response = await api.client.put(
        f"/v1/programs/{program}/messages/sms_code",
        json={"text": "{program} {code} " + "я" * 30},
        headers=api.headers(admin),
    )
    assert response.status_code == 200, response.text
    response = await api.client.put(
        f"/v1/programs/{program}/messages/sms_code",
        json={"text": "{program} {program} {code} " + "я" * 30},
        headers=api.headers(admin),
    )
    assert (response.status_code, response.json()["field"]) == (400, "text")


async def test_an_unknown_kind_is_refused_naming_it(api: Api) -> None:
    response = await put_template(api, {"text": "{code}"}, kind="birthday")
    assert (response.status_code, response.json()["field"]) == (400, "kind")
    read = await api.get(messages_path(api, "birthday"), key=api.admin_key)
    assert (read.status_code, read.json()["field"]) == (400, "kind")


async def test_templates_are_for_operators_and_stay_inside_their_program(api: Api) -> None:
    till = await put_template(api, {"text": "{code}"}, key=api.pos_key)
    assert till.status_code == 403, till.text
    other, _, _ = await make_program(api.runtime, name="Other")
    async with api.runtime.database.transaction() as store:
        outsider = await create_key(store, UUID(other), "other admin", ["admin"], None)
    foreign = await put_template(api, {"text": "{code}"}, key=str(outsider.key))
    assert foreign.status_code == 404, foreign.text
    read = await api.get(messages_path(api), key=str(outsider.key))
    assert read.status_code == 404, read.text


async def test_a_replayed_put_answers_the_same(api: Api) -> None:
    first = await put_template(api, {"text": "{code}"}, idempotency_key="same")
    again = await put_template(api, {"text": "{code}"}, idempotency_key="same")
    assert (again.status_code, again.content) == (first.status_code, first.content)
    assert again.headers["idempotent-replayed"] == "true"
