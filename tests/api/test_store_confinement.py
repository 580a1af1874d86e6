"""A store's till key is confined to its own store on every call by id: another store's holds,
operations and SMS checks answer 404 exactly as another program's do and stay unchanged, and
the statement shows another store's operations without the ids and documents that would let a
till act on them."""

from typing import Any, NamedTuple

import pytest

from processing.service.admin import create_key
from tests.conftest import Api
from tests.invariants import assert_ledger_clean


class StoreB(NamedTuple):
    """A second store of the same program, with what its till did for one customer."""

    key: str
    customer: str
    accrual: str
    redemption: str
    hold: str


def not_found(response: Any) -> None:
    assert response.status_code == 404, response.text
    assert response.json()["code"] in ("not_found", "hold_not_found")


@pytest.fixture
async def store_b(api: Api) -> StoreB:
    async with api.runtime.database.transaction() as store:
        created = await create_key(store, api.program_id_uuid, "till B", ["pos"], "store-b")
    assert created.key is not None
    key = created.key
    customer = await api.customer(points=0)
    accrual = await api.post(
        f"/v1/customers/{customer}/accruals",
        {"points": 500, "document": {"id": "B-1", "name": "receipt B-1"}},
        key=key,
    )
    assert accrual.status_code == 201, accrual.text
    spent = await api.post(
        f"/v1/customers/{customer}/holds", {"points": 50, "document": {"id": "B-2"}}, key=key
    )
    assert spent.status_code == 201, spent.text
    committed = await api.post(f"/v1/holds/{spent.json()['id']}/commit", {}, key=key)
    assert committed.status_code == 200, committed.text
    hold = await api.post(
        f"/v1/customers/{customer}/holds", {"points": 30, "document": {"id": "B-3"}}, key=key
    )
    assert hold.status_code == 201, hold.text
    return StoreB(key, customer, accrual.json()["id"], committed.json()["id"], hold.json()["id"])


async def as_store_b_sees_it(api: Api, b: StoreB) -> dict[str, Any]:
    paths = {
        "balance": f"/v1/customers/{b.customer}/balance",
        "statement": f"/v1/customers/{b.customer}/operations",
        "hold": f"/v1/holds/{b.hold}",
        "accrual": f"/v1/operations/{b.accrual}",
        "redemption": f"/v1/operations/{b.redemption}",
    }
    seen = {}
    for name, path in paths.items():
        response = await api.get(path, key=b.key)
        assert response.status_code == 200, response.text
        seen[name] = response.json()
    return seen


async def test_another_stores_hold_cannot_be_read_cancelled_or_committed(
    api: Api, store_b: StoreB
) -> None:
    before = await as_store_b_sees_it(api, store_b)

    not_found(await api.get(f"/v1/holds/{store_b.hold}"))
    not_found(await api.post(f"/v1/holds/{store_b.hold}/cancel"))
    not_found(await api.post(f"/v1/holds/{store_b.hold}/commit", {}))
    not_found(await api.post(f"/v1/holds/{store_b.hold}/commit", {"points": 10}))

    assert await as_store_b_sees_it(api, store_b) == before
    assert before["hold"]["status"] == "active"
    await assert_ledger_clean(api.runtime)


async def test_another_stores_operations_cannot_be_read_or_refunded(
    api: Api, store_b: StoreB
) -> None:
    before = await as_store_b_sees_it(api, store_b)

    for operation in (store_b.accrual, store_b.redemption):
        not_found(await api.get(f"/v1/operations/{operation}"))
        not_found(
            await api.post(
                f"/v1/operations/{operation}/refunds",
                {"points": 10, "document": {"id": f"R-{operation}"}},
            )
        )
    not_found(
        await api.post(f"/v1/operations/{store_b.accrual}/refunds", {"document": {"id": "R-whole"}})
    )

    assert await as_store_b_sees_it(api, store_b) == before
    await assert_ledger_clean(api.runtime)


async def test_the_own_store_and_keys_that_span_stores_still_act(api: Api, store_b: StoreB) -> None:
    """The control: the same calls that answer 404 to store A work for store B and an
    operator, so the 404s above come from the store, not from a broken call."""
    refund = await api.post(
        f"/v1/operations/{store_b.accrual}/refunds",
        {"points": 10, "document": {"id": "R-own"}},
        key=store_b.key,
    )
    assert refund.status_code == 201, refund.text
    read = await api.get(f"/v1/holds/{store_b.hold}", key=api.admin_key)
    assert read.status_code == 200, read.text
    cancel = await api.post(f"/v1/holds/{store_b.hold}/cancel", key=store_b.key)
    assert cancel.status_code == 200, cancel.text
    assert (await api.get(f"/v1/customers/{store_b.customer}/balance")).json()["available"] == 440


async def test_the_statement_hides_what_would_let_a_till_act_on_another_stores_cheques(
    api: Api, store_b: StoreB
) -> None:
    own = await api.accrue(store_b.customer, 7)
    operator = await api.post(
        f"/v1/customers/{store_b.customer}/adjustments",
        {"points": 3, "reason": "goodwill"},
        key=api.admin_key,
    )
    assert operator.status_code == 201, operator.text
    refund = await api.post(
        f"/v1/operations/{store_b.accrual}/refunds",
        {"points": 5, "document": {"id": "R-B"}},
        key=store_b.key,
    )
    assert refund.status_code == 201, refund.text

    path = f"/v1/customers/{store_b.customer}/operations"
    seen_by_a = (await api.get(path)).json()["items"]
    seen_by_b = (await api.get(path, key=store_b.key)).json()["items"]
    seen_by_operator = (await api.get(path, key=api.admin_key)).json()["items"]

    hidden = ("hold_id", "key_id", "refund_of", "document", "reason")
    full = {item["id"]: item for item in seen_by_operator}
    assert [item["id"] for item in seen_by_a] == list(full)
    for seen_by, own_store in ((seen_by_a, "store-1"), (seen_by_b, "store-b")):
        for item in seen_by:
            if item["store_id"] in (None, own_store):
                assert item == full[item["id"]]
                continue
            assert all(item[name] is None for name in hidden), item
            shown = {name: value for name, value in full[item["id"]].items() if name not in hidden}
            assert {name: value for name, value in item.items() if name not in hidden} == shown
    assert full[own["id"]]["document"] is not None
    assert full[own["id"]]["key_id"] is not None
    [adjusted] = [item for item in seen_by_a if item["id"] == operator.json()["id"]]
    assert (adjusted["store_id"], adjusted["reason"]) == (None, "goodwill")
    assert full[refund.json()["id"]]["refund_of"] == store_b.accrual
    assert [item["hold_id"] is not None for item in seen_by_b].count(True) == 3
    assert [item["hold_id"] is not None for item in seen_by_a].count(True) == 0


async def test_another_stores_sms_check_cannot_be_confirmed(api: Api, store_b: StoreB) -> None:
    api.runtime.sms.codes = lambda: "424242"
    sent = await api.post("/pos/v1/sms-codes", {"customer_id": store_b.customer}, key=store_b.key)
    assert sent.status_code == 201, sent.text
    check = sent.json()["check_id"]

    foreign = await api.post(f"/pos/v1/sms-codes/{check}/confirm", {"code": "000000"})
    not_found(foreign)
    foreign_right = await api.post(f"/pos/v1/sms-codes/{check}/confirm", {"code": "424242"})
    not_found(foreign_right)

    # The wrong try of store A counted nothing: store B still has every try and the right code.
    confirmed = await api.post(
        f"/pos/v1/sms-codes/{check}/confirm", {"code": "424242"}, key=store_b.key
    )
    assert confirmed.status_code == 200, confirmed.text
    attempts = await api.runtime.pool.fetchval(
        "select attempts from sms_checks where id = $1", check
    )
    assert attempts == 0
