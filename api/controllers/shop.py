"""The web-shop checkout, ``/shop/v1``: the tills' flow keyed by the shop's own cart and order
ids (see processing/service/checkout/shop.py). Each call is a thin translation into the same
use cases as ``/v1`` and ``/pos/v1``, so its answers and refusals are theirs."""

from typing import Any

from litestar import Controller, Request, Response, post

from api.controllers.pos import (
    PartnerId,
    certificates_of,
    lines_of,
    partner_id,
    quote,
    release,
    reserve,
    return_against,
)
from api.http import answer, mutation_for, renderer, respond
from processing.service.checkout.pos import Pos
from processing.service.checkout.shop import OrderPayment, ShopCheckout
from processing.service.ledger.use_cases import Ledger
from processing.service.loyalty.use_cases import Loyalty
from processing.service.records import Actor
from schemas.api import Commit, Hold, Refund
from schemas.loyalty import CheckoutCalculate, CheckoutQuote
from schemas.pos import ChequeReturn, Identify, TillCustomer
from schemas.shop import CartReserve, OrderPay

AnyRequest = Request[Any, Any, Any]


def cart(cart_id: str) -> str:
    return partner_id(cart_id, "cart_id")


def order(order_id: str) -> str:
    return partner_id(order_id, "order_id")


class ShopController(Controller):
    path = "/shop/v1"
    opt = {"scopes": frozenset({"shop"})}
    tags = ["web shops"]

    @post("/identify", name="shop_identify", status_code=200)
    async def identify(
        self, request: AnyRequest, data: Identify, pos: Pos, actor: Actor
    ) -> Response[TillCustomer]:
        """The customer by phone or card number, with the balance and tier to show. Reads only."""
        outcome = await pos.identify(actor, data.identifier.type, data.identifier.value)
        return answer(request, outcome, TillCustomer)

    @post("/calculate", name="shop_calculate", status_code=200)
    async def calculate(
        self, request: AnyRequest, data: CheckoutCalculate, loyalty: Loyalty, actor: Actor
    ) -> Response[CheckoutQuote]:
        """Prices the cart: the program's discount per line (``program_discount_minor``, what
        the shop takes off), what points may pay, per line, and what it earns, with what each
        promo code gives or why it does not apply. Reads only."""
        return await quote(request, data, loyalty, actor)

    @post("/carts/{cart_id:str}/reserve", name="shop_reserve", status_code=201)
    async def reserve_cart(
        self, request: AnyRequest, cart_id: PartnerId, data: CartReserve, ledger: Ledger
    ) -> Response[Hold]:
        """Holds the points the customer chose to pay this cart with (capped by the rules)."""
        return await reserve(request, data, cart(cart_id), ledger)

    @post("/carts/{cart_id:str}/cancel", name="shop_cart_cancel", status_code=200)
    async def cancel_cart(
        self, request: AnyRequest, cart_id: PartnerId, pos: Pos
    ) -> Response[Hold]:
        """The cart was abandoned: its points are released."""
        return await release(request, cart(cart_id), pos)

    @post("/orders/{order_id:str}/pay", name="shop_order_pay", status_code=200)
    async def pay(
        self, request: AnyRequest, order_id: PartnerId, data: OrderPay, shop: ShopCheckout
    ) -> Response[Commit]:
        """The order is paid: one purchase under the order id that spends what its cart held
        and earns on the money; with no cart, a purchase that earns only. Its ``promo_codes``
        must all apply (else 409 ``promo_code_refused``)."""
        command = OrderPayment(
            lines=lines_of(data),
            cart_id=None if data.cart_id is None else cart(data.cart_id),
            customer_id=data.customer_id,
            points=data.points,
            promo_codes=tuple(data.promo_codes),
            certificates=certificates_of(data),
            promoter_code=data.promoter_code,
        )
        stored = await shop.pay(
            mutation_for(request, data, order_id), order(order_id), command, renderer(Commit)
        )
        return respond(request, stored)

    @post("/orders/{order_id:str}/cancel", name="shop_order_cancel", status_code=201)
    async def cancel_order(
        self, request: AnyRequest, order_id: PartnerId, shop: ShopCheckout
    ) -> Response[Refund]:
        """The paid order was cancelled: one refund returns every line it still has."""
        stored = await shop.cancel_order(
            mutation_for(request, None, order_id), order(order_id), renderer(Refund)
        )
        return respond(request, stored)

    @post("/orders/{order_id:str}/returns", name="shop_order_return", status_code=201)
    async def return_lines(
        self, request: AnyRequest, order_id: PartnerId, data: ChequeReturn, pos: Pos
    ) -> Response[Refund]:
        """Lines of a paid order returned."""
        return await return_against(request, data, order(order_id), pos)
