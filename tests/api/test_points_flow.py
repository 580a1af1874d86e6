"""The points lifecycle through the HTTP API: enroll, accrue, reserve, commit, cancel, refund,
with the balance and the statement a cashier and an accountant rely on."""

from typing import Any

from tests.conftest import Api
from tests.invariants import assert_ledger_clean


async def test_enrollment_normalizes_phone_and_refuses_a_second_enrollment(api: Api) -> None:
    created = await api.post("/v1/customers", {"phone": "8 (912) 345-67-89", "name": "Ivan"})
    assert created.status_code == 201
    assert created.json()["phone"] == "+79123456789"

    again = await api.post("/v1/customers", {"phone": "+7 912 345 67 89"})
    assert again.status_code == 409
    assert again.json()["code"] == "customer_exists"
    assert again.json()["customer_id"] == created.json()["id"]

    found = await api.get("/v1/customers", phone="89123456789")
    assert found.json()["id"] == created.json()["id"]


async def test_reserve_commit_part_releases_the_rest(api: Api) -> None:
    customer = await api.customer(points=150)
    hold = await api.reserve(customer, 100)
    assert hold.status_code == 201
    assert hold.json()["status"] == "active"
    assert await api.balance(customer) == {
        "available": 50,
        "reserved": 100,
        "pending": 0,
        "expiring": [],
        "debt": 0,
    }

    committed = await api.post(f"/v1/holds/{hold.json()['id']}/commit", {"points": 60})
    assert committed.status_code == 200
    assert committed.json()["type"] == "commit"
    assert committed.json()["points"] == -60
    assert committed.json()["available_after"] == 90
    balance = await api.balance(customer)
    assert (balance["available"], balance["reserved"]) == (90, 0)

    shown = await api.get(f"/v1/holds/{hold.json()['id']}")
    assert shown.json()["status"] == "committed"
    assert shown.json()["committed_points"] == 60


async def test_a_partial_commit_releases_the_earmarks_of_lots_it_did_not_spend(api: Api) -> None:
    customer = await api.customer()
    await api.accrue(customer, 30, expires_at="2099-01-01T00:00:00Z")
    await api.accrue(customer, 30, expires_at="2099-06-01T00:00:00Z")
    hold = await api.reserve(customer, 50)  # 30 from the first lot, 20 from the second

    committed = await api.post(f"/v1/holds/{hold.json()['id']}/commit", {"points": 10})

    assert committed.status_code == 200
    assert await api.balance(customer) == {
        "available": 50,
        "reserved": 0,
        "pending": 0,
        "expiring": [
            {"points": 20, "expires_at": "2099-01-01T00:00:00Z"},
            {"points": 30, "expires_at": "2099-06-01T00:00:00Z"},
        ],
        "debt": 0,
    }
    assert (await api.reserve(customer, 50)).status_code == 201
    await assert_ledger_clean(api.runtime)


async def test_cancel_releases_and_a_second_resolution_is_refused(api: Api) -> None:
    customer = await api.customer(points=40)
    hold = (await api.reserve(customer, 30)).json()
    cancelled = await api.post(f"/v1/holds/{hold['id']}/cancel")
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled"
    assert (await api.balance(customer))["available"] == 40

    commit = await api.post(f"/v1/holds/{hold['id']}/commit")
    assert commit.status_code == 409
    assert commit.json()["code"] == "hold_already_cancelled"
    again = await api.post(f"/v1/holds/{hold['id']}/cancel")
    assert again.json()["code"] == "hold_already_cancelled"


async def test_insufficient_points_changes_nothing(api: Api) -> None:
    customer = await api.customer(points=10)
    refused = await api.reserve(customer, 11)
    assert refused.status_code == 409
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert refused.json()["code"] == "insufficient_points"
    assert (await api.balance(customer))["available"] == 10
    statement = (await api.get(f"/v1/customers/{customer}/operations")).json()
    assert [item["type"] for item in statement["items"]] == ["accrual"]


async def test_refund_of_a_redemption_returns_points_up_to_the_original(api: Api) -> None:
    customer = await api.customer(points=100)
    hold = (await api.reserve(customer, 80)).json()
    commit = (await api.post(f"/v1/holds/{hold['id']}/commit")).json()

    first = await api.post(
        f"/v1/operations/{commit['id']}/refunds", {"points": 30, "document": {"id": "return-1"}}
    )
    assert first.status_code == 201
    assert first.json()["points"] == 30
    assert (await api.balance(customer))["available"] == 50

    too_much = await api.post(
        f"/v1/operations/{commit['id']}/refunds", {"points": 51, "document": {"id": "return-2"}}
    )
    assert too_much.status_code == 409
    assert too_much.json()["code"] == "refund_exceeds_original"

    rest = await api.post(
        f"/v1/operations/{commit['id']}/refunds", {"document": {"id": "return-3"}}
    )
    assert rest.json()["points"] == 50
    assert (await api.balance(customer))["available"] == 100
    original = (await api.get(f"/v1/operations/{commit['id']}")).json()
    assert original["status"] == "refunded"
    assert original["refunded_points"] == 80


async def test_refund_of_an_accrual_claws_the_points_back(api: Api) -> None:
    customer = await api.customer()
    accrual = await api.accrue(customer, 70)
    await api.accrue(customer, 20)
    clawed = await api.post(
        f"/v1/operations/{accrual['id']}/refunds", {"points": 70, "document": {"id": "ret"}}
    )
    assert clawed.status_code == 201
    assert clawed.json()["points"] == -70
    assert (await api.balance(customer))["available"] == 20


async def test_a_document_applies_once_even_under_a_new_idempotency_key(api: Api) -> None:
    customer = await api.customer()
    body = {"points": 5, "document": {"id": "receipt-77"}}
    first = await api.post(f"/v1/customers/{customer}/accruals", body)
    second = await api.post(f"/v1/customers/{customer}/accruals", body)
    assert first.status_code == 201
    assert second.status_code == 409
    assert second.json()["code"] == "duplicate_document"
    assert second.json()["operation_id"] == first.json()["id"]
    assert (await api.balance(customer))["available"] == 5


async def test_pending_points_are_visible_but_not_spendable(api: Api) -> None:
    customer = await api.customer()
    await api.accrue(customer, 25, activates_at="2099-01-01T00:00:00Z")
    balance = await api.balance(customer)
    assert (balance["available"], balance["pending"]) == (0, 25)
    refused = await api.reserve(customer, 1)
    assert refused.json()["code"] == "insufficient_points"


async def test_statement_pages_newest_first_with_document_and_key(api: Api) -> None:
    customer = await api.customer()
    for _ in range(5):
        await api.accrue(customer, 1)
    pages: list[dict[str, Any]] = []
    cursor = None
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = (await api.get(f"/v1/customers/{customer}/operations", **params)).json()
        pages.extend(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert [item["available_after"] for item in pages] == [5, 4, 3, 2, 1]
    assert all(item["document"]["id"].startswith("receipt-") for item in pages)
    assert all(item["channel"] == "pos" and item["key_id"] for item in pages)


async def test_expiring_points_are_listed_soonest_first(api: Api) -> None:
    customer = await api.customer()
    await api.accrue(customer, 5, expires_at="2098-01-01T00:00:00Z")
    await api.accrue(customer, 7, expires_at="2097-01-01T00:00:00Z")
    await api.accrue(customer, 9)
    balance = await api.balance(customer)
    assert balance["available"] == 21
    assert balance["expiring"] == [
        {"points": 7, "expires_at": "2097-01-01T00:00:00Z"},
        {"points": 5, "expires_at": "2098-01-01T00:00:00Z"},
    ]
