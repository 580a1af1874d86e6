"""Input that is well-formed JSON yet no column can store or no decoder can read — a NUL
character in any text field, path or query parameter, a timestamp without a zone or outside the
years a client may name, JSON nested a thousand levels deep — is refused as a 400
``validation_error`` naming the field, changes nothing, and never answers the 500 that tells a
till to retry forever."""

from typing import Any

import pytest

from tests.api.test_loyalty_rules_and_checkout import auto_service, put_rules, receipt_line
from tests.conftest import Api

PHONE = "+79120000001"
NUL = "a\x00b"
line = receipt_line("oil", 4000)


class World:
    def __init__(self, api: Api, customer: str, card: str) -> None:
        self.api, self.customer, self.card = api, customer, card


@pytest.fixture
async def world(api: Api) -> World:
    assert (await put_rules(api, auto_service | {"activation_delay_days": 0})).status_code == 200
    customer = await api.customer(PHONE, points=500)
    card = await api.post(f"/v1/customers/{customer}/cards", {"number": "2000-0001"})
    assert card.status_code == 201, card.text
    return World(api, customer, "2000-0001")


# (method, path template, key, body with the NUL, field named)
NUL_CASES: list[tuple[str, str, str, dict[str, Any], str]] = [
    ("POST", "/v1/customers", "pos", {"phone": "+79120000002", "name": NUL}, "name"),
    (
        "POST",
        "/v1/customers",
        "pos",
        {"phone": "+79120000002", "attributes": {"k": NUL}},
        'attributes["k"]',
    ),
    (
        "POST",
        "/v1/customers",
        "pos",
        {"phone": "+79120000002", "attributes": {"k": [1, {"n": NUL}]}},
        'attributes["k"][1]["n"]',
    ),
    (
        "POST",
        "/v1/customers",
        "pos",
        {"phone": "+79120000002", "attributes": {NUL: 1}},
        'attributes["a\\u0000b"]',
    ),
    (
        "POST",
        "/v1/customers/{customer}/accruals",
        "pos",
        {"points": 1, "document": {"id": NUL}},
        "document.id",
    ),
    (
        "POST",
        "/v1/customers/{customer}/accruals",
        "pos",
        {"points": 1, "document": {"id": "d", "name": NUL}},
        "document.name",
    ),
    (
        "POST",
        "/v1/customers/{customer}/accruals",
        "pos",
        {"points": 1, "document": {"id": "d", "comment": NUL}},
        "document.comment",
    ),
    (
        "POST",
        "/v1/customers/{customer}/holds",
        "pos",
        {"points": 1, "document": {"id": NUL}},
        "document.id",
    ),
    (
        "POST",
        "/v1/customers/{customer}/adjustments",
        "admin",
        {"points": 1, "reason": NUL},
        "reason",
    ),
    ("POST", "/v1/cards/{card}/block", "pos", {"reason": NUL}, "reason"),
    (
        "POST",
        "/v1/api-keys",
        "admin",
        {"program_id": "{program}", "name": NUL, "scopes": ["pos"]},
        "name",
    ),
    (
        "PUT",
        "/v1/programs/{program}/rules",
        "admin",
        auto_service | {"tiers": [{"name": NUL, "threshold_minor": 0, "earn_bp": 1}]},
        "tiers[0].name",
    ),
    (
        "PUT",
        "/v1/programs/{program}/rules",
        "admin",
        auto_service | {"earning": {"excluded_skus": ["ok", NUL]}},
        "earning.excluded_skus",
    ),
    (
        "PUT",
        "/v1/programs/{program}/rules",
        "admin",
        auto_service | {"earning": {"sku_bp": {NUL: 10}}},
        'earning.sku_bp["a\\u0000b"]',
    ),
    (
        "POST",
        "/v1/customers/{customer}/purchases",
        "pos",
        {"document": {"id": "p-1"}, "lines": [line | {"sku": NUL}]},
        "lines[0].sku",
    ),
    (
        "POST",
        "/v1/customers/{customer}/purchases",
        "pos",
        {"document": {"id": "p-1"}, "lines": [line | {"line_id": NUL}]},
        "lines[0].line_id",
    ),
    (
        "POST",
        "/pos/v1/cheques/C-1/commit",
        "pos",
        {"lines": [line], "customer_id": "{customer}", "fiscal": {"receipt_number": NUL}},
        "fiscal.receipt_number",
    ),
    (
        "POST",
        "/pos/v1/identify",
        "pos",
        {"identifier": {"type": "card", "value": NUL}},
        "identifier.value",
    ),
]


def filled(value: Any, world: World) -> Any:
    if isinstance(value, str):
        return (
            value.format(customer=world.customer, card=world.card, program=world.api.program_id)
            if "{" in value and "\x00" not in value
            else value
        )
    if isinstance(value, dict):
        return {filled(key, world): filled(item, world) for key, item in value.items()}
    if isinstance(value, list):
        return [filled(item, world) for item in value]
    return value


async def state(api: Api, world: World) -> Any:
    async with api.runtime.pool.acquire() as db:
        counts = await db.fetchrow(
            "select (select count(*) from operations) operations, (select count(*) from "
            "customers) customers, (select count(*) from api_keys) keys, (select count(*) from "
            "cards where status = 'blocked') blocked, "
            "(select max(version) from program_rules) rules"
        )
    return dict(counts or {}), await api.balance(world.customer)


def assert_refused(response: Any, field: str | None) -> None:
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["code"] == "validation_error", problem
    assert problem.get("field") == field, problem


@pytest.mark.parametrize(
    ("method", "path", "key", "body", "field"),
    [pytest.param(*case, id=f"{case[1]}-{case[4]}".replace("\x00", "NUL")) for case in NUL_CASES],
)
async def test_a_nul_character_in_a_text_field_is_refused_naming_it(
    api: Api, world: World, method: str, path: str, key: str, body: dict[str, Any], field: str
) -> None:
    before = await state(api, world)
    headers = api.headers(api.admin_key if key == "admin" else api.pos_key)

    response = await api.client.request(
        method, filled(path, world), json=filled(body, world), headers=headers
    )

    assert_refused(response, field)
    assert await state(api, world) == before


async def test_without_the_nul_the_same_bodies_are_applied(api: Api, world: World) -> None:
    """The control: each case above fails only because of its NUL character (a repeated
    document or phone may conflict, an unknown card is not found; none is invalid)."""
    for method, path, key, body, _ in NUL_CASES:
        clean = filled(body, world)
        clean = filled_without_nul(clean)
        headers = api.headers(api.admin_key if key == "admin" else api.pos_key)
        response = await api.client.request(
            method, filled(path, world), json=clean, headers=headers
        )
        assert response.status_code != 400, (path, response.text)
        assert response.status_code < 500, (path, response.text)


def filled_without_nul(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, dict):
        return {filled_without_nul(key): filled_without_nul(item) for key, item in value.items()}
    if isinstance(value, list):
        return [filled_without_nul(item) for item in value]
    return value


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/v1/cards/ab%00c", {}, "number"),
        ("/v1/cards/ab%00c/block", {}, "number"),
        ("/pos/v1/cheques/C%00-1/cancel", {}, "cheque_id"),
        ("/v1/customers/{customer}/operations", {"cursor": NUL}, "cursor"),
        ("/v1/customers", {"phone": "+7912000000\x001"}, "phone"),
    ],
)
async def test_a_nul_character_in_a_path_or_query_parameter_is_refused(
    api: Api, world: World, path: str, params: dict[str, str], field: str
) -> None:
    before = await state(api, world)
    url = path.format(customer=world.customer)
    if url.endswith(("block", "cancel")):
        response = await api.client.post(url, json={"reason": "x"}, headers=api.headers())
    else:
        response = await api.client.get(url, params=params, headers=api.headers(None, None))
    assert_refused(response, field)
    assert await state(api, world) == before


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"expires_at": "2030-01-01T00:00:00"}, "expires_at"),
        ({"activates_at": "2030-01-01T00:00:00"}, "activates_at"),
        ({"expires_at": "9999-12-31T23:59:59-05:00"}, "expires_at"),
        ({"expires_at": "0001-01-01T00:30:00+01:00"}, "expires_at"),
        ({"expires_at": "1969-12-31T23:59:59Z"}, "expires_at"),
    ],
)
async def test_a_timestamp_without_a_zone_or_outside_the_years_is_refused(
    api: Api, world: World, body: dict[str, str], field: str
) -> None:
    before = await state(api, world)
    accrual = {"points": 1, "document": {"id": "ts-1"}, **body}
    response = await api.post(f"/v1/customers/{world.customer}/accruals", accrual)
    assert_refused(response, field)
    purchase = {"document": {"id": "ts-2"}, "lines": [line], **body}
    if "expires_at" in body:
        response = await api.post(f"/v1/customers/{world.customer}/purchases", purchase)
        assert_refused(response, field)
    assert await state(api, world) == before


async def test_timestamps_with_a_zone_inside_the_years_are_applied(api: Api, world: World) -> None:
    """The control: the boundary years, with a zone, are accepted."""
    for number, expires in enumerate(["2199-12-31T23:59:59+03:00", "2030-01-01T00:00:00Z"]):
        response = await api.post(
            f"/v1/customers/{world.customer}/accruals",
            {"points": 1, "document": {"id": f"ok-{number}"}, "expires_at": expires},
        )
        assert response.status_code == 201, response.text


async def test_a_fiscal_time_without_a_zone_is_refused(api: Api, world: World) -> None:
    fiscal = {"receipt_number": "1", "issued_at": "2026-12-01T10:00:00"}
    response = await api.post(
        "/pos/v1/cheques/C-2/commit",
        {"lines": [line], "customer_id": world.customer, "fiscal": fiscal},
    )
    assert_refused(response, "fiscal.issued_at")


def nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


@pytest.mark.parametrize("depth", [33, 1000, 20_000])
async def test_json_nested_deeper_than_the_limit_is_refused(
    api: Api, world: World, depth: int
) -> None:
    before = await state(api, world)
    body = b'{"phone": "+79120000003", "attributes": {"a": ' + nested(depth - 2) + b"}}"
    headers = api.headers() | {"Content-Type": "application/json"}
    response = await api.client.post("/v1/customers", content=body, headers=headers)
    assert_refused(response, None)
    assert "nests more than 32 levels" in response.json()["detail"]
    assert await state(api, world) == before


async def test_json_at_the_depth_limit_and_brackets_inside_strings_are_read(
    api: Api, world: World
) -> None:
    """The control: 32 levels are fine, and brackets inside a string are not nesting."""
    body = (
        b'{"phone": "+79120000003", "name": "'
        + b"[" * 100
        + b'", "attributes": {"a": '
        + nested(30)
        + b"}}"
    )
    headers = api.headers() | {"Content-Type": "application/json"}
    response = await api.client.post("/v1/customers", content=body, headers=headers)
    assert response.status_code == 201, response.text


async def test_a_value_the_database_refuses_answers_400_not_500(
    api: Api, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The net under the checks above: a data error from Postgres (here a NUL the checks were
    told to let through) is the request's fault and answers 400, never 500."""
    monkeypatch.setattr("api.storable.unstorable", lambda value, path="": None)
    response = await api.post(
        f"/v1/customers/{world.customer}/accruals", {"points": 1, "document": {"id": NUL}}
    )
    assert_refused(response, None)
    assert "cannot be stored" in response.json()["detail"]


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/v1/customers/{customer}/cards", {"number": "2000-0002\n"}, "number"),
        (
            "/v1/customers/{customer}/accruals",
            {"points": 1, "document": {"id": "r-1\n"}},
            "document.id",
        ),
        ("/v1/customers", {"phone": "+79120000003", "email": "a@b.ru\n"}, "email"),
    ],
)
async def test_a_value_ending_in_a_newline_is_refused_naming_it(
    api: Api, world: World, path: str, body: dict[str, Any], field: str
) -> None:
    """Python's ``$`` also matches before a final newline (the published schema's ECMAScript
    one does not): a card number, document id or address ending in one is refused, not stored
    as a second, different value."""
    response = await api.post(path.format(customer=world.customer), body)
    assert_refused(response, field)
    async with api.runtime.pool.acquire() as connection:
        numbers = await connection.fetch("select number from cards")
    assert [row["number"] for row in numbers] == [world.card]
    balance = await api.get(f"/v1/customers/{world.customer}/balance")
    assert balance.json()["available"] == 500  # nothing accrued
