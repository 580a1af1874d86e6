"""Only a live key with the right scope gets in, and a program's keys can neither see nor touch
another program's customers, holds, operations, cards or keys: those answer 404, as if absent."""

import re
from typing import Any, NamedTuple
from uuid import uuid4

import pytest

from tests.conftest import Api, make_program

PROBLEM = "application/problem+json"


class Tenant(NamedTuple):
    """Another program with its own POS key, a customer with a card, an accrual and a hold."""

    program_id: str
    pos_key: str
    customer: str
    phone: str
    card: str
    accrual: str
    hold: str


def assert_problem(response: Any, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    assert (response.json()["status"], response.json()["code"]) == (status, code)


async def make_key(api: Api, program_id: str, scopes: list[str]) -> dict[str, Any]:
    created = await api.post(
        "/v1/api-keys",
        {"program_id": program_id, "name": "extra", "scopes": scopes},
        key=api.admin_key,
    )
    assert created.status_code == 201, created.text
    result: dict[str, Any] = created.json()
    return result


async def pos_key_id(api: Api, customer: str) -> str:
    """The id of the fixture's POS key, as every operation it made records it."""
    statement = (await api.get(f"/v1/customers/{customer}/operations")).json()
    key_id: str = statement["items"][0]["key_id"]
    return key_id


@pytest.fixture
async def other(api: Api) -> Tenant:
    program_id, _, pos = await make_program(api.runtime, "Other")
    phone = "+79125550000"
    enrolled = await api.post("/v1/customers", {"phone": phone}, key=pos)
    assert enrolled.status_code == 201, enrolled.text
    customer = enrolled.json()["id"]
    card = await api.post(f"/v1/customers/{customer}/cards", {"number": "OTHER-1"}, key=pos)
    assert card.status_code == 201, card.text
    accrual = await api.post(
        f"/v1/customers/{customer}/accruals",
        {"points": 100, "document": {"id": "other-receipt-1"}},
        key=pos,
    )
    assert accrual.status_code == 201, accrual.text
    hold = await api.post(
        f"/v1/customers/{customer}/holds",
        {"points": 30, "document": {"id": "other-receipt-2"}},
        key=pos,
    )
    assert hold.status_code == 201, hold.text
    return Tenant(
        program_id, pos, customer, phone, "OTHER-1", accrual.json()["id"], hold.json()["id"]
    )


async def state_of(api: Api, tenant: Tenant) -> dict[str, Any]:
    """The other program as its own key sees it."""
    key = tenant.pos_key
    reads = {
        "balance": f"/v1/customers/{tenant.customer}/balance",
        "statement": f"/v1/customers/{tenant.customer}/operations",
        "customer": f"/v1/customers/{tenant.customer}",
        "hold": f"/v1/holds/{tenant.hold}",
        "accrual": f"/v1/operations/{tenant.accrual}",
        "card": f"/v1/cards/{tenant.card}",
    }
    state = {}
    for name, path in reads.items():
        response = await api.get(path, key=key)
        assert response.status_code == 200, response.text
        state[name] = response.json()
    return state


# --- authentication -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "authorization",
    [
        pytest.param(None, id="no-header"),
        pytest.param("", id="empty-header"),
        pytest.param("Bearer", id="scheme-without-key"),
        pytest.param("Bearer    ", id="blank-key"),
        pytest.param("Basic {pos}", id="basic-scheme"),
        pytest.param("Token {pos}", id="token-scheme"),
        pytest.param("{pos}", id="key-without-scheme"),
        pytest.param("Bearer bk_not-a-key-we-issued", id="unknown-key"),
        pytest.param("Bearer {pos}x", id="key-with-a-character-more"),
    ],
)
async def test_a_request_without_a_valid_bearer_key_is_401_and_changes_nothing(
    api: Api, authorization: str | None
) -> None:
    customer = await api.customer(points=10)
    headers = {"Idempotency-Key": "unauthenticated-1"}
    if authorization is not None:
        headers["Authorization"] = authorization.format(pos=api.pos_key)

    read = await api.client.get(f"/v1/customers/{customer}/balance", headers=headers)
    write = await api.client.post(
        f"/v1/customers/{customer}/accruals",
        json={"points": 5, "document": {"id": "anonymous"}},
        headers=headers,
    )

    assert_problem(read, 401, "unauthorized")
    assert_problem(write, 401, "unauthorized")
    assert "available" not in read.text
    assert (await api.balance(customer))["available"] == 10


async def test_a_revoked_key_is_refused_at_once_and_the_others_keep_working(api: Api) -> None:
    customer = await api.customer(points=10)
    key_id = await pos_key_id(api, customer)

    revoked = await api.client.delete(f"/v1/api-keys/{key_id}", headers=api.headers(api.admin_key))

    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["id"] == key_id
    assert revoked.json()["revoked_at"] is not None
    assert "key" not in revoked.json()
    assert_problem(await api.get(f"/v1/customers/{customer}/balance"), 401, "unauthorized")
    refused = await api.post(
        f"/v1/customers/{customer}/accruals", {"points": 5, "document": {"id": "after-revoke"}}
    )
    assert_problem(refused, 401, "unauthorized")
    still = await api.get(f"/v1/customers/{customer}/balance", key=api.admin_key)
    assert still.json()["available"] == 10
    again = await api.client.delete(f"/v1/api-keys/{key_id}", headers=api.headers(api.admin_key))
    assert_problem(again, 404, "not_found")


# --- scopes ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        pytest.param("POST", "/v1/programs", {"name": "Rogue", "currency": "RUB"}, id="programs"),
        pytest.param("POST", "/v1/expirations", None, id="expirations"),
        pytest.param(
            "POST",
            "/v1/customers/{customer}/adjustments",
            {"points": 500, "reason": "gift"},
            id="adjustments",
        ),
        pytest.param(
            "POST",
            "/v1/api-keys",
            {"program_id": "{program}", "name": "x", "scopes": ["admin"]},
            id="api-keys",
        ),
        pytest.param("DELETE", "/v1/api-keys/{key_id}", None, id="revoke-key"),
        pytest.param(
            "POST", "/v1/customers/{customer}/block", {"reason": "fraud"}, id="block-account"
        ),
    ],
)
async def test_a_pos_key_outside_its_scope_is_403_and_changes_nothing(
    api: Api, method: str, path: str, body: dict[str, Any] | None
) -> None:
    customer = await api.customer(points=10)
    key_id = await pos_key_id(api, customer)
    url = path.format(customer=customer, key_id=key_id)
    if body is not None and body.get("program_id") == "{program}":
        body = {**body, "program_id": api.program_id}

    response = await api.client.request(method, url, json=body, headers=api.headers())

    assert_problem(response, 403, "forbidden_scope")
    customer_now = (await api.get(f"/v1/customers/{customer}")).json()
    assert customer_now["blocked"] is False
    assert await api.balance(customer) == {
        "available": 10,
        "reserved": 0,
        "pending": 0,
        "expiring": [],
        "debt": 0,
    }


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        pytest.param("POST", "/v1/customers", {"phone": "+79120000002"}, id="enroll"),
        pytest.param("GET", "/v1/customers?phone=%2B79120000001", None, id="find-customer"),
        pytest.param("GET", "/v1/cards/CARD-1", None, id="card"),
        pytest.param("POST", "/v1/cards/CARD-1/block", {"reason": "lost"}, id="block-card"),
    ],
)
async def test_an_operator_key_may_not_act_inside_a_program_without_naming_one(
    api: Api, method: str, path: str, body: dict[str, Any] | None
) -> None:
    customer = await api.customer("+79120000001")
    card = await api.post(f"/v1/customers/{customer}/cards", {"number": "CARD-1"})
    assert card.status_code == 201

    response = await api.client.request(method, path, json=body, headers=api.headers(api.admin_key))

    assert_problem(response, 403, "program_key_required")
    shown = (await api.get("/v1/cards/CARD-1")).json()
    assert shown["status"] == "active"
    assert_problem(await api.get("/v1/customers", phone="+79120000002"), 404, "not_found")


# --- programs and keys ----------------------------------------------------------------------


async def test_an_operator_creates_a_program_and_a_key_whose_secret_is_shown_once(
    api: Api,
) -> None:
    created = await api.post(
        "/v1/programs", {"name": "Coffee", "currency": "EUR", "country": "DE"}, key=api.admin_key
    )
    assert created.status_code == 201, created.text
    program = created.json()
    assert (program["name"], program["currency"], program["country"]) == ("Coffee", "EUR", "DE")

    issued = await api.post(
        "/v1/api-keys",
        {"program_id": program["id"], "name": "till 7", "scopes": ["pos"], "store_id": "s-7"},
        key=api.admin_key,
    )
    assert issued.status_code == 201, issued.text
    key = issued.json()
    assert key["key"].startswith("bk_")
    assert len(key["key"]) > 40
    assert (key["program_id"], key["scopes"], key["store_id"]) == (program["id"], ["pos"], "s-7")

    enrolled = await api.post("/v1/customers", {"phone": "0151 23456789"}, key=key["key"])
    assert enrolled.status_code == 201, enrolled.text
    assert enrolled.json()["phone"] == "+4915123456789"

    reads = [
        await api.get(f"/v1/api-keys/{key['id']}", key=api.admin_key),
        await api.get("/v1/api-keys", key=api.admin_key),
        await api.get(f"/v1/programs/{program['id']}", key=api.admin_key),
        await api.get(f"/v1/programs/{program['id']}", key=key["key"]),
    ]
    assert all(key["key"] not in response.text for response in reads)
    revoked = await api.client.delete(
        f"/v1/api-keys/{key['id']}", headers=api.headers(api.admin_key)
    )
    assert revoked.status_code == 200, revoked.text
    assert key["key"] not in revoked.text


async def test_a_new_programs_key_and_the_first_programs_key_cannot_see_each_other(
    api: Api,
) -> None:
    first_customer = await api.customer("+79120000001", points=10)
    program = (
        await api.post("/v1/programs", {"name": "Second", "currency": "RUB"}, key=api.admin_key)
    ).json()
    second_key = (await make_key(api, program["id"], ["pos"]))["key"]
    second = await api.post("/v1/customers", {"phone": "+79120000001"}, key=second_key)
    assert second.status_code == 201, second.text

    assert_problem(
        await api.get(f"/v1/customers/{first_customer}", key=second_key), 404, "not_found"
    )
    assert_problem(await api.get(f"/v1/customers/{second.json()['id']}"), 404, "not_found")
    found = await api.get("/v1/customers", phone="+79120000001")
    assert found.json()["id"] == first_customer


async def test_a_program_admin_key_cannot_reach_into_another_program(api: Api) -> None:
    customer = await api.customer(points=10)
    pos_id = await pos_key_id(api, customer)
    program_id, _, _ = await make_program(api.runtime, "Other")
    other_admin = (await make_key(api, program_id, ["admin"]))["key"]

    adjust = await api.post(
        f"/v1/customers/{customer}/adjustments", {"points": 500, "reason": "x"}, key=other_admin
    )
    key_for_us = await api.post(
        "/v1/api-keys",
        {"program_id": api.program_id, "name": "spy", "scopes": ["pos"]},
        key=other_admin,
    )
    revoke_ours = await api.client.delete(
        f"/v1/api-keys/{pos_id}", headers=api.headers(other_admin)
    )
    our_program = await api.get(f"/v1/programs/{api.program_id}", key=other_admin)
    new_program = await api.post(
        "/v1/programs", {"name": "Rogue", "currency": "RUB"}, key=other_admin
    )

    for response in (adjust, key_for_us, revoke_ours, our_program):
        assert_problem(response, 404, "not_found")
    assert_problem(new_program, 403, "forbidden_scope")
    assert (await api.balance(customer))["available"] == 10
    assert len((await api.get(f"/v1/customers/{customer}/operations")).json()["items"]) == 1


# --- tenancy: another program's ids ---------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "code"),
    [
        pytest.param("/v1/customers/{customer}", "not_found", id="customer"),
        pytest.param("/v1/customers/{customer}/balance", "not_found", id="balance"),
        pytest.param("/v1/customers/{customer}/operations", "not_found", id="statement"),
        pytest.param("/v1/customers/{customer}/holds", "not_found", id="active_holds"),
        pytest.param("/v1/holds/{hold}", "hold_not_found", id="hold"),
        pytest.param("/v1/operations/{accrual}", "not_found", id="operation"),
        pytest.param("/v1/cards/{card}", "card_not_found", id="card"),
    ],
)
async def test_another_programs_ids_read_as_404_exactly_like_absent_ones(
    api: Api, other: Tenant, path: str, code: str
) -> None:
    theirs = await api.get(path.format(**other._asdict()))
    absent = await api.get(
        path.format(customer=uuid4(), hold=uuid4(), accrual=uuid4(), card="NO-SUCH-CARD")
    )

    assert_problem(theirs, 404, code)
    assert theirs.json() == absent.json()


@pytest.mark.parametrize("query", ["phone", "card"])
async def test_another_programs_customer_is_not_found_by_phone_or_card(
    api: Api, other: Tenant, query: str
) -> None:
    value = other.phone if query == "phone" else other.card
    assert_problem(await api.get("/v1/customers", **{query: value}), 404, "not_found")


@pytest.mark.parametrize(
    ("path", "body", "code"),
    [
        pytest.param(
            "/v1/customers/{customer}/accruals",
            {"points": 1000, "document": {"id": "x-1"}},
            "not_found",
            id="accrue",
        ),
        pytest.param(
            "/v1/customers/{customer}/holds",
            {"points": 50, "document": {"id": "x-2"}},
            "not_found",
            id="reserve",
        ),
        pytest.param("/v1/holds/{hold}/commit", {"points": 30}, "hold_not_found", id="commit"),
        pytest.param("/v1/holds/{hold}/cancel", None, "hold_not_found", id="cancel"),
        pytest.param(
            "/v1/operations/{accrual}/refunds",
            {"points": 100, "document": {"id": "x-3"}},
            "not_found",
            id="refund",
        ),
        pytest.param(
            "/v1/customers/{customer}/cards", {"number": "MINE-1"}, "not_found", id="add-card"
        ),
        pytest.param("/v1/cards/{card}/block", {"reason": "x"}, "card_not_found", id="block-card"),
    ],
)
async def test_another_programs_ids_are_404_for_mutations_and_nothing_changes_there(
    api: Api, other: Tenant, path: str, body: dict[str, Any] | None, code: str
) -> None:
    before = await state_of(api, other)

    response = await api.post(path.format(**other._asdict()), body)

    assert_problem(response, 404, code)
    assert await state_of(api, other) == before


@pytest.mark.parametrize("action", ["block", "unblock"])
async def test_a_crm_key_cannot_block_another_programs_customer(
    api: Api, other: Tenant, action: str
) -> None:
    crm = (await make_key(api, api.program_id, ["crm"]))["key"]
    if action == "unblock":
        blocked = await api.post(
            f"/v1/customers/{other.customer}/block", {"reason": "fraud"}, key=api.admin_key
        )
        assert blocked.status_code == 200, blocked.text
    before = await state_of(api, other)

    response = await api.post(f"/v1/customers/{other.customer}/{action}", {"reason": "x"}, key=crm)

    assert_problem(response, 404, "not_found")
    assert await state_of(api, other) == before


async def test_idempotency_keys_of_two_programs_never_collide(api: Api, other: Tenant) -> None:
    ours = await api.customer(points=0)
    mine = await api.post(
        f"/v1/customers/{ours}/accruals",
        {"points": 7, "document": {"id": "shared"}},
        idempotency_key="shared-key",
    )
    theirs = await api.post(
        f"/v1/customers/{other.customer}/accruals",
        {"points": 9, "document": {"id": "shared"}},
        key=other.pos_key,
        idempotency_key="shared-key",
    )

    assert (mine.status_code, theirs.status_code) == (201, 201)
    assert "Idempotent-Replayed" not in theirs.headers
    assert (theirs.json()["customer_id"], theirs.json()["points"]) == (other.customer, 9)
    assert (await api.balance(ours))["available"] == 7


# --- public endpoints -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        pytest.param("/health/live", {"status": "ok"}, id="live"),
        pytest.param("/health/ready", {"status": "ok", "postgres": "up"}, id="ready"),
    ],
)
async def test_health_endpoints_answer_without_a_key(
    api: Api, path: str, expected: dict[str, str]
) -> None:
    response = await api.client.get(path)
    assert response.status_code == 200, response.text
    assert expected.items() <= response.json().items()


async def test_metrics_answer_without_a_key(api: Api) -> None:
    response = await api.client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert "# TYPE" in response.text


async def test_the_openapi_document_is_public_and_lists_the_v1_api(api: Api) -> None:
    response = await api.client.get("/schema/openapi.json")
    assert response.status_code == 200, response.text
    document = response.json()
    paths = document["paths"]
    assert {
        "/v1/programs",
        "/v1/api-keys",
        "/v1/api-keys/{key_id}",
        "/v1/customers",
        "/v1/customers/{customer_id}",
        "/v1/customers/{customer_id}/accruals",
        "/v1/customers/{customer_id}/adjustments",
        "/v1/customers/{customer_id}/balance",
        "/v1/customers/{customer_id}/cards",
        "/v1/customers/{customer_id}/holds",
        "/v1/customers/{customer_id}/operations",
        "/v1/holds/{hold_id}",
        "/v1/holds/{hold_id}/commit",
        "/v1/holds/{hold_id}/cancel",
        "/v1/operations/{operation_id}",
        "/v1/operations/{operation_id}/refunds",
        "/v1/cards/{number}",
        "/v1/cards/{number}/block",
        "/v1/expirations",
        "/v1/programs/{program_id}/webhooks",
        "/v1/webhooks/{webhook_id}/deliveries",
        "/v1/webhook-deliveries/{delivery_id}/redeliver",
        "/pos/v1/identify",
        "/pos/v1/calculate",
        "/pos/v1/cheques/{cheque_id}/reserve",
        "/pos/v1/cheques/{cheque_id}/commit",
        "/pos/v1/cheques/{cheque_id}/cancel",
        "/pos/v1/cheques/{cheque_id}/returns",
    } <= set(paths)
    schemas = document["components"]["schemas"]
    assert "lines" in schemas["HoldCommit"]["properties"]  # the final receipt is in the contract
    assert "receipt" in schemas["Commit"]["properties"]
    assert "post" in paths["/v1/customers/{customer_id}/accruals"]
    assert "delete" in paths["/v1/api-keys/{key_id}"]
    schemes = document["components"]["securitySchemes"]
    assert schemes["ApiKey"]["scheme"] == "bearer"


def sample_parameter(match: re.Match[str]) -> str:
    return {"uuid": "00000000-0000-0000-0000-000000000001", "int": "1", "str": "x"}[match[1]]


async def test_every_route_but_the_public_ones_asks_for_a_key(api: Api) -> None:
    """Walks the app's own route table, so a new controller cannot be left open by mistake
    (the till protocol under /pos/v1 once was: the guard only looked at /v1 paths)."""
    from api.app import create_app

    app = create_app(api.runtime.settings, api.runtime)
    checked = []
    for route in app.routes:
        for method, (handler, _) in getattr(route, "route_handler_map", {}).items():
            public = handler.opt.get("public") or route.path.startswith("/schema")
            if public or method in ("HEAD", "OPTIONS"):
                continue
            filled = re.sub(r"\{\w+:(\w+)\}", sample_parameter, route.path)
            response = await api.client.request(method, filled, headers={"Idempotency-Key": "x"})
            checked.append(route.path)
            assert response.status_code == 401, (method, route.path, response.text)
    assert any(path.startswith("/pos/v1") for path in checked)
    assert len(checked) > 40
