"""Merging two records of one person: the survivor takes the other's points lot by lot (each
with its own activation and expiry), debt, cards, purchases and history; the merged id, phone and
operations keep resolving to the survivor; every refusal changes nothing; and the books
reconcile after each step."""

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from processing.service.ledger.reconcile import reconcile
from tests.api.test_auth_and_tenancy import assert_problem, make_key
from tests.api.test_consent_and_erasure import erase
from tests.api.test_loyalty_rules_and_checkout import receipt_line
from tests.api.test_purchases import purchase
from tests.api.test_returns_by_line import bought_and_spent, return_lines
from tests.conftest import Api, make_program
from tests.invariants import assert_ledger_clean


async def merge(api: Api, survivor: str, merged: str, **kwargs: Any) -> Any:
    return await api.post(
        f"/v1/customers/{survivor}/merge",
        {"from_customer_id": merged, "reason": kwargs.get("reason", "one person, two records")},
        key=kwargs.get("key", api.admin_key),
        idempotency_key=kwargs.get("idempotency_key", "auto"),
    )


async def enroll(api: Api, phone: str, card: str | None = None) -> str:
    body: dict[str, Any] = {"phone": phone} | ({"card_number": card} if card else {})
    enrolled = await api.post("/v1/customers", body)
    assert enrolled.status_code == 201, enrolled.text
    return str(enrolled.json()["id"])


async def lots(api: Api, customer: str) -> list[tuple[Any, ...]]:
    """The open lots on the customer's own account, with their dates."""
    async with api.runtime.pool.acquire() as connection:
        rows = await connection.fetch(
            "select id, remaining, activates_at, expires_at from lots"
            " where account_id = $1 and open order by id",
            customer,
        )
    return [tuple(row) for row in rows]


async def statement(api: Api, customer: str, **params: Any) -> dict[str, Any]:
    response = await api.get(f"/v1/customers/{customer}/operations", **params)
    assert response.status_code == 200, response.text
    page: dict[str, Any] = response.json()
    return page


async def spend(api: Api, customer: str, points: int) -> dict[str, Any]:
    hold = await api.reserve(customer, points)
    assert hold.status_code == 201, hold.text
    committed = await api.post(f"/v1/holds/{hold.json()['id']}/commit", {})
    assert committed.status_code == 200, committed.text
    result: dict[str, Any] = committed.json()
    return result


async def test_a_merge_moves_every_lot_with_its_dates_and_the_cards_and_history(
    api: Api,
) -> None:
    survivor = await enroll(api, "+79126000001", "S-1")
    duplicate = await enroll(api, "+79126000002", "D-1")
    await api.accrue(survivor, 30)
    expires = (datetime.now(UTC) + timedelta(days=40)).replace(microsecond=0)
    activates = (datetime.now(UTC) + timedelta(days=3)).replace(microsecond=0)
    await api.accrue(duplicate, 100, expires_at=expires.isoformat())
    await api.accrue(duplicate, 50, activates_at=activates.isoformat())
    await spend(api, duplicate, 20)
    duplicate_lots = await lots(api, duplicate)
    duplicate_history = [item["id"] for item in (await statement(api, duplicate))["items"]]

    answer = await merge(api, survivor, duplicate)

    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["merged_customer_id"], body["points"], body["debt"], body["lots"]) == (
        duplicate,
        130,
        0,
        2,
    )
    assert body["customer"]["id"] == survivor
    assert {card["number"] for card in body["customer"]["cards"]} == {"S-1", "D-1"}
    # Each lot kept its own activation and expiry: the duplicate's lots, as they were.
    survivor_lots = await lots(api, survivor)
    for lot in duplicate_lots:
        assert lot in survivor_lots
    assert len(survivor_lots) == len(duplicate_lots) + 1
    assert await lots(api, duplicate) == []
    balance = await api.balance(survivor)
    assert (balance["available"], balance["pending"]) == (30 + 80, 50)
    # The merged id, phone and card resolve to the survivor.
    assert (await api.get(f"/v1/customers/{duplicate}")).json() == (
        await api.get(f"/v1/customers/{survivor}")
    ).json()
    assert (await api.balance(duplicate)) == balance
    by_phone = await api.get("/v1/customers", phone="+79126000002")
    by_card = await api.get("/v1/customers", card="D-1")
    assert (by_phone.json()["id"], by_card.json()["id"]) == (survivor, survivor)
    # The survivor's statement holds both histories and the merge, newest first.
    items = (await statement(api, survivor))["items"]
    assert items[0]["type"] == "merge"
    assert (items[0]["points"], items[0]["customer_id"]) == (130, survivor)
    assert set(duplicate_history) <= {item["id"] for item in items}
    assert (await statement(api, duplicate))["items"] == items
    paged = await statement(api, survivor, limit=2)
    rest = await statement(api, survivor, limit=50, cursor=paged["next_cursor"])
    assert [item["id"] for item in paged["items"] + rest["items"]] == [i["id"] for i in items]
    changes = (await api.get(f"/v1/customers/{survivor}/changes", key=api.admin_key)).json()
    assert changes["items"][0]["changes"] == {"merged_from": {"from": None, "to": duplicate}}
    # The merged record is no longer listed: the program has one customer for the person.
    listed = await api.get(f"/v1/programs/{api.program_id}/customers", key=api.admin_key)
    assert [item["id"] for item in listed.json()["items"]] == [survivor]
    await assert_ledger_clean(api.runtime)


async def test_writes_through_the_merged_id_land_on_the_survivor(api: Api) -> None:
    survivor = await enroll(api, "+79126000011")
    duplicate = await enroll(api, "+79126000012")
    accrued = await api.accrue(duplicate, 100)
    redeemed = await spend(api, duplicate, 40)
    assert (await merge(api, survivor, duplicate)).status_code == 200

    # An accrual and a hold sent to the merged id are the survivor's.
    later = await api.accrue(duplicate, 25)
    assert later["customer_id"] == survivor
    hold = await api.reserve(duplicate, 10)
    assert hold.status_code == 201, hold.text
    assert hold.json()["customer_id"] == survivor
    cancelled = await api.post(f"/v1/holds/{hold.json()['id']}/cancel", {})
    assert cancelled.status_code == 200, cancelled.text
    # Refunds of the merged customer's old operations work on the lots they moved, now the
    # survivor's: the redemption's 40 points come back, the accrual's are clawed back.
    given_back = await api.post(
        f"/v1/operations/{redeemed['id']}/refunds",
        {"document": {"id": "RET-1"}},
    )
    assert given_back.status_code == 201, given_back.text
    assert (await api.balance(survivor))["available"] == 60 + 25 + 40
    clawed = await api.post(
        f"/v1/operations/{accrued['id']}/refunds", {"points": 30, "document": {"id": "RET-2"}}
    )
    assert clawed.status_code == 201, clawed.text
    assert clawed.json()["customer_id"] == survivor
    assert (await api.balance(survivor))["available"] == 60 + 25 + 40 - 30
    # The merge itself moved points between two accounts of one person: nothing to refund.
    merged = next(
        item for item in (await statement(api, survivor))["items"] if item["type"] == "merge"
    )
    not_refundable = await api.post(
        f"/v1/operations/{merged['id']}/refunds",
        {"document": {"id": "RET-3"}},
        key=api.admin_key,
    )
    assert_problem(not_refundable, 409, "operation_not_refundable")
    await assert_ledger_clean(api.runtime)


async def test_debt_and_purchases_move_to_the_survivor(api: Api) -> None:
    duplicate, purchase_id = await bought_and_spent(api, "debt")
    assert (await return_lines(api, purchase_id, [("brakes", 1)], "RET-1")).status_code == 201
    assert (await api.balance(duplicate))["debt"] == 80
    survivor = await enroll(api, "+79126000021")

    answer = await merge(api, survivor, duplicate)

    assert answer.status_code == 200, answer.text
    assert (answer.json()["points"], answer.json()["debt"]) == (0, 80)
    assert (await api.balance(survivor))["debt"] == 80
    await assert_ledger_clean(api.runtime)
    # The survivor's next purchase repays the debt first, as the duplicate's would have.
    later = await purchase(api, survivor, [receipt_line("wash", 2000)], "R-2")
    assert (later.json()["earned_points"], later.json()["debt_repaid"]) == (100, 80)
    assert (await api.balance(survivor))["debt"] == 0
    await assert_ledger_clean(api.runtime)


async def assert_unchanged(api: Api, balances: dict[str, dict[str, Any]]) -> None:
    for customer, balance in balances.items():
        assert await api.balance(customer) == balance
    async with api.runtime.pool.acquire() as connection:
        merges = await connection.fetchval("select count(*) from operations where type = 'merge'")
        merged = await connection.fetchval(
            "select count(*) from customers where merged_into is not null"
        )
    assert (merges, merged) == (0, 0)
    await assert_ledger_clean(api.runtime)


async def test_every_refused_merge_changes_nothing(api: Api) -> None:
    survivor = await enroll(api, "+79126000031")
    duplicate = await enroll(api, "+79126000032")
    erased = await enroll(api, "+79126000033")
    await api.accrue(survivor, 10)
    await api.accrue(duplicate, 20)
    assert (await erase(api, erased)).status_code == 200
    hold = await api.reserve(duplicate, 5)
    assert hold.status_code == 201
    balances = {customer: await api.balance(customer) for customer in (survivor, duplicate)}
    unknown = "00000000-0000-4000-8000-000000000000"

    assert_problem(await merge(api, survivor, survivor), 400, "validation_error")
    assert_problem(await merge(api, survivor, unknown), 404, "not_found")
    assert_problem(await merge(api, unknown, duplicate), 404, "not_found")
    assert_problem(await merge(api, survivor, duplicate), 409, "customer_has_active_holds")
    assert_problem(await merge(api, survivor, erased), 409, "customer_erased")
    assert_problem(await merge(api, erased, survivor), 409, "customer_erased")
    assert_problem(await merge(api, survivor, duplicate, key=api.pos_key), 403, "forbidden_scope")
    bad = await api.post(
        f"/v1/customers/{survivor}/merge", {"from_customer_id": duplicate}, key=api.admin_key
    )
    assert_problem(bad, 400, "validation_error")
    await assert_unchanged(api, balances)

    # Once the hold is gone the merge goes through; a second one of either way is refused.
    assert (await api.post(f"/v1/holds/{hold.json()['id']}/cancel", {})).status_code == 200
    assert (await merge(api, survivor, duplicate)).status_code == 200
    assert_problem(await merge(api, survivor, duplicate), 409, "customer_merged")
    assert_problem(await merge(api, duplicate, survivor), 409, "customer_merged")
    await assert_ledger_clean(api.runtime)


async def test_a_customer_of_another_program_is_not_merged(api: Api) -> None:
    survivor = await enroll(api, "+79126000041")
    await api.accrue(survivor, 15)
    _, _, other_pos = await make_program(api.runtime, "Other")
    other = await api.post("/v1/customers", {"phone": "+79126000042"}, key=other_pos)
    assert other.status_code == 201, other.text
    program_admin = (await make_key(api, api.program_id, ["admin"]))["key"]

    unseen = await merge(api, survivor, other.json()["id"], key=program_admin)
    across = await merge(api, survivor, other.json()["id"])  # the operator's key sees both

    assert_problem(unseen, 404, "not_found")
    assert_problem(across, 400, "validation_error")
    assert across.json()["field"] == "from_customer_id"
    await assert_unchanged(api, {survivor: await api.balance(survivor)})


async def test_a_replayed_merge_answers_the_same_and_moves_nothing_twice(api: Api) -> None:
    survivor = await enroll(api, "+79126000051")
    duplicate = await enroll(api, "+79126000052")
    await api.accrue(duplicate, 70)

    first = await merge(api, survivor, duplicate, idempotency_key="merge-1")
    again = await merge(api, survivor, duplicate, idempotency_key="merge-1")

    assert (first.status_code, again.status_code) == (200, 200)
    assert again.content == first.content
    assert again.headers.get("idempotent-replayed") == "true"
    assert (await api.balance(survivor))["available"] == 70
    await assert_ledger_clean(api.runtime)


async def test_erasing_the_survivor_erases_the_merged_record_too(api: Api) -> None:
    survivor = await enroll(api, "+79126000061")
    duplicate = await enroll(api, "+79126000062")
    assert (await merge(api, survivor, duplicate)).status_code == 200

    assert (await erase(api, duplicate)).status_code == 200  # the merged id names the person

    async with api.runtime.pool.acquire() as connection:
        phones = await connection.fetch(
            "select id, phone from customers where id = any($1::uuid[]) order by phone",
            [survivor, duplicate],
        )
    assert {row["phone"] for row in phones} == {f"erased:{row['id']}" for row in phones}
    await assert_ledger_clean(api.runtime)


async def test_accruals_racing_a_merge_all_land_on_the_survivor(api: Api) -> None:
    """Ten accruals on the duplicate race its merge: each lands before the merge (and moves with
    it) or after (through the merged id, on the survivor's account); none is lost or doubled."""
    survivor = await enroll(api, "+79126000071")
    duplicate = await enroll(api, "+79126000072")

    results = await asyncio.gather(
        merge(api, survivor, duplicate),
        *(api.accrue(duplicate, 10) for _ in range(10)),
    )

    assert results[0].status_code == 200, results[0].text
    assert (await api.balance(survivor))["available"] == 100
    async with api.runtime.pool.acquire() as connection:
        posted = await connection.fetchval("select posted from accounts where id = $1", duplicate)
    assert posted == 0
    report = await reconcile(api.runtime.database)
    assert report.differences == []


async def test_two_opposite_merges_at_once_leave_one_survivor(api: Api) -> None:
    first = await enroll(api, "+79126000081")
    second = await enroll(api, "+79126000082")
    await api.accrue(first, 5)
    await api.accrue(second, 7)

    answers = await asyncio.gather(merge(api, first, second), merge(api, second, first))

    codes = sorted(answer.status_code for answer in answers)
    assert codes == [200, 409], [answer.text for answer in answers]
    winner = next(answer for answer in answers if answer.status_code == 200).json()
    assert (await api.balance(winner["customer"]["id"]))["available"] == 12
    loser = next(answer for answer in answers if answer.status_code == 409)
    assert loser.json()["code"] == "customer_merged"
    await assert_ledger_clean(api.runtime)


async def test_the_merged_phone_stays_the_merged_records_and_finds_the_survivor(
    api: Api,
) -> None:
    survivor = await enroll(api, "+79126000091")
    duplicate = await enroll(api, "+79126000092")
    assert (await merge(api, survivor, duplicate)).status_code == 200

    taken = await api.client.patch(
        f"/v1/customers/{survivor}",
        json={"phone": "+79126000092"},
        headers=api.headers(api.admin_key),
    )
    again = await api.post("/v1/customers", {"phone": "+79126000092"})

    assert_problem(taken, 409, "customer_exists")
    assert_problem(again, 409, "customer_exists")
    assert again.json()["customer_id"] == survivor
    assert (await api.get(f"/v1/customers/{survivor}")).json()["phone"] == "+79126000091"
