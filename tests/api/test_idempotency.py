"""Idempotency-Key semantics: the same request answers the stored bytes (rejections included),
another body under the same key is refused, and keys are scoped to the API key."""

from processing.service.admin import create_key
from tests.conftest import Api, make_program


async def test_replay_returns_the_stored_bytes_and_applies_once(api: Api) -> None:
    customer = await api.customer()
    body = {"points": 12, "document": {"id": "r-1", "comment": "first"}}
    first = await api.post(f"/v1/customers/{customer}/accruals", body, idempotency_key="k-1")
    again = await api.post(f"/v1/customers/{customer}/accruals", body, idempotency_key="k-1")
    assert first.status_code == again.status_code == 201
    assert again.content == first.content
    assert again.headers["idempotent-replayed"] == "true"
    assert (await api.balance(customer))["available"] == 12


async def test_same_json_with_other_formatting_is_the_same_request(api: Api) -> None:
    customer = await api.customer()
    path = f"/v1/customers/{customer}/accruals"
    headers = api.headers(idempotency_key="k-fmt")
    compact = b'{"points":3,"document":{"id":"r-9"}}'
    spaced = b'{ "document": {"id": "r-9"},  "points": 3 }'
    first = await api.client.post(path, content=compact, headers=headers)
    second = await api.client.post(path, content=spaced, headers=headers)
    assert first.status_code == 201
    assert second.content == first.content


async def test_a_rejection_is_replayed_even_after_the_balance_changes(api: Api) -> None:
    customer = await api.customer(points=5)
    body = {"points": 10, "document": {"id": "r-2"}}
    refused = await api.post(f"/v1/customers/{customer}/holds", body, idempotency_key="k-2")
    assert refused.json()["code"] == "insufficient_points"
    await api.accrue(customer, 100)
    replay = await api.post(f"/v1/customers/{customer}/holds", body, idempotency_key="k-2")
    assert replay.status_code == 409
    assert replay.content == refused.content
    assert (await api.balance(customer))["reserved"] == 0


async def test_same_key_with_another_body_is_refused_and_changes_nothing(api: Api) -> None:
    customer = await api.customer(points=50)
    path = f"/v1/customers/{customer}/holds"
    first = await api.post(path, {"points": 10, "document": {"id": "r-3"}}, idempotency_key="k-3")
    other = await api.post(path, {"points": 20, "document": {"id": "r-3"}}, idempotency_key="k-3")
    assert first.status_code == 201
    assert other.status_code == 422
    assert other.json()["code"] == "idempotency_key_reused"
    assert (await api.balance(customer))["reserved"] == 10


async def test_same_key_on_another_endpoint_is_another_request(api: Api) -> None:
    customer = await api.customer(points=50)
    hold = (await api.reserve(customer, 10)).json()
    await api.post(f"/v1/holds/{hold['id']}/commit", idempotency_key="k-4")
    other = await api.post(f"/v1/holds/{hold['id']}/cancel", idempotency_key="k-4")
    assert other.json()["code"] == "idempotency_key_reused"


async def test_keys_are_scoped_to_the_api_key(api: Api) -> None:
    customer = await api.customer()
    async with api.runtime.database.transaction() as store:
        second = await create_key(store, api.program_id_uuid, "till 2", ["pos"], "store-2")
    body = {"points": 4, "document": {"id": "r-5"}}
    path = f"/v1/customers/{customer}/accruals"
    one = await api.post(path, body, idempotency_key="shared")
    two = await api.post(path, body, key=second.key, idempotency_key="shared")
    assert one.status_code == two.status_code == 201
    assert one.json()["id"] != two.json()["id"]
    assert (await api.balance(customer))["available"] == 8


async def test_another_programs_key_cannot_replay_a_stored_answer(api: Api) -> None:
    customer = await api.customer()
    _, _, other_pos = await make_program(api.runtime, "Other")
    body = {"points": 4, "document": {"id": "r-6"}}
    path = f"/v1/customers/{customer}/accruals"
    mine = await api.post(path, body, idempotency_key="shared")
    theirs = await api.post(path, body, key=other_pos, idempotency_key="shared")
    assert mine.status_code == 201
    assert theirs.status_code == 404
    assert theirs.json()["code"] == "not_found"


async def test_a_new_api_key_secret_is_shown_once_and_never_stored_in_clear(api: Api) -> None:
    body = {"program_id": api.program_id, "name": "till 7", "scopes": ["pos"]}
    first = await api.post("/v1/api-keys", body, key=api.admin_key, idempotency_key="key-1")
    again = await api.post("/v1/api-keys", body, key=api.admin_key, idempotency_key="key-1")

    secret = first.json()["key"]
    assert first.status_code == again.status_code == 201
    assert again.json() == {**first.json(), "key": None}
    stored = await api.runtime.pool.fetch("select body from idempotency_keys")
    assert not [row for row in stored if secret.encode() in bytes(row["body"])]
    customer = await api.post("/v1/customers", {"phone": "+79120000555"}, key=secret)
    assert customer.status_code == 201
