"""Segments through the API: each predicate holds for the customers it should and misses the
ones just past its bounds, all/any combine, versions never change, members page and export as
CSV, the count is exact at once in a small program and estimated then counted in the
background in a large one, and every refusal names its field and changes nothing."""

import asyncio
import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import pytest
from httpx import ASGITransport, AsyncClient

from api.app import create_app
from processing.runtime import Runtime
from processing.settings import Settings
from tests.api.test_auth_and_tenancy import assert_problem, make_key
from tests.api.test_customer_list import enroll
from tests.api.test_loyalty_rules_and_checkout import put_rules, receipt_line
from tests.api.test_purchases import purchase
from tests.api.test_tiers import now_rules
from tests.conftest import Api, make_program

Filter = dict[str, Any]


def at(**delta: float) -> str:
    return (datetime.now(UTC) + timedelta(**delta)).isoformat()


async def create(api: Api, filter: Filter, name: str = "segment", **kw: Any) -> Any:
    path = f"/v1/programs/{kw.get('program_id', api.program_id)}/segments"
    return await api.post(path, {"name": name, "filter": filter}, key=kw.get("key", api.admin_key))


async def saved(api: Api, filter: Filter, name: str = "segment") -> dict[str, Any]:
    response = await create(api, filter, name)
    assert response.status_code == 201, response.text
    segment: dict[str, Any] = response.json()
    return segment


async def members(api: Api, segment_id: str, limit: int = 100) -> list[dict[str, Any]]:
    found, cursor = [], None
    while True:
        params: dict[str, Any] = {"limit": limit} | ({"cursor": cursor} if cursor else {})
        response = await api.get(f"/v1/segments/{segment_id}/members", key=api.admin_key, **params)
        assert response.status_code == 200, response.text
        found += response.json()["items"]
        cursor = response.json()["next_cursor"]
        if cursor is None:
            return found


async def count(api: Api, segment_id: str, key: str | None = None) -> dict[str, Any]:
    response = await api.get(f"/v1/segments/{segment_id}/count", key=key or api.admin_key)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def matched(api: Api, *predicates: Filter, combinator: str = "all") -> set[str]:
    """The ids the filter matches, by its members; its exact count must agree."""
    segment = await saved(api, {combinator: list(predicates)})
    ids = {member["id"] for member in await members(api, segment["id"])}
    assert (await count(api, segment["id"]))["exact"] == len(ids)
    return ids


async def test_points_predicates_hold_at_their_bounds(api: Api) -> None:
    ann = await api.customer("+79120000001")
    await api.accrue(ann, 600, expires_at=at(days=7, minutes=-5))
    bob = await api.customer("+79120000002")
    await api.accrue(bob, 599, expires_at=at(days=7, minutes=-5))
    cid = await api.customer("+79120000003")
    await api.accrue(cid, 600, expires_at=at(days=7, minutes=5))  # just past the window
    dan = await api.customer("+79120000004")
    await api.accrue(dan, 800, expires_at=at(days=6))
    assert (await api.reserve(dan, 201)).status_code == 201  # held points do not burn
    eve = await api.customer("+79120000005")
    await api.accrue(eve, 700, activates_at=at(days=1), expires_at=at(days=6))  # pending

    expiring = {"fact": "expiring_points", "within_days": 7, "min": 600}
    assert await matched(api, expiring) == {ann}
    assert await matched(api, expiring | {"min": 599}) == {ann, bob, dan}
    assert await matched(api, expiring | {"min": 599, "max": 599}) == {bob, dan}
    assert await matched(api, expiring | {"within_days": 8}) == {ann, cid}
    assert await matched(api, {"fact": "available", "min": 600}) == {ann, cid}
    assert await matched(api, {"fact": "available", "max": 599}) == {bob, dan, eve}
    assert await matched(api, {"fact": "available", "min": 0, "max": 0}) == {eve}
    assert await matched(api, {"fact": "pending", "min": 700}) == {eve}
    assert await matched(api, {"fact": "pending", "min": 701}) == set()
    shown = {m["id"]: m for m in await members(api, (await saved(api, {"all": [expiring]}))["id"])}
    assert shown[ann] | {"created_at": None} == {
        "id": ann,
        "phone": "+79120000001",
        "name": None,
        "available": 600,
        "pending": 0,
        "expiring": 600,
        "expiring_days": 7,
        "tier": None,
        "created_at": None,
    }


async def test_purchase_predicates_hold_at_their_bounds(api: Api) -> None:
    assert (await put_rules(api, now_rules)).status_code == 200
    ann_id, bob_id, cid_id = [await api.customer(f"+7912000001{n}") for n in range(3)]
    for n in range(2):
        assert (
            await purchase(api, ann_id, [receipt_line("oil", 600)], f"A-{n}")
        ).status_code == 201
    assert (await purchase(api, bob_id, [receipt_line("oil", 100_000)], "B-1")).status_code == 201
    other_store = await api.post(
        "/v1/api-keys",
        {"program_id": api.program_id, "name": "till 2", "scopes": ["pos"], "store_id": "store-2"},
        key=api.admin_key,
    )
    assert other_store.status_code == 201, other_store.text
    bought = await purchase(api, ann_id, [receipt_line("oil", 1)], "A-9")
    assert bought.status_code == 201
    second = await api.post(
        f"/v1/customers/{bob_id}/purchases",
        {"document": {"id": "B-2"}, "lines": [receipt_line("oil", 1)]},
        key=other_store.json()["key"],
    )
    assert second.status_code == 201, second.text
    # Bob bought last 40 days ago at store-2, and once 400 days ago (past the tier's window).
    async with api.runtime.pool.acquire() as connection:
        await connection.execute(
            "update purchases set created_at = created_at - interval '40 days' "
            "where account_id = $1 and operation_id = $2",
            bob_id,
            second.json()["operation"]["id"],
        )
        await connection.execute(
            "update purchases set created_at = created_at - interval '400 days' "
            "where account_id = $1 and operation_id <> $2",
            bob_id,
            second.json()["operation"]["id"],
        )

    count_of = {"fact": "purchase_count", "within_days": 90}
    assert await matched(api, count_of | {"min": 3}) == {ann_id}
    assert await matched(api, count_of | {"min": 1, "max": 1}) == {bob_id}
    assert await matched(api, count_of | {"max": 0}) == {cid_id}
    assert await matched(api, count_of | {"within_days": 500, "min": 2, "max": 2}) == {bob_id}
    money = {"fact": "purchase_money", "within_days": 90}
    assert await matched(api, money | {"min": 1201 * 100}) == {ann_id}
    assert await matched(api, money | {"min": 1201 * 100 + 1}) == set()
    assert await matched(api, money | {"within_days": 500, "min": 100_001 * 100}) == {bob_id}
    since = {"fact": "days_since_last_purchase"}
    assert await matched(api, since | {"min": 40}) == {bob_id}
    assert await matched(api, since | {"min": 41}) == set()
    assert await matched(api, since | {"max": 39}) == {ann_id}
    assert await matched(api, since | {"min": 0, "max": 40}) == {ann_id, bob_id}  # never: no
    store = {"fact": "last_purchase_store"}
    assert await matched(api, store | {"stores": ["store-2"]}) == {bob_id}
    assert await matched(api, store | {"stores": ["store-1", "store-9"]}) == {ann_id}
    assert await matched(api, {"fact": "tier", "name": "gold"}) == set()  # 400 days ago
    assert await matched(api, {"fact": "tier", "name": "silver"}) == {ann_id, bob_id, cid_id}
    async with api.runtime.pool.acquire() as connection:
        await connection.execute(
            "update purchases set created_at = now() where account_id = $1", bob_id
        )
    assert await matched(api, {"fact": "tier", "name": "gold"}) == {bob_id}


async def test_personal_predicates_hold_at_their_bounds(api: Api) -> None:
    ann = (await enroll(api, "+79120000021", birthday="1990-03-31", attributes={"city": "Kazan"}))[
        "id"
    ]
    bob = (await enroll(api, "+79120000022", birthday="1990-04-01", attributes={"city": "Perm"}))[
        "id"
    ]
    cid = (await enroll(api, "+79120000023", attributes={"vip": True, "visits": 3}))["id"]
    for customer, granted in ((ann, True), (bob, True), (bob, False)):
        consent = {"channel": "sms", "granted": granted, "source": "till"}
        response = await api.post(f"/v1/customers/{customer}/consents", consent)
        assert response.status_code == 201, response.text
    blocked = await api.post(f"/v1/customers/{cid}/block", {"reason": "fraud"}, key=api.admin_key)
    assert blocked.status_code == 200, blocked.text

    assert await matched(api, {"fact": "birthday_month", "months": [3]}) == {ann}
    assert await matched(api, {"fact": "birthday_month", "months": [4, 5]}) == {bob}
    attribute = {"fact": "attribute", "key": "city"}
    assert await matched(api, attribute | {"value": "Kazan"}) == {ann}
    assert await matched(api, attribute | {"value": "kazan"}) == set()
    assert await matched(api, {"fact": "attribute", "key": "vip", "value": True}) == {cid}
    assert await matched(api, {"fact": "attribute", "key": "visits", "value": 3}) == {cid}
    assert await matched(api, {"fact": "attribute", "key": "visits", "value": "3"}) == set()
    assert await matched(api, {"fact": "consent", "channel": "sms", "granted": True}) == {ann}
    assert await matched(api, {"fact": "consent", "channel": "sms", "granted": False}) == {
        bob,
        cid,
    }
    assert await matched(api, {"fact": "consent", "channel": "email", "granted": True}) == set()
    assert await matched(api, {"fact": "blocked", "value": True}) == {cid}
    assert await matched(api, {"fact": "blocked", "value": False}) == {ann, bob}
    assert await matched(api, {"fact": "enrolled", "from": at(hours=-1)}) == {ann, bob, cid}
    assert await matched(api, {"fact": "enrolled", "from": at(minutes=1)}) == set()
    assert await matched(api, {"fact": "enrolled", "to": at(hours=-1)}) == set()


async def test_all_and_any_combine_and_nest(api: Api) -> None:
    ann = (await enroll(api, "+79120000031", birthday="1990-03-01"))["id"]
    bob = (await enroll(api, "+79120000032", birthday="1990-04-01"))["id"]
    cid = (await enroll(api, "+79120000033", birthday="1990-05-01"))["id"]
    await api.accrue(ann, 100)
    await api.accrue(cid, 100)
    march = {"fact": "birthday_month", "months": [3]}
    april = {"fact": "birthday_month", "months": [4]}
    rich = {"fact": "available", "min": 100}
    assert await matched(api, march, rich) == {ann}
    assert await matched(api, march, april) == set()
    assert await matched(api, march, april, combinator="any") == {ann, bob}
    assert await matched(api, {"any": [{"all": [rich, march]}, april]}) == {ann, bob}
    assert await matched(api, rich, {"any": [april, {"all": [march]}]}) == {ann}


async def test_erased_and_merged_customers_are_never_members(api: Api) -> None:
    ann = await api.customer("+79120000041", points=10)
    bob = await api.customer("+79120000042", points=10)
    cid = await api.customer("+79120000043", points=10)
    erased = await api.post(f"/v1/customers/{ann}/erase", {"reason": "asked"}, key=api.admin_key)
    assert erased.status_code == 200, erased.text
    merged = await api.post(
        f"/v1/customers/{cid}/merge", {"from_customer_id": bob, "reason": "dup"}, key=api.admin_key
    )
    assert merged.status_code == 200, merged.text
    assert await matched(api, {"fact": "available", "min": 1}) == {cid}


async def test_a_change_is_a_new_version_and_versions_never_change(api: Api) -> None:
    first = await saved(api, {"all": [{"fact": "blocked", "value": False}]}, "active")
    assert (first["version"], first["name"]) == (1, "active")
    update = {"filter": {"any": [{"fact": "blocked", "value": True}]}}
    response = await api.client.put(
        f"/v1/segments/{first['id']}", json=update, headers=api.headers(api.admin_key)
    )
    assert response.status_code == 200, response.text
    second = response.json()
    assert (second["version"], second["name"], second["filter"]) == (2, "active", update["filter"])
    renamed = await api.client.put(
        f"/v1/segments/{first['id']}",
        json={"name": "blocked", "filter": update["filter"]},
        headers=api.headers(api.admin_key),
    )
    assert renamed.json()["version"] == 3, renamed.text
    got = await api.get(f"/v1/segments/{first['id']}", key=api.admin_key)
    assert (got.json()["version"], got.json()["name"]) == (3, "blocked")
    page = await api.get(f"/v1/segments/{first['id']}/versions", key=api.admin_key, limit=2)
    assert [v["version"] for v in page.json()["items"]] == [3, 2]
    rest = await api.get(
        f"/v1/segments/{first['id']}/versions",
        key=api.admin_key,
        cursor=page.json()["next_cursor"],
    )
    assert [(v["version"], v["name"], v["filter"]) for v in rest.json()["items"]] == [
        (1, "active", first["filter"])
    ]
    assert rest.json()["next_cursor"] is None
    async with api.runtime.pool.acquire() as connection:
        with pytest.raises(Exception, match="immutable"):
            await connection.execute("update segment_versions set name = 'x'")


async def test_segments_and_members_page_newest_first(api: Api) -> None:
    created = [
        (await saved(api, {"all": [{"fact": "available", "max": 0}]}, f"s{n}"))["id"]
        for n in range(5)
    ]
    ids, cursor = [], None
    while True:
        params: dict[str, Any] = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = await api.get(f"/v1/programs/{api.program_id}/segments", key=api.admin_key, **params)
        ids += [item["id"] for item in page.json()["items"]]
        if (cursor := page.json()["next_cursor"]) is None:
            break
    assert ids == created[::-1]
    customers = [await api.customer(f"+791200001{n:02d}") for n in range(7)]
    assert [m["id"] for m in await members(api, created[0], limit=3)] == customers[::-1]


async def test_the_export_streams_members_as_csv(api: Api) -> None:
    ann = (await enroll(api, "+79120000051", name='Анна "Ш"; Петрова'))["id"]
    await api.accrue(ann, 500, expires_at=at(days=3))
    await api.customer("+79120000052")
    segment = await saved(api, {"all": [{"fact": "expiring_points", "within_days": 5, "min": 1}]})

    response = await api.get(f"/v1/segments/{segment['id']}/export", key=api.admin_key)

    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert response.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig")), delimiter=";"))
    assert rows[0] == [
        "customer_id",
        "phone",
        "name",
        "available",
        "pending",
        "expiring",
        "expiring_days",
        "tier",
        "created_at",
    ]
    assert [row[:8] for row in rows[1:]] == [
        [ann, "+79120000051", 'Анна "Ш"; Петрова', "500", "0", "500", "5", ""]
    ]
    assert b"\r\n" in response.content


async def test_refusals_name_their_field_and_change_nothing(api: Api) -> None:
    expiring = {"fact": "expiring_points", "within_days": 7, "min": 1}
    deep: Filter = {"all": [expiring]}
    for _ in range(4):
        deep = {"all": [deep]}
    cases: dict[str, Any] = {
        "filter": {"fact": "blocked", "value": True},
        "filter.all": {"all": []},
        "filter.all[0]": {"all": [{"none": []}]},
        "filter.all[1].within_days": {"all": [expiring, expiring | {"within_days": 0}]},
        "filter.all[0].min": {"all": [expiring | {"min": 0}]},
        "filter.any[0].fact": {"any": [{"fact": "balance"}]},
        "filter.all[0].colour": {"all": [expiring | {"colour": "red"}]},
        "filter.all[0].months[1]": {"all": [{"fact": "birthday_month", "months": [1, 13]}]},
        "filter.all[0].from": {"all": [{"fact": "enrolled", "from": "2026-01-01"}]},
        "filter.all[0].channel": {"all": [{"fact": "consent", "channel": "fax", "granted": True}]},
        "filter.all[0].name": {"all": [{"fact": "tier", "name": "platinum"}]},
        "filter.all[0].all[0].all[0].all[0]": deep,
        "filter.all[32]": {"all": [expiring] * 33},
    }
    for field, filter in cases.items():
        response = await create(api, filter)
        assert_problem(response, 400, "validation_error")
        assert response.json()["field"] == field, (field, response.text)
    pos = await make_key(api, api.program_id, ["pos"])
    assert_problem(await create(api, {"all": [expiring]}, key=pos["key"]), 403, "forbidden_scope")
    listed = await api.get(f"/v1/programs/{api.program_id}/segments", key=api.admin_key)
    assert listed.json()["items"] == []

    other, _, _ = await make_program(api.runtime, "Other")
    theirs = await create(api, {"all": [expiring]}, program_id=other)
    assert theirs.status_code == 201, theirs.text
    mine = await make_key(api, api.program_id, ["admin"])
    segment = theirs.json()["id"]
    for path in ("", "/count", "/members", "/versions", "/export"):
        assert_problem(
            await api.get(f"/v1/segments/{segment}{path}", key=mine["key"]), 404, "not_found"
        )
    update = await api.client.put(
        f"/v1/segments/{segment}",
        json={"filter": {"all": [expiring]}},
        headers=api.headers(mine["key"]),
    )
    assert_problem(update, 404, "not_found")
    assert_problem(
        await create(api, {"all": [expiring]}, program_id=other, key=mine["key"]), 404, "not_found"
    )
    versions = await api.get(f"/v1/segments/{segment}/versions", key=api.admin_key)
    assert [v["version"] for v in versions.json()["items"]] == [1]
    assert_problem(
        await api.get(f"/v1/segments/{segment}/members", key=api.admin_key, cursor="nope"),
        400,
        "validation_error",
    )


async def test_a_small_program_is_counted_exactly_at_once(api: Api) -> None:
    for n in range(3):
        await api.customer(f"+7912000006{n}", points=10 * (n + 1))
    segment = await saved(api, {"all": [{"fact": "available", "min": 20}]})
    result = await count(api, segment["id"])
    assert (result["estimate"], result["exact"], result["version"]) == (2, 2, 1)
    assert result["counted_at"] is not None


async def test_a_large_program_is_estimated_then_counted_in_the_background(
    settings: Settings,
) -> None:
    small = msgspec.structs.replace(settings, segment_exact_count_customers_max=2)
    runtime = await Runtime.open(small)
    try:
        transport = ASGITransport(app=create_app(small, runtime))
        async with AsyncClient(transport=transport, base_url="http://testserver") as client:
            api = Api(client, runtime)
            api.program_id, api.admin_key, api.pos_key = await make_program(runtime)
            for n in range(5):
                await api.customer(f"+7912000007{n}", points=10 * (n + 1))
            segment = await saved(api, {"all": [{"fact": "available", "min": 30}]})

            first = await count(api, segment["id"])
            # A sample of a five-customer program covers it (its pages are few): the estimate.
            assert (first["estimate"], first["exact"], first["counted_at"]) == (3, None, None)
            await runtime.segments.counts_settled()
            second = await count(api, segment["id"])
            assert (second["exact"], second["version"]) == (3, 1)
            assert second["counted_at"] is not None
    finally:
        await runtime.close()


async def test_two_changes_at_once_take_the_next_two_versions(api: Api) -> None:
    segment = await saved(api, {"all": [{"fact": "blocked", "value": False}]})

    async def change(name: str) -> Any:
        return await api.client.put(
            f"/v1/segments/{segment['id']}",
            json={"name": name, "filter": {"all": [{"fact": "blocked", "value": True}]}},
            headers=api.headers(api.admin_key),
        )

    answers = await asyncio.gather(change("one"), change("two"))

    assert [answer.status_code for answer in answers] == [200, 200], [a.text for a in answers]
    assert sorted(answer.json()["version"] for answer in answers) == [2, 3]
    refused = await api.client.put(
        f"/v1/segments/{segment['id']}",
        json={"filter": {"all": [{"fact": "pending", "min": -1}]}},
        headers=api.headers(api.admin_key),
    )
    assert_problem(refused, 400, "validation_error")
    assert refused.json()["field"] == "filter.all[0].min"
    versions = await api.get(f"/v1/segments/{segment['id']}/versions", key=api.admin_key)
    assert [v["version"] for v in versions.json()["items"]] == [3, 2, 1]
