"""Bad input on every mutating endpoint is refused as a 400/413 problem naming the offending field,
and leaves the customer's balance, statement, hold, cards and enrollments exactly as they were."""

import json
from typing import Any, NamedTuple

import pytest

from tests.conftest import Api

PHONE = "+79120000001"
NEW_PHONE = "+79120000077"
CARD = "CARD-1"
NEW_CARD = "CARD-2"
DOC = {"id": "bad-input-1"}
BODY_LIMIT = 64 * 1024

VALID: dict[str, dict[str, Any]] = {
    "accruals": {"points": 10, "document": DOC},
    "holds": {"points": 10, "document": DOC},
    "commit": {"points": 10},
    "refunds": {"points": 10, "document": DOC},
    "adjustments": {"points": 10, "reason": "goodwill"},
    "customers": {"phone": NEW_PHONE},
    "cards": {"number": NEW_CARD},
    "card-block": {"reason": "lost"},
}
POINTS_ENDPOINTS = ("accruals", "holds", "commit", "refunds", "adjustments")
DOCUMENT_ENDPOINTS = ("accruals", "holds", "refunds", "adjustments")


class World(NamedTuple):
    customer: str
    hold: str
    accrual: str


class Case(NamedTuple):
    endpoint: str
    body: Any  # a JSON value, or bytes sent as they are
    field: str | None
    status: int = 400
    code: str = "validation_error"
    idempotency_key: str | None = "auto"


def bad(name: str, endpoint: str, body: Any, field: str | None, **options: Any) -> Any:
    return pytest.param(Case(endpoint, body, field, **options), id=f"{endpoint}-{name}")


def changed(endpoint: str, **fields: Any) -> dict[str, Any]:
    return {**VALID[endpoint], **fields}


def without(endpoint: str, name: str) -> dict[str, Any]:
    return {key: value for key, value in VALID[endpoint].items() if key != name}


def document(**fields: Any) -> dict[str, Any]:
    return {**DOC, **fields}


def padded_to(size: int, endpoint: str = "accruals") -> bytes:
    """A JSON body of exactly ``size`` bytes: the valid body plus an unknown ``padding`` field."""
    empty = json.dumps({**VALID[endpoint], "padding": ""}).encode()
    return json.dumps({**VALID[endpoint], "padding": "a" * (size - len(empty))}).encode()


POINTS_VALUES = [
    ("zero", 0),
    ("negative", -5),
    ("float", 1.5),
    ("integral-float", 1.0),
    ("string", "10"),
    ("bool", True),
    ("huge", 10**12),
    ("beyond-int64", 2**63),
]

CASES = [
    *[
        bad(f"points-{name}", endpoint, changed(endpoint, points=value), "points")
        for name, value in POINTS_VALUES
        for endpoint in POINTS_ENDPOINTS
        if not (endpoint == "adjustments" and name == "negative")
    ],
    bad("points-huge-negative", "adjustments", changed("adjustments", points=-(10**12)), "points"),
    # null where a value is required
    bad("points-null", "accruals", changed("accruals", points=None), "points"),
    bad("points-null", "holds", changed("holds", points=None), "points"),
    bad("points-null", "adjustments", changed("adjustments", points=None), "points"),
    bad("document-null", "accruals", changed("accruals", document=None), "document"),
    bad("document-null", "refunds", changed("refunds", document=None), "document"),
    bad("reason-null", "adjustments", changed("adjustments", reason=None), "reason"),
    bad("phone-null", "customers", changed("customers", phone=None), "phone"),
    bad("number-null", "cards", changed("cards", number=None), "number"),
    bad("reason-null", "card-block", changed("card-block", reason=None), "reason"),
    # a required field left out
    bad("points-missing", "accruals", without("accruals", "points"), "points"),
    bad("document-missing", "accruals", without("accruals", "document"), "document"),
    bad("points-missing", "holds", without("holds", "points"), "points"),
    bad("document-missing", "holds", without("holds", "document"), "document"),
    bad("document-missing", "refunds", without("refunds", "document"), "document"),
    bad("points-missing", "adjustments", without("adjustments", "points"), "points"),
    bad("reason-missing", "adjustments", without("adjustments", "reason"), "reason"),
    bad("phone-missing", "customers", without("customers", "phone"), "phone"),
    bad("number-missing", "cards", without("cards", "number"), "number"),
    bad("reason-missing", "card-block", without("card-block", "reason"), "reason"),
    bad("document-id-missing", "accruals", changed("accruals", document={}), "document.id"),
    # unknown fields, at the top level and inside the document
    *[bad("unknown-field", endpoint, changed(endpoint, bonus=1), "bonus") for endpoint in VALID],
    *[
        bad(
            "unknown-document-field",
            endpoint,
            changed(endpoint, document=document(amount=5)),
            "document.amount",
        )
        for endpoint in DOCUMENT_ENDPOINTS
    ],
    # wrong types for the document and its fields
    bad("document-string", "accruals", changed("accruals", document="r-1"), "document"),
    bad("document-list", "holds", changed("holds", document=["r-1"]), "document"),
    bad("document-number", "adjustments", changed("adjustments", document=5), "document"),
    bad("document-id-number", "accruals", changed("accruals", document={"id": 5}), "document.id"),
    bad("document-id-null", "holds", changed("holds", document={"id": None}), "document.id"),
    bad("document-id-empty", "refunds", changed("refunds", document={"id": ""}), "document.id"),
    bad(
        "document-id-padded",
        "accruals",
        changed("accruals", document={"id": " r-1 "}),
        "document.id",
    ),
    bad(
        "document-name-number",
        "refunds",
        changed("refunds", document=document(name=3)),
        "document.name",
    ),
    bad(
        "document-comment-list",
        "accruals",
        changed("accruals", document=document(comment=["a"])),
        "document.comment",
    ),
    # too long
    *[
        bad(
            "document-id-too-long",
            endpoint,
            changed(endpoint, document={"id": "d" * 129}),
            "document.id",
        )
        for endpoint in DOCUMENT_ENDPOINTS
    ],
    bad(
        "document-name-too-long",
        "accruals",
        changed("accruals", document=document(name="n" * 201)),
        "document.name",
    ),
    bad(
        "document-comment-too-long",
        "refunds",
        changed("refunds", document=document(comment="c" * 1001)),
        "document.comment",
    ),
    bad("reason-too-long", "adjustments", changed("adjustments", reason="r" * 501), "reason"),
    bad("reason-too-long", "card-block", changed("card-block", reason="r" * 501), "reason"),
    bad("reason-empty", "card-block", changed("card-block", reason=""), "reason"),
    bad(
        "card-number-too-long", "accruals", changed("accruals", card_number="1" * 65), "card_number"
    ),
    bad("card-number-too-long", "holds", changed("holds", card_number="1" * 65), "card_number"),
    bad(
        "card-number-too-long",
        "customers",
        changed("customers", card_number="1" * 65),
        "card_number",
    ),
    bad("number-too-long", "cards", changed("cards", number="1" * 65), "number"),
    bad("number-with-space", "cards", changed("cards", number="12 34"), "number"),
    # other fields of the wrong type
    bad(
        "activates-at-not-a-time",
        "accruals",
        changed("accruals", activates_at="tomorrow"),
        "activates_at",
    ),
    bad("expires-at-number", "accruals", changed("accruals", expires_at=5), "expires_at"),
    bad("birthday-not-a-date", "customers", changed("customers", birthday="yesterday"), "birthday"),
    bad("attributes-list", "customers", changed("customers", attributes=["vip"]), "attributes"),
    bad(
        "too-many-attributes",
        "customers",
        changed("customers", attributes={f"a{i}": i for i in range(51)}),
        "attributes",
    ),
    bad("name-empty", "customers", changed("customers", name=""), "name"),
    # bad phones
    bad("phone-letters", "customers", changed("customers", phone="abc"), "phone"),
    bad("phone-too-short", "customers", changed("customers", phone="12"), "phone"),
    bad("phone-too-few-digits", "customers", changed("customers", phone="+7912"), "phone"),
    bad("phone-too-long", "customers", changed("customers", phone="9" * 33), "phone"),
    bad("phone-number", "customers", changed("customers", phone=79120000077), "phone"),
    # hold lifetime out of range
    bad("ttl-zero", "holds", changed("holds", ttl_seconds=0), "ttl_seconds"),
    bad("ttl-negative", "holds", changed("holds", ttl_seconds=-60), "ttl_seconds"),
    bad("ttl-below-minimum", "holds", changed("holds", ttl_seconds=9), "ttl_seconds"),
    bad("ttl-above-ceiling", "holds", changed("holds", ttl_seconds=604_801), "ttl_seconds"),
    bad("ttl-float", "holds", changed("holds", ttl_seconds=60.5), "ttl_seconds"),
    bad("ttl-string", "holds", changed("holds", ttl_seconds="60"), "ttl_seconds"),
    # bodies that are not a JSON object
    *[bad("malformed-json", endpoint, b'{"points": 10,', None) for endpoint in VALID],
    bad("json-array", "accruals", [VALID["accruals"]], None),
    bad("json-array", "commit", [1], None),
    # bodies above 64 KiB
    *[
        bad(
            "oversized-body",
            endpoint,
            padded_to(BODY_LIMIT + 1, endpoint),
            None,
            status=413,
            code="payload_too_large",
        )
        for endpoint in VALID
    ],
    # the Idempotency-Key header
    *[
        bad(
            "no-idempotency-key", endpoint, VALID[endpoint], "Idempotency-Key", idempotency_key=None
        )
        for endpoint in VALID
    ],
    *[
        bad(
            "idempotency-key-256-chars",
            endpoint,
            VALID[endpoint],
            "Idempotency-Key",
            idempotency_key="k" * 256,
        )
        for endpoint in VALID
    ],
    bad(
        "idempotency-key-empty",
        "accruals",
        VALID["accruals"],
        "Idempotency-Key",
        idempotency_key="",
    ),
    bad(
        "idempotency-key-with-space",
        "accruals",
        VALID["accruals"],
        "Idempotency-Key",
        idempotency_key="two words",
    ),
]


@pytest.fixture
async def world(api: Api) -> World:
    """A customer with a card, a 100-point accrual and an active 30-point hold."""
    customer = await api.customer(PHONE)
    card = await api.post(f"/v1/customers/{customer}/cards", {"number": CARD})
    assert card.status_code == 201, card.text
    accrual = await api.accrue(customer, 100)
    hold = await api.reserve(customer, 30)
    assert hold.status_code == 201, hold.text
    return World(customer, hold.json()["id"], accrual["id"])


def path_of(endpoint: str, world: World) -> str:
    return {
        "accruals": f"/v1/customers/{world.customer}/accruals",
        "holds": f"/v1/customers/{world.customer}/holds",
        "commit": f"/v1/holds/{world.hold}/commit",
        "refunds": f"/v1/operations/{world.accrual}/refunds",
        "adjustments": f"/v1/customers/{world.customer}/adjustments",
        "customers": "/v1/customers",
        "cards": f"/v1/customers/{world.customer}/cards",
        "card-block": f"/v1/cards/{CARD}/block",
    }[endpoint]


async def send(api: Api, world: World, case: Case) -> Any:
    key = api.admin_key if case.endpoint == "adjustments" else api.pos_key
    path = path_of(case.endpoint, world)
    if isinstance(case.body, bytes):
        headers = api.headers(key, case.idempotency_key) | {"Content-Type": "application/json"}
        return await api.client.post(path, content=case.body, headers=headers)
    return await api.post(path, case.body, key=key, idempotency_key=case.idempotency_key)


async def snapshot(api: Api, world: World) -> dict[str, Any]:
    """Everything a bad request could have touched, as the API shows it."""
    statement = await api.get(f"/v1/customers/{world.customer}/operations", limit=100)
    customer = await api.get(f"/v1/customers/{world.customer}")
    hold = await api.get(f"/v1/holds/{world.hold}")
    card = await api.get(f"/v1/cards/{CARD}")
    new_customer = await api.get("/v1/customers", phone=NEW_PHONE)
    new_card = await api.get(f"/v1/cards/{NEW_CARD}")
    return {
        "balance": await api.balance(world.customer),
        "statement": statement.json()["items"],
        "customer": customer.json(),
        "hold": hold.json(),
        "card": card.json(),
        "new_customer": new_customer.status_code,
        "new_card": new_card.status_code,
    }


@pytest.mark.parametrize("case", CASES)
async def test_bad_input_is_refused_and_changes_nothing(api: Api, world: World, case: Case) -> None:
    before = await snapshot(api, world)

    response = await send(api, world, case)

    assert response.status_code == case.status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert (problem["status"], problem["code"]) == (case.status, case.code)
    if case.field is not None:
        assert problem.get("field") == case.field, problem
    assert await snapshot(api, world) == before


@pytest.mark.parametrize("endpoint", list(VALID))
async def test_the_valid_body_each_bad_case_departs_from_is_applied(
    api: Api, world: World, endpoint: str
) -> None:
    """The control for the table above: only the bad part of a request makes it fail."""
    before = await snapshot(api, world)

    response = await send(api, world, Case(endpoint, VALID[endpoint], None))

    assert response.status_code in (200, 201), response.text
    assert await snapshot(api, world) != before


async def test_a_body_of_exactly_64_kib_is_read_and_one_byte_more_is_not(
    api: Api, world: World
) -> None:
    path = path_of("accruals", world)
    json_type = {"Content-Type": "application/json"}
    at_limit = await api.client.post(
        path, content=padded_to(BODY_LIMIT), headers=api.headers() | json_type
    )
    over = await api.client.post(
        path, content=padded_to(BODY_LIMIT + 1), headers=api.headers() | json_type
    )
    assert (at_limit.status_code, at_limit.json()["field"]) == (400, "padding")
    assert (over.status_code, over.json()["code"]) == (413, "payload_too_large")


async def test_an_idempotency_key_of_255_visible_characters_is_accepted(
    api: Api, world: World
) -> None:
    key = "".join(chr(33 + i % 94) for i in range(255))
    response = await api.post(path_of("accruals", world), VALID["accruals"], idempotency_key=key)
    assert response.status_code == 201, response.text
    assert (await api.balance(world.customer))["available"] == 80


@pytest.mark.parametrize(
    ("params", "field"),
    [
        pytest.param({"limit": 0}, "limit", id="limit-zero"),
        pytest.param({"limit": 101}, "limit", id="limit-above-100"),
        pytest.param({"limit": -1}, "limit", id="limit-negative"),
        pytest.param({"limit": "ten"}, "limit", id="limit-not-a-number"),
        pytest.param({"cursor": "zzz"}, "cursor", id="cursor-garbage"),
        pytest.param({"cursor": "aWQ6NQ"}, "cursor", id="cursor-of-another-kind"),
        pytest.param({"cursor": "c2VxOjA"}, "cursor", id="cursor-seq-zero"),
        pytest.param({"cursor": "c" * 65}, "cursor", id="cursor-too-long"),
    ],
)
async def test_a_bad_statement_query_is_refused(
    api: Api, world: World, params: dict[str, Any], field: str
) -> None:
    before = await snapshot(api, world)
    response = await api.get(f"/v1/customers/{world.customer}/operations", **params)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert (response.json()["code"], response.json()["field"]) == ("validation_error", field)
    assert await snapshot(api, world) == before


@pytest.mark.parametrize("limit", [1, 100])
async def test_statement_limits_at_the_bounds_are_served(
    api: Api, world: World, limit: int
) -> None:
    response = await api.get(f"/v1/customers/{world.customer}/operations", limit=limit)
    assert response.status_code == 200, response.text
    assert len(response.json()["items"]) == min(limit, 2)


async def test_a_wrong_method_is_405_with_the_allowed_ones(api: Api, world: World) -> None:
    before = await snapshot(api, world)
    response = await api.client.put(
        f"/v1/customers/{world.customer}/accruals", json=VALID["accruals"], headers=api.headers()
    )
    assert response.status_code == 405, response.text
    assert response.json()["code"] == "method_not_allowed"
    assert "POST" in response.headers["allow"]
    assert await snapshot(api, world) == before


@pytest.mark.parametrize(
    ("body", "scopes_ok"),
    [([], False), (["pos", "bank"], False), (["pos", "pos"], True)],
    ids=["no-scope", "unknown-scope", "repeated-scope"],
)
async def test_api_key_scopes_are_validated(api: Api, body: list[str], scopes_ok: bool) -> None:
    response = await api.post(
        "/v1/api-keys",
        {"program_id": api.program_id, "name": "till", "scopes": body},
        key=api.admin_key,
    )
    if scopes_ok:
        assert (response.status_code, response.json()["scopes"]) == (201, ["pos"])
    else:
        assert response.status_code == 400, response.text
        assert response.json()["field"].startswith("scopes")
