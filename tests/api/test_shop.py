"""The web-shop checkout, driven the way a shop's backend drives it with a ``shop`` key: price
the cart, hold points on it, pay the order (the cart's hold becomes one purchase under the order
id), return lines or cancel the whole order; every call keyed by the shop's own cart and order
ids. Also what must not happen: points paying with no reservation, a cart paying two orders, an
order paid twice, a cart abandoned and paid at once."""

import asyncio
from typing import Any

import pytest

from processing.service.admin import create_key
from tests.api.test_pos import basket, customer_at_till
from tests.conftest import Api
from tests.invariants import assert_ledger_clean


@pytest.fixture
async def shop_key(api: Api) -> str:
    async with api.runtime.database.transaction() as store:
        created = await create_key(store, api.program_id_uuid, "web shop", ["shop"], None)
    assert created.key is not None
    return created.key


async def shop(api: Api, key: str, path: str, body: Any = None, **kw: Any) -> Any:
    return await api.post(f"/shop/v1{path}", body, key=key, **kw)


async def test_an_order_paid_partly_with_points_from_cart_to_cancellation(
    api: Api, shop_key: str
) -> None:
    customer = await customer_at_till(api)
    found = await shop(
        api, shop_key, "/identify", {"identifier": {"type": "phone", "value": "+7 916 123 45 67"}}
    )
    assert (found.status_code, found.json()["customer_id"]) == (200, customer)
    quote = await shop(
        api,
        shop_key,
        "/calculate",
        {"customer_id": customer, "lines": basket, "redeem_points": 3000},
    )
    assert (quote.json()["max_redeemable_points"], quote.json()["earned_points"]) == (5000, 350)

    held = await shop(
        api, shop_key, "/carts/cart-7f3a/reserve",
        {"customer_id": customer, "points": 3000, "lines": basket},
    )  # fmt: skip
    assert held.status_code == 201, held.text
    assert (held.json()["document_id"], held.json()["status"]) == ("cart-7f3a", "active")
    assert (await api.balance(customer))["reserved"] == 3000

    body = {"cart_id": "cart-7f3a", "lines": basket}
    paid = await shop(api, shop_key, "/orders/1001/pay", body, idempotency_key="pay-1001")
    assert paid.status_code == 200, paid.text
    order = paid.json()
    assert (order["type"], order["document"]["id"]) == ("purchase", "1001")
    assert (order["redeemed_points"], order["receipt"]["earned_points"]) == (3000, 350)
    again = await shop(api, shop_key, "/orders/1001/pay", body, idempotency_key="pay-1001")
    assert again.content == paid.content
    assert (await api.balance(customer))["reserved"] == 0

    returned = await shop(
        api, shop_key, "/orders/1001/returns",
        {"return_id": "rma-1", "lines": [{"line_id": "work", "quantity": 1}]},
    )  # fmt: skip
    assert returned.status_code == 201, returned.text
    assert (returned.json()["points_returned"], returned.json()["points_clawed_back"]) == (
        1800,
        210,
    )

    cancelled = await shop(api, shop_key, "/orders/1001/cancel", idempotency_key="cancel-1001")
    assert cancelled.status_code == 201, cancelled.text  # a refund operation was created
    assert [line["line_id"] for line in cancelled.json()["lines"]] == ["oil"]
    assert (cancelled.json()["points_returned"], cancelled.json()["points_clawed_back"]) == (
        1200,
        140,
    )
    replay = await shop(api, shop_key, "/orders/1001/cancel", idempotency_key="cancel-1001")
    assert replay.content == cancelled.content
    twice = await shop(api, shop_key, "/orders/1001/cancel")
    assert (twice.status_code, twice.json()["code"]) == (409, "duplicate_document")
    assert (await api.balance(customer))["available"] == 10_000  # as before the order
    await assert_ledger_clean(api.runtime)


async def test_an_order_with_no_cart_earns_only_and_points_need_a_reservation(
    api: Api, shop_key: str
) -> None:
    customer = await customer_at_till(api)
    with_points = await shop(
        api, shop_key, "/orders/2001/pay", {"customer_id": customer, "lines": basket, "points": 10}
    )
    nobody = await shop(api, shop_key, "/orders/2001/pay", {"lines": basket})
    assert (with_points.status_code, with_points.json()["code"]) == (409, "reservation_required")
    assert (nobody.status_code, nobody.json()["field"]) == (400, "customer_id")
    assert (await api.balance(customer))["available"] == 10_000

    paid = await shop(api, shop_key, "/orders/2001/pay", {"customer_id": customer, "lines": basket})
    assert paid.status_code == 200, paid.text
    assert (paid.json()["redeemed_points"], paid.json()["receipt"]["earned_points"]) == (0, 500)
    # The shop's retry under a new key, after losing our answer: the order applies once.
    retried = await shop(
        api, shop_key, "/orders/2001/pay", {"customer_id": customer, "lines": basket}
    )
    assert (retried.status_code, retried.json()["code"]) == (409, "duplicate_document")
    assert (await api.balance(customer))["available"] == 10_500
    await assert_ledger_clean(api.runtime)


async def test_an_order_returned_line_by_line_has_nothing_left_to_cancel(
    api: Api, shop_key: str
) -> None:
    customer = await customer_at_till(api)
    await shop(api, shop_key, "/orders/2501/pay", {"customer_id": customer, "lines": basket})
    every_line = [{"line_id": "oil", "quantity": 1}, {"line_id": "work", "quantity": 1}]
    returned = await shop(
        api, shop_key, "/orders/2501/returns", {"return_id": "rma-9", "lines": every_line}
    )
    assert returned.status_code == 201, returned.text

    cancelled = await shop(api, shop_key, "/orders/2501/cancel")
    unknown = await shop(api, shop_key, "/orders/2599/cancel")

    assert (cancelled.status_code, cancelled.json()["code"]) == (409, "refund_exceeds_original")
    assert (unknown.status_code, unknown.json()["code"]) == (404, "not_found")
    assert (await api.balance(customer))["available"] == 10_000
    await assert_ledger_clean(api.runtime)


async def test_a_cart_pays_one_order_of_its_own_customer(api: Api, shop_key: str) -> None:
    customer = await customer_at_till(api)
    stranger = await api.customer(phone="+79160000009")
    await shop(
        api,
        shop_key,
        "/carts/c-1/reserve",
        {"customer_id": customer, "points": 500, "lines": basket},
    )

    unknown = await shop(api, shop_key, "/orders/3001/pay", {"cart_id": "c-404", "lines": basket})
    foreign = await shop(
        api, shop_key, "/orders/3001/pay",
        {"cart_id": "c-1", "customer_id": stranger, "lines": basket},
    )  # fmt: skip
    too_many = await shop(
        api, shop_key, "/orders/3001/pay", {"cart_id": "c-1", "lines": basket, "points": 501}
    )
    assert (unknown.status_code, unknown.json()["field"]) == (404, "cart_id")
    assert (foreign.status_code, foreign.json()["field"]) == (400, "customer_id")
    assert too_many.status_code == 409, too_many.text
    assert (await api.balance(customer))["reserved"] == 500

    first = await shop(api, shop_key, "/orders/3001/pay", {"cart_id": "c-1", "lines": basket})
    second = await shop(api, shop_key, "/orders/3002/pay", {"cart_id": "c-1", "lines": basket})
    assert first.status_code == 200, first.text
    assert (second.status_code, second.json()["code"]) == (409, "hold_already_committed")
    assert (await api.balance(customer))["available"] == 10_000 - 500 + 475
    await assert_ledger_clean(api.runtime)


async def test_an_abandoned_cart_gives_its_points_back_and_cannot_pay(
    api: Api, shop_key: str
) -> None:
    customer = await customer_at_till(api)
    await shop(
        api,
        shop_key,
        "/carts/c-2/reserve",
        {"customer_id": customer, "points": 700, "lines": basket},
    )
    abandoned = await shop(api, shop_key, "/carts/c-2/cancel")
    assert (abandoned.status_code, abandoned.json()["status"]) == (200, "cancelled")
    late = await shop(api, shop_key, "/orders/4001/pay", {"cart_id": "c-2", "lines": basket})
    assert late.status_code == 409, late.text
    nothing = await shop(api, shop_key, "/carts/never/cancel")
    assert nothing.status_code == 404
    balance = await api.balance(customer)
    assert (balance["available"], balance["reserved"]) == (10_000, 0)
    await assert_ledger_clean(api.runtime)


async def test_paying_and_abandoning_one_cart_at_once_lets_exactly_one_win(
    api: Api, shop_key: str
) -> None:
    customer = await customer_at_till(api)
    for round_ in range(5):
        cart = f"race-{round_}"
        await shop(
            api, shop_key, f"/carts/{cart}/reserve",
            {"customer_id": customer, "points": 100, "lines": basket},
        )  # fmt: skip
        paid, abandoned = await asyncio.gather(
            shop(api, shop_key, f"/orders/o-{round_}/pay", {"cart_id": cart, "lines": basket}),
            shop(api, shop_key, f"/carts/{cart}/cancel"),
        )
        assert sorted([paid.status_code, abandoned.status_code]) == [200, 409]
        assert (await api.balance(customer))["reserved"] == 0
    await assert_ledger_clean(api.runtime)


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [("/carts/my%20cart/reserve", {"points": 1}, "cart_id"),
     ("/orders/%D0%B7%D0%B0%D0%BA%D0%B0%D0%B7/pay", {}, "order_id"),
     ("/orders/5001/pay", {"cart_id": "my cart"}, "cart_id"),
     ("/orders/5001/cancel", None, None)],
)  # fmt: skip
async def test_ids_that_are_no_shop_ids_are_refused_and_change_nothing(
    api: Api, shop_key: str, path: str, body: Any, field: str | None
) -> None:
    customer = await customer_at_till(api)
    if body is not None:
        body = {"customer_id": customer, "lines": basket} | body
    response = await shop(api, shop_key, path, body)
    if field is None:
        assert (response.status_code, response.json()["code"]) == (404, "not_found")
    else:
        assert (response.status_code, response.json()["field"]) == (400, field)
    balance = await api.balance(customer)
    assert (balance["available"], balance["reserved"]) == (10_000, 0)


async def test_the_shop_api_takes_shop_keys_only(api: Api, shop_key: str) -> None:
    customer = await customer_at_till(api)
    body = {"customer_id": customer, "lines": basket}
    till = await api.post("/shop/v1/orders/6001/pay", body)  # the fixture's POS key
    web = await api.post("/pos/v1/cheques/6001/commit", body, key=shop_key)
    assert (till.status_code, till.json()["code"]) == (403, "forbidden_scope")
    assert (web.status_code, web.json()["code"]) == (403, "forbidden_scope")
