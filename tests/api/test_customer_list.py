"""A program's customer list, as an operator or a CRM pages through it: newest first, a page at a
time, narrowed by phone, card, name, manual tier, block, points and enrolment date, with the
points counted as the balance counts them, and nothing of another program."""

from datetime import UTC, datetime, timedelta
from typing import Any

from tests.api.test_auth_and_tenancy import assert_problem, make_key
from tests.api.test_loyalty_rules_and_checkout import put_rules, receipt_line
from tests.api.test_purchases import purchase
from tests.api.test_tiers import now_rules
from tests.conftest import Api, make_program


async def listed(api: Api, key: str | None = None, **params: Any) -> dict[str, Any]:
    response = await api.get(
        f"/v1/programs/{api.program_id}/customers", key=key or api.admin_key, **params
    )
    assert response.status_code == 200, response.text
    page: dict[str, Any] = response.json()
    return page


async def enroll(api: Api, phone: str, **fields: Any) -> dict[str, Any]:
    response = await api.post("/v1/customers", {"phone": phone, **fields})
    assert response.status_code == 201, response.text
    customer: dict[str, Any] = response.json()
    return customer


async def every_page(api: Api, limit: int, **params: Any) -> list[list[str]]:
    pages, cursor = [], None
    while True:
        page = await listed(api, limit=limit, **params, **({"cursor": cursor} if cursor else {}))
        pages.append([item["id"] for item in page["items"]])
        cursor = page["next_cursor"]
        if cursor is None:
            return pages


async def test_pages_cover_every_customer_once_newest_first(api: Api) -> None:
    enrolled = [(await enroll(api, f"+7912300{n:04d}"))["id"] for n in range(23)]

    pages = await every_page(api, limit=10)

    assert [len(page) for page in pages] == [10, 10, 3]
    assert [customer for page in pages for customer in page] == enrolled[::-1]
    assert (await listed(api))["items"][0]["id"] == enrolled[-1]  # the default page size


async def test_each_filter_narrows_the_list(api: Api) -> None:
    assert (await put_rules(api, now_rules)).status_code == 200
    anna = await enroll(api, "+79123000001", name="Anna Petrova", card_number="C-1")
    anton = await enroll(api, "+79123000002", name="anton")
    boris = await enroll(api, "+79123000003", name="Boris 50%")
    await api.accrue(anna["id"], 300)
    await api.accrue(boris["id"], 70)
    later = datetime.now(UTC) + timedelta(days=5)
    await api.accrue(anton["id"], 40, activates_at=later.isoformat())  # pending, not available
    blocked = await api.post(
        f"/v1/customers/{boris['id']}/block", {"reason": "fraud check"}, key=api.admin_key
    )
    assert blocked.status_code == 200, blocked.text
    tiered = await api.client.put(
        f"/v1/customers/{anton['id']}/tier",
        json={"tier": "gold", "reason": "loyal"},
        headers=api.headers(api.admin_key),
    )
    assert tiered.status_code == 200, tiered.text
    bought = await purchase(api, anna["id"], [receipt_line("oil", 100_000)], "R-1")
    assert bought.json()["tier_after"] == "gold", bought.text

    async def ids(**params: Any) -> set[str]:
        return {item["id"] for item in (await listed(api, **params))["items"]}

    assert await ids(phone="89123000002") == {anton["id"]}  # a local form of the number
    assert await ids(card="C-1") == {anna["id"]}
    assert await ids(name_prefix="AN") == {anna["id"], anton["id"]}
    assert await ids(name_prefix="Boris 50%") == {boris["id"]}
    assert await ids(name_prefix="Boris 5_%") == set()  # LIKE's characters are literal
    assert await ids(tier_floor="gold") == {anton["id"]}
    assert await ids(tier="gold") == {anna["id"], anton["id"]}  # by spend, and by the floor
    assert await ids(tier="silver") == {boris["id"]}
    assert await ids(blocked="true") == {boris["id"]}
    assert await ids(blocked="false") == {anna["id"], anton["id"]}
    assert await ids(available_min=50) == {anna["id"], boris["id"]}
    assert await ids(available_min=50, available_max=100) == {boris["id"]}
    assert await ids(available_max=0) == {anton["id"]}
    assert await ids(name_prefix="an", available_min=1) == {anna["id"]}  # filters combine
    since = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert await ids(created_from=since) == set()
    assert await ids(created_to=since) == {anna["id"], anton["id"], boris["id"]}

    shown = {item["id"]: item for item in (await listed(api))["items"]}
    assert (shown[anton["id"]]["available"], shown[anton["id"]]["pending"]) == (0, 40)
    assert (shown[boris["id"]]["blocked"], shown[boris["id"]]["blocked_reason"]) == (
        True,
        "fraud check",
    )
    for customer in (anna, anton, boris):
        balance = await api.balance(customer["id"])
        item = shown[customer["id"]]
        assert (item["available"], item["pending"], item["reserved"]) == (
            balance["available"],
            balance["pending"],
            balance["reserved"],
        )


async def test_bad_filters_and_cursors_are_refused_by_field(api: Api) -> None:
    path = f"/v1/programs/{api.program_id}/customers"
    cases = {
        "cursor": {"cursor": "not-a-cursor"},
        "available_min": {"available_min": 10, "available_max": 5},
        "created_from": {
            "created_from": "2026-02-01T00:00:00+00:00",
            "created_to": "2026-01-01T00:00:00+00:00",
        },
        "phone": {"phone": "12"},
        "tier": {"tier": "platinum"},
        "created_to": {"created_to": "0.5"},  # not read as Unix seconds
    }
    for field, params in cases.items():
        response = await api.get(path, key=api.admin_key, **params)
        assert_problem(response, 400, "validation_error")
        assert response.json()["field"] == field, response.text
    naive = await api.get(path, key=api.admin_key, created_from="2026-01-01T00:00:00")
    assert_problem(naive, 400, "validation_error")
    too_big = await api.get(path, key=api.admin_key, limit=1000)
    assert_problem(too_big, 400, "validation_error")


async def test_another_program_and_a_till_see_nothing_of_the_list(api: Api) -> None:
    await enroll(api, "+79123000009")
    other_program, _, _ = await make_program(api.runtime, "Another program")
    stranger = (await make_key(api, other_program, ["crm"]))["key"]

    foreign = await api.get(f"/v1/programs/{api.program_id}/customers", key=stranger)
    assert_problem(foreign, 404, "not_found")
    till = await api.get(f"/v1/programs/{api.program_id}/customers")  # the fixture's POS key
    assert_problem(till, 403, "forbidden_scope")
    own = await api.get(f"/v1/programs/{other_program}/customers", key=stranger)
    assert (own.status_code, own.json()["items"]) == (200, [])
