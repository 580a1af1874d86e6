"""The published OpenAPI (``/schema/openapi.json``) states what the server does: every operation
has a description, declares the ``Idempotency-Key`` it requires, answers errors as problem+json
with our codes, and declares every status its kind of route can answer; public routes need no
key. Run this after adding a route, a status or a rejection code (``api/contract.py``)."""

from typing import Any

import pytest
from litestar.testing import TestClient

from api import contract
from api.app import create_app
from api.errors import PROBLEMS, problem_media_type
from processing.core.rejections import Rejection
from processing.settings import Settings

Operation = tuple[str, str, dict[str, Any]]


@pytest.fixture(scope="module")
def client() -> Any:
    settings = Settings(database_url="postgresql://unused/unused", redis_url="redis://unused")
    with TestClient(create_app(settings, runtime=object())) as client:  # type: ignore[arg-type]
        yield client


@pytest.fixture(scope="module")
def spec(client: Any) -> dict[str, Any]:
    response = client.get("/schema/openapi.json")
    assert response.status_code == 200
    document: dict[str, Any] = response.json()
    return document


def operations(spec: dict[str, Any]) -> list[Operation]:
    return [
        (method, path, operation)
        for path, item in spec["paths"].items()
        for method, operation in item.items()
    ]


def is_public(operation: dict[str, Any]) -> bool:
    return operation.get("security") == []


def test_every_operation_is_described_and_named(spec: dict[str, Any]) -> None:
    for method, path, operation in operations(spec):
        assert operation.get("description", "").strip(), f"{method} {path} has no docstring"
    names = [operation["operationId"] for _, _, operation in operations(spec)]
    assert len(names) == len(set(names))
    assert set(contract.ROUTES) <= set(names), "api/contract.py names a route that is gone"


def test_mutating_calls_require_an_idempotency_key(spec: dict[str, Any]) -> None:
    for method, path, operation in operations(spec):
        headers = {
            parameter["name"]: parameter
            for parameter in operation.get("parameters", [])
            if parameter["in"] == "header"
        }
        route = contract.route_of(operation["operationId"])
        expected = (
            route.idempotent
            if route.idempotent is not None
            else method in contract.mutating_methods and not is_public(operation)
        )
        assert ("Idempotency-Key" in headers) == expected, f"{method} {path}"
        if expected:
            assert headers["Idempotency-Key"]["required"] is True
            assert headers["Idempotency-Key"]["schema"]["maxLength"] == 255


def test_errors_are_problems_with_every_code(spec: dict[str, Any]) -> None:
    problem = {"$ref": "#/components/schemas/Problem"}
    for method, path, operation in operations(spec):
        for status, response in operation["responses"].items():
            if int(status) >= 400:
                assert response["content"] == {problem_media_type: {"schema": problem}}, (
                    f"{method} {path} {status}"
                )
    schemas = spec["components"]["schemas"]
    assert schemas["Problem"]["properties"]["code"] == {"$ref": "#/components/schemas/ProblemCode"}
    assert set(schemas["ProblemCode"]["enum"]) == {
        rejection.value for rejection in Rejection
    } | set(contract.service_codes)


def test_every_rejection_status_is_declared_somewhere(spec: dict[str, Any]) -> None:
    declared = {
        int(status) for _, _, operation in operations(spec) for status in operation["responses"]
    }
    for rejection, (status, _) in PROBLEMS.items():
        if rejection is Rejection.method_not_allowed:
            continue  # a method the path does not serve: no operation to declare it on
        assert status in declared, (
            f"{rejection.value} answers {status}, which no route declares: add it to the route "
            "that answers it, or to a default set, in api/contract.py"
        )


def test_authenticated_routes_declare_the_default_statuses(spec: dict[str, Any]) -> None:
    for method, path, operation in operations(spec):
        statuses = {int(status) for status in operation["responses"]}
        assert contract.every_route_statuses <= statuses, f"{method} {path}"
        if not is_public(operation):
            assert contract.authenticated_statuses <= statuses, f"{method} {path}"
            assert {401, 403} <= statuses


def test_health_probes_partner_receivers_and_unsubscribe_need_no_key(
    spec: dict[str, Any], client: Any
) -> None:
    public = {path for _, path, operation in operations(spec) if is_public(operation)}
    assert {"/health/live", "/health/ready"} <= public
    assert {path for path in public if path.startswith("/hooks/")} == {
        f"/hooks/{partner}/{{connection_id}}"
        for partner in ("bitrix24", "retailcrm", "shopify", "woocommerce")
    }
    # The Bitrix24 application's install handler and events: verified by the link and the
    # application token (docs/decisions/0021).
    assert {path for path in public if path.startswith("/apps/")} == {
        "/apps/bitrix24/install/{token}",
        "/apps/bitrix24/events",
    }
    assert "/v1/unsubscribe/{token}" in public  # the signed token is the authority
    # Apple's PassKit web service: each pass's own token, or the device's identifier
    # (docs/decisions/0029).
    assert {path for path in public if path.startswith("/passkit/")} == {
        "/passkit/v1/devices/{device}/registrations/{pass_type}/{serial}",
        "/passkit/v1/devices/{device}/registrations/{pass_type}",
        "/passkit/v1/passes/{pass_type}/{serial}",
        "/passkit/v1/log",
    }
    assert all(
        path.startswith(("/health/", "/hooks/", "/apps/", "/passkit/"))
        or path == "/v1/unsubscribe/{token}"
        for path in public
    )
    live = client.get("/health/live")
    assert (live.status_code, live.json()["status"]) == (200, "ok")


def test_bodies_are_described_as_the_server_decodes_them(spec: dict[str, Any]) -> None:
    schemas = spec["components"]["schemas"]
    assert schemas["CustomerCreate"]["additionalProperties"] is False
    assert schemas["Document"]["additionalProperties"] is False
    scopes = schemas["ApiKeyCreate"]["properties"]["scopes"]
    assert (scopes["minItems"], scopes["maxItems"]) == (1, 4)
    assert schemas["AdjustmentCreate"]["properties"]["points"]["not"] == {"const": 0}
    cheque = spec["paths"]["/pos/v1/cheques/{cheque_id}/commit"]["post"]["parameters"][0]
    assert cheque["schema"]["maxLength"] == 128


def test_every_reference_resolves(spec: dict[str, Any]) -> None:
    from api.openapi import referenced

    assert referenced(spec) <= set(spec["components"]["schemas"])
