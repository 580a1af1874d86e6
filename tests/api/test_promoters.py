"""Promoters through the API (decision 0034): a promoter gets a code, a link to the enrollment
page carrying it and that link's QR code; a customer enrolled with the code is attributed to
the promoter, whose account is rewarded once, on that customer's first purchase (not the
second), and loses the reward when that purchase is returned in full. Refusals write nothing;
two first purchases at once reward once."""

import asyncio
from typing import Any

from api.controllers.promoters import qr_svg
from processing.service.admin import create_key
from tests.api.test_enrollment_page import open_page, slug
from tests.api.test_loyalty_rules_and_checkout import auto_service, put_rules, receipt_line
from tests.api.test_purchases import purchase
from tests.api.test_returns_by_line import return_lines
from tests.conftest import Api, make_program
from tests.invariants import assert_ledger_clean

now_rules = auto_service | {"activation_delay_days": 0}


async def promoter(api: Api, customer: str, **fields: Any) -> Any:
    response = await api.post(
        f"/v1/programs/{api.program_id}/promoters",
        {"customer_id": customer, "name": "Anna, fitness coach", **fields},
        key=api.admin_key,
    )
    assert response.status_code == 201, response.text
    return response.json()


async def enrolled(api: Api, phone: str, code: str) -> str:
    response = await api.post("/v1/customers", {"phone": phone, "promoter_code": code})
    assert response.status_code == 201, response.text
    customer_id: str = response.json()["id"]
    return customer_id


async def counts(api: Api) -> dict[str, int]:
    async with api.runtime.pool.acquire() as connection:
        row = await connection.fetchrow(
            "select (select count(*) from promoters) as promoters,"
            " (select count(*) from customers) as customers,"
            " (select count(*) from customers where promoter_id is not null) as attributed,"
            " (select count(*) from promoter_rewards) as rewards,"
            " (select count(*) from outbox where type = 'promoter.rewarded') as told"
        )
    assert row is not None
    return dict(row.items())


async def test_a_qr_enrollment_rewards_the_first_purchase_once_and_a_return_takes_it_back(
    api: Api,
) -> None:
    assert (await put_rules(api, now_rules)).status_code == 200
    anna = await api.customer("+79120000100")
    made = await promoter(api, anna, code="anna-2026", reward_points=100)
    assert (made["code"], made["link"]) == ("ANNA2026", None)  # no enrollment page yet
    no_page = await api.get(
        f"/v1/programs/{api.program_id}/promoters/{made['id']}/qr", key=api.admin_key
    )
    assert (no_page.status_code, no_page.json()["code"]) == (409, "enrollment_page_missing")
    await open_page(api)
    shown = await api.get(
        f"/v1/programs/{api.program_id}/promoters/{made['id']}", key=api.admin_key
    )
    assert shown.json()["link"].endswith(f"/join/{slug}?promoter=ANNA2026")
    qr = await api.get(
        f"/v1/programs/{api.program_id}/promoters/{made['id']}/qr", key=api.admin_key
    )
    assert qr.status_code == 200
    assert qr.headers["content-type"].startswith("image/svg+xml")
    assert qr.content == qr_svg(shown.json()["link"])  # the link, drawn by segno
    assert b"<svg" in qr.content

    brought = await enrolled(api, "+79120000200", "anna 2026")  # as typed off a poster
    first = await purchase(api, brought, [receipt_line("oil", 3000)], "R-1")
    assert first.status_code == 201, first.text
    assert (await api.balance(anna))["available"] == 100
    second = await purchase(api, brought, [receipt_line("oil", 2000)], "R-2")
    assert second.status_code == 201, second.text
    assert (await api.balance(anna))["available"] == 100  # the second purchase pays nothing
    assert (await counts(api))["rewards"] == 1
    assert (await counts(api))["told"] == 1
    listed = await api.get(f"/v1/programs/{api.program_id}/promoters", key=api.admin_key)
    item = listed.json()["items"][0]
    assert (item["customers"], item["rewards"], item["rewarded_points"]) == (1, 1, 100)

    # A partial return leaves the reward; the return of the rest takes it back, once.
    line = receipt_line("pads", 1000)
    other = await enrolled(api, "+79120000300", "ANNA2026")
    two_lines = await purchase(api, other, [receipt_line("oil", 3000), line], "R-3")
    assert two_lines.status_code == 201, two_lines.text
    assert (await api.balance(anna))["available"] == 200
    operation = two_lines.json()["operation"]["id"]
    part = await return_lines(api, operation, [("pads", 1)], "RET-1")
    assert part.status_code == 201, part.text
    assert (await api.balance(anna))["available"] == 200
    rest = await return_lines(api, operation, [("oil", 1)], "RET-2")
    assert rest.status_code == 201, rest.text
    assert (await api.balance(anna))["available"] == 100
    statement = (await api.get(f"/v1/customers/{anna}/operations")).json()["items"]
    assert [(op["type"], op["points"]) for op in statement[:3]] == [
        ("refund", -100),
        ("accrual", 100),
        ("accrual", 100),
    ]
    assert statement[1]["status"] == "refunded"
    again = await return_lines(api, operation, [("oil", 1)], "RET-3")
    assert again.status_code == 409  # nothing left to return: nothing taken twice
    assert (await api.balance(anna))["available"] == 100
    shown = await api.get(
        f"/v1/programs/{api.program_id}/promoters/{made['id']}", key=api.admin_key
    )
    assert (shown.json()["customers"], shown.json()["rewards"]) == (2, 1)
    await assert_ledger_clean(api.runtime)


async def test_a_share_of_the_first_purchase_in_points(api: Api) -> None:
    assert (await put_rules(api, now_rules)).status_code == 200
    partner = await api.customer("+79120000100")
    await promoter(api, partner, code="GYM1", reward_share_bp=500)  # 5 % of the money
    brought = await enrolled(api, "+79120000200", "GYM1")
    bought = await purchase(api, brought, [receipt_line("oil", 3000)], "R-1")
    assert bought.status_code == 201, bought.text
    # 5 % of 3,000 roubles at 1 rouble a point
    assert (await api.balance(partner))["available"] == 150
    await assert_ledger_clean(api.runtime)


async def test_refusals_write_nothing(api: Api) -> None:
    anna = await api.customer("+79120000100")
    elsewhere, _, _ = await make_program(api.runtime, "Another program")
    path = f"/v1/programs/{api.program_id}/promoters"
    await promoter(api, anna, code="TAKEN", reward_points=10)
    before = await counts(api)

    stranger = await api.post(
        path,
        {"customer_id": elsewhere, "name": "x", "reward_points": 5},
        key=api.admin_key,
    )
    assert (stranger.status_code, stranger.json()["field"]) == (404, "customer_id")
    taken = await api.post(
        path, {"customer_id": anna, "name": "x", "code": "taken", "reward_points": 5},
        key=api.admin_key,
    )  # fmt: skip
    assert (taken.status_code, taken.json()["code"]) == (409, "promoter_code_taken")
    unpaid = await api.post(path, {"customer_id": anna, "name": "x"}, key=api.admin_key)
    assert (unpaid.status_code, unpaid.json()["field"]) == (400, "reward_points")
    bad = await api.post(
        path, {"customer_id": anna, "name": "x", "code": "ab!cd", "reward_points": 5},
        key=api.admin_key,
    )  # fmt: skip
    assert (bad.status_code, bad.json()["field"]) == (400, "code")
    share = await api.post(
        path, {"customer_id": anna, "name": "x", "reward_share_bp": 10_001}, key=api.admin_key
    )
    assert share.status_code == 400
    till = await api.post(path, {"customer_id": anna, "name": "x", "reward_points": 5})
    assert till.status_code == 403
    unknown = await api.post("/v1/customers", {"phone": "+79120000200", "promoter_code": "NOPE1"})
    assert (unknown.status_code, unknown.json()["code"]) == (404, "promoter_not_found")
    assert unknown.json()["field"] == "promoter_code"
    assert await counts(api) == before
    across = await api.get(f"/v1/programs/{elsewhere}/promoters", key=api.admin_key)
    assert across.json()["items"] == []


async def test_two_first_purchases_at_once_reward_once(api: Api) -> None:
    assert (await put_rules(api, now_rules)).status_code == 200
    anna = await api.customer("+79120000100")
    await promoter(api, anna, code="ONCE", reward_points=70)
    brought = await enrolled(api, "+79120000200", "ONCE")
    answers = await asyncio.gather(
        *(purchase(api, brought, [receipt_line("oil", 1000)], f"R-{n}") for n in range(4))
    )
    assert [answer.status_code for answer in answers] == [201] * 4
    assert (await api.balance(anna))["available"] == 70
    assert (await counts(api))["rewards"] == 1
    await assert_ledger_clean(api.runtime)


async def test_a_web_shop_order_carrying_the_code_rewards_the_promoter_once(api: Api) -> None:
    assert (await put_rules(api, now_rules)).status_code == 200
    anna = await api.customer("+79120000100")
    await promoter(api, anna, code="SHOP5", reward_points=40)
    async with api.runtime.database.transaction() as store:
        created = await create_key(store, api.program_id_uuid, "web shop", ["shop"], None)
    shop_key = created.key
    buyer = await api.customer("+79120000200")  # enrolled by the shop, no code
    basket = [receipt_line("oil", 1000)]

    async def pay(order: str, code: str) -> Any:
        return await api.post(
            f"/shop/v1/orders/{order}/pay",
            {"customer_id": buyer, "lines": basket, "promoter_code": code},
            key=shop_key,
        )

    unknown = await pay("1", "NOSUCH")  # an unknown code is ignored: the order stands
    assert unknown.status_code == 200, unknown.text
    assert (await api.balance(anna))["available"] == 0
    assert (await counts(api))["attributed"] == 0
    other = await api.customer("+79120000300")
    first = await api.post(
        "/shop/v1/orders/2/pay",
        {"customer_id": other, "lines": basket, "promoter_code": "shop-5"},
        key=shop_key,
    )
    assert first.status_code == 200, first.text
    assert (await api.balance(anna))["available"] == 40
    late = await pay("3", "SHOP5")  # the buyer has bought already: not the promoter's
    assert late.status_code == 200, late.text
    assert (await api.balance(anna))["available"] == 40
    assert (await counts(api))["attributed"] == 1
    await assert_ledger_clean(api.runtime)
