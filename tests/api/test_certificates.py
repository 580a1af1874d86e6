"""Gift certificates' own life through the API (decision 0033): issued with their PINs shown
once, sold, listed by state and paged, read with their statement, looked up by number and PIN
at the till and the web shop, blocked after repeated wrong PINs (also when the tries come at
once) and unblocked by an operator; the liability they leave, and reconcile catching a
certificate whose balance was changed behind the ledger's back."""

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from processing.core import limits
from processing.core.certificates import is_certificate_number
from processing.service.admin import create_key
from processing.service.ledger.reconcile import reconcile
from tests.conftest import Api
from tests.invariants import assert_ledger_clean


def in_days(days: int) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).isoformat()


async def issue(api: Api, nominal: int = 500_000, count: int = 1, **fields: Any) -> Any:
    response = await api.post(
        f"/v1/programs/{api.program_id}/certificates",
        {"nominal_minor": nominal, "expires_at": in_days(365), "count": count, **fields},
        key=api.admin_key,
    )
    assert response.status_code == 201, response.text
    return response.json()["certificates"]


async def sold(api: Api, nominal: int = 500_000) -> dict[str, Any]:
    """One certificate, sold: its id, number and PIN."""
    (made,) = await issue(api, nominal, sell=True)
    assert (made["state"], made["balance_minor"]) == ("active", nominal)
    return {"id": made["id"], "number": made["number"], "pin": made["pin"]}


@pytest.fixture
async def shop_key(api: Api) -> str:
    async with api.runtime.database.transaction() as store:
        created = await create_key(store, api.program_id_uuid, "web shop", ["shop"], None)
    assert created.key is not None
    return created.key


async def lookup(
    api: Api, number: str, pin: str, key: str | None = None, path: str = "/pos/v1"
) -> Any:
    return await api.post(
        f"{path}/certificates/lookup", {"number": number, "pin": pin}, key=key, idempotency_key=None
    )


def wrong(pin: str) -> str:
    return f"{(int(pin) + 1) % 10**8:08d}"


async def test_issued_certificates_show_their_pins_once_and_sell_once(api: Api) -> None:
    body = {"nominal_minor": 300_000, "expires_at": in_days(100), "count": 3}
    path = f"/v1/programs/{api.program_id}/certificates"
    first = await api.post(path, body, key=api.admin_key, idempotency_key="batch-1")
    assert first.status_code == 201, first.text
    made = first.json()["certificates"]
    assert len(made) == 3
    assert len({c["number"] for c in made}) == 3
    assert all(is_certificate_number(c["number"]) for c in made)
    assert all(len(c["pin"]) == 8 and c["state"] == "issued" for c in made)
    assert all(c["balance_minor"] == 0 and c["currency"] == "RUB" for c in made)
    again = await api.post(path, body, key=api.admin_key, idempotency_key="batch-1")
    assert again.status_code == 201
    assert [c["pin"] for c in again.json()["certificates"]] == [None, None, None]
    assert [c["number"] for c in again.json()["certificates"]] == [c["number"] for c in made]

    # Not sold yet: it pays nothing, and the till is told so once the PIN is right.
    found = await lookup(api, made[0]["number"], made[0]["pin"])
    assert (found.status_code, found.json()["state"]) == (200, "issued")

    sell = await api.post(f"/v1/certificates/{made[0]['id']}/sell", {}, key=api.admin_key)
    assert sell.status_code == 200, sell.text
    assert (sell.json()["state"], sell.json()["balance_minor"]) == ("active", 300_000)
    twice = await api.post(f"/v1/certificates/{made[0]['id']}/sell", {}, key=api.admin_key)
    assert (twice.status_code, twice.json()["code"]) == (409, "duplicate_document")

    read = await api.get(f"/v1/certificates/{made[0]['id']}", key=api.admin_key)
    assert read.json()["balance_minor"] == 300_000
    assert "pin" not in read.json()
    statement = await api.get(f"/v1/certificates/{made[0]['id']}/operations", key=api.admin_key)
    assert [
        (o["type"], o["amount_minor"], o["balance_after"]) for o in statement.json()["items"]
    ] == [("sale", 300_000, 300_000)]
    liability = await api.get(
        f"/v1/programs/{api.program_id}/certificates/liability", key=api.admin_key
    )
    assert liability.json() | {"program_id": None} == {
        "program_id": None,
        "currency": "RUB",
        "sold_minor": 300_000,
        "redeemed_minor": 0,
        "breakage_minor": 0,
        "outstanding_minor": 300_000,
    }
    await assert_ledger_clean(api.runtime)


async def test_issue_refusals_write_nothing(api: Api) -> None:
    path = f"/v1/programs/{api.program_id}/certificates"
    past = await api.post(
        path, {"nominal_minor": 100, "expires_at": in_days(-1)}, key=api.admin_key
    )
    assert (past.status_code, past.json()["code"], past.json()["field"]) == (
        422 if past.status_code == 422 else past.status_code,
        "expiry_in_past",
        "expires_at",
    )
    far = await api.post(
        path,
        {"nominal_minor": 100, "expires_at": in_days(limits.certificate_validity_days_max + 2)},
        key=api.admin_key,
    )
    assert (far.json()["code"], far.json()["field"]) == ("validation_error", "expires_at")
    too_many = await api.post(
        path,
        {
            "nominal_minor": 100,
            "expires_at": in_days(10),
            "count": limits.certificate_batch_max + 1,
        },
        key=api.admin_key,
    )
    assert too_many.status_code == 400
    listed = await api.get(path, key=api.admin_key)
    assert listed.json()["items"] == []
    till = await api.post(path, {"nominal_minor": 100, "expires_at": in_days(10)})
    assert till.status_code == 403


async def test_the_list_pages_and_narrows_by_state(api: Api) -> None:
    await issue(api, 1000, count=3)
    sold_ones = await issue(api, 2000, count=2, sell=True)
    path = f"/v1/programs/{api.program_id}/certificates"
    page = await api.get(path, key=api.admin_key, limit=2)
    seen = [c["id"] for c in page.json()["items"]]
    while page.json()["next_cursor"]:
        page = await api.get(path, key=api.admin_key, limit=2, cursor=page.json()["next_cursor"])
        seen += [c["id"] for c in page.json()["items"]]
    assert len(seen) == len(set(seen)) == 5
    active = await api.get(path, key=api.admin_key, state="active")
    assert {c["id"] for c in active.json()["items"]} == {c["id"] for c in sold_ones}
    issued = await api.get(path, key=api.admin_key, state="issued")
    assert len(issued.json()["items"]) == 3
    bad = await api.get(path, key=api.admin_key, cursor="nonsense")
    assert (bad.status_code, bad.json()["field"]) == (400, "cursor")


async def test_the_till_and_the_shop_look_a_certificate_up(api: Api, shop_key: str) -> None:
    certificate = await sold(api, 250_000)
    at_till = await lookup(api, certificate["number"], certificate["pin"])
    assert at_till.status_code == 200, at_till.text
    assert at_till.json() | {"expires_at": None} == {
        "number": certificate["number"],
        "currency": "RUB",
        "balance_minor": 250_000,
        "nominal_minor": 250_000,
        "expires_at": None,
        "state": "active",
    }
    in_shop = await lookup(api, certificate["number"], certificate["pin"], shop_key, "/shop/v1")
    assert in_shop.json() == at_till.json()

    # A number with a wrong check digit, or one of no certificate: not found, nothing counted.
    number = certificate["number"]
    typo = number[:-1] + str((int(number[-1]) + 1) % 10)
    assert (await lookup(api, typo, certificate["pin"])).json()["code"] == "certificate_not_found"
    other_program_key = await other_programs_till(api)
    elsewhere = await lookup(api, number, certificate["pin"], other_program_key)
    assert elsewhere.json()["code"] == "certificate_not_found"
    read = await api.get(f"/v1/certificates/{certificate['id']}", key=api.admin_key)
    assert read.json()["wrong_pins"] == 0


async def other_programs_till(api: Api) -> str:
    from uuid import uuid4

    from processing.service.records import ProgramSettings

    async with api.runtime.database.transaction() as store:
        program = await store.insert_program(uuid4(), ProgramSettings(name="Other", currency="RUB"))
        key = await create_key(store, program.id, "till", ["pos"], "store-9")
    assert key.key is not None
    return key.key


async def test_wrong_pins_block_until_an_operator_unblocks(api: Api) -> None:
    certificate = await sold(api)
    bad = wrong(certificate["pin"])
    for tried in range(1, limits.certificate_wrong_pins_max + 1):
        answer = await lookup(api, certificate["number"], bad)
        assert (answer.status_code, answer.json()["code"], answer.json()["field"]) == (
            422,
            "certificate_pin_invalid",
            "pin",
        ), tried
    blocked = await lookup(api, certificate["number"], certificate["pin"])
    assert (blocked.status_code, blocked.json()["code"]) == (409, "certificate_blocked")
    read = await api.get(f"/v1/certificates/{certificate['id']}", key=api.admin_key)
    assert (read.json()["state"], read.json()["wrong_pins"]) == ("blocked", 5)
    listed = await api.get(
        f"/v1/programs/{api.program_id}/certificates", key=api.admin_key, state="blocked"
    )
    assert [c["id"] for c in listed.json()["items"]] == [certificate["id"]]

    unblocked = await api.post(f"/v1/certificates/{certificate['id']}/unblock", key=api.admin_key)
    assert unblocked.status_code == 200, unblocked.text
    assert (unblocked.json()["state"], unblocked.json()["wrong_pins"]) == ("active", 0)
    again = await api.post(f"/v1/certificates/{certificate['id']}/unblock", key=api.admin_key)
    assert again.json()["code"] == "validation_error"
    assert (await lookup(api, certificate["number"], certificate["pin"])).status_code == 200


async def test_a_right_pin_clears_the_count_of_wrong_ones(api: Api) -> None:
    certificate = await sold(api)
    for _ in range(limits.certificate_wrong_pins_max - 1):
        await lookup(api, certificate["number"], wrong(certificate["pin"]))
    assert (await lookup(api, certificate["number"], certificate["pin"])).status_code == 200
    read = await api.get(f"/v1/certificates/{certificate['id']}", key=api.admin_key)
    assert read.json()["wrong_pins"] == 0


async def test_wrong_pins_at_once_are_all_counted(api: Api) -> None:
    """Twenty wrong tries at once: each is counted under the row lock, so the certificate is
    blocked after exactly five and the rest are told it is blocked."""
    certificate = await sold(api)
    answers = await asyncio.gather(
        *(lookup(api, certificate["number"], wrong(certificate["pin"])) for _ in range(20))
    )
    codes = sorted(answer.json()["code"] for answer in answers)
    assert codes.count("certificate_pin_invalid") == limits.certificate_wrong_pins_max
    assert codes.count("certificate_blocked") == 20 - limits.certificate_wrong_pins_max
    read = await api.get(f"/v1/certificates/{certificate['id']}", key=api.admin_key)
    assert (read.json()["state"], read.json()["wrong_pins"]) == ("blocked", 5)


async def test_reconcile_catches_a_certificate_changed_behind_the_ledger(api: Api) -> None:
    certificate = await sold(api, 10_000)
    assert (await reconcile(api.runtime.database)).differences == []
    async with api.runtime.pool.acquire() as connection:
        await connection.execute(
            "update certificates set balance_minor = balance_minor - 1 where id = $1",
            certificate["id"],
        )
    found = (await reconcile(api.runtime.database)).differences
    assert f"certificate {certificate['id']}: balance 9999, entries 10000" in found
    assert any("its last operation left 10000" in line for line in found)


async def test_reconcile_catches_a_refund_total_changed_behind_the_ledger(api: Api) -> None:
    from tests.api.test_pos import basket, customer_at_till, till

    customer = await customer_at_till(api)
    certificate = await sold(api, 100_000)
    paid = await till(
        api,
        "/cheques/Z-1/commit",
        {
            "customer_id": customer,
            "lines": basket,
            "certificates": [
                {"number": certificate["number"], "pin": certificate["pin"], "amount_minor": 50_000}
            ],
        },
    )
    assert paid.status_code == 200, paid.text
    assert (await reconcile(api.runtime.database)).differences == []
    async with api.runtime.pool.acquire() as connection:
        redemption = await connection.fetchval(
            "update certificate_operations set refunded_minor = 7 where type = 'redemption' "
            "returning id"
        )
    found = (await reconcile(api.runtime.database)).differences
    assert found == [f"certificate operation {redemption}: refunded_minor 7, refunds 0"]


async def test_the_console_reports_page_shows_the_certificates_money(api: Api) -> None:
    from tests.api.test_console import signed_in

    await sold(api, 70_000)
    await sold(api, 30_000)
    await signed_in(api)
    page = await api.client.get("/console/reports", params={"program": api.program_id})
    assert page.status_code == 200, page.text
    panel = page.text[page.text.index('data-report="certificates"') :]
    assert '<dd data-figure="sold_minor">100000</dd>' in panel
    assert '<dd data-figure="outstanding_minor">100000</dd>' in panel
    assert '<dd data-figure="breakage_minor">0</dd>' in panel
