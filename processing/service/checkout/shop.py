"""The web-shop checkout, ``/shop/v1``: the till's flow keyed by the shop's own ids, the cart
while the customer shops and the order once it is paid, so a shop never has to keep ours.

Points are held on the cart (a reservation whose document is the cart id); paying the order
commits that hold as ONE purchase whose document is the order id, so returns and a cancellation
later name the order. An order paid with no reserved cart earns only: a web shop is always
online, so points never pay without a reservation (unlike a till's offline cheques). A cancelled
order returns every line it still has: the points that paid come back, the points it earned go.
"""

from uuid import UUID

import msgspec

from processing.core.model import Line
from processing.core.rejections import Rejection
from processing.service.certificates.payments import CertificateRequest
from processing.service.checkout.pos import Pos, as_commit, reserved_for_another
from processing.service.loyalty.promoters import attribute_customer
from processing.service.loyalty.use_cases import (
    CommitCommand,
    LineReturnCommand,
    Loyalty,
    PurchaseCommand,
)
from processing.service.mutations import Mutation, Render
from processing.service.records import Document, StoredResponse, refuse


class OrderPayment(msgspec.Struct, frozen=True, kw_only=True):
    """An order paid: its final basket; the cart whose reservation pays with points (``points``
    at most the held ones, all when None), or, with no cart, the customer it earns for."""

    lines: tuple[Line, ...]
    cart_id: str | None = None
    customer_id: UUID | None = None
    points: int | None = None
    promo_codes: tuple[str, ...] = ()  # as typed; each must apply (decision 0032)
    certificates: tuple[CertificateRequest, ...] | None = None  # paying part of the money
    promoter_code: str | None = None  # the code the visitor arrived with (decision 0034)


class ShopCheckout:
    def __init__(self, pos: Pos, loyalty: Loyalty) -> None:
        self.pos = pos
        self.loyalty = loyalty

    async def attribute(self, mutation: Mutation, customer_id: UUID, code: str | None) -> None:
        """An order carrying a promoter's code (decision 0034): its customer, not attributed
        and yet to buy, becomes the promoter's before the order applies, so that this first
        purchase rewards the promoter. Who brought a customer stands whatever the order's fate."""
        program_id = mutation.actor.program_id
        if code is not None and program_id is not None:
            await attribute_customer(self.loyalty.database, customer_id, program_id, code)

    async def pay(
        self, mutation: Mutation, order_id: str, command: OrderPayment, render: Render
    ) -> StoredResponse:
        if command.cart_id is None:
            return await self.earn_only(mutation, order_id, command, render)
        hold = await self.pos.cheque_hold(mutation.actor, command.cart_id)
        if hold is None:
            return render(
                refuse(
                    Rejection.hold_not_found,
                    f"Cart {command.cart_id} reserved nothing here.",
                    field="cart_id",
                )
            )
        if command.customer_id not in (None, hold.customer_id):
            return render(reserved_for_another(f"Cart {command.cart_id}"))
        await self.attribute(mutation, hold.customer_id, command.promoter_code)
        paid = CommitCommand(
            points=command.points,
            lines=command.lines,
            document=Document(id=order_id),
            promo_codes=command.promo_codes,
            certificates=command.certificates,
        )
        return await self.loyalty.commit(mutation, hold.hold_id, paid, render)

    async def earn_only(
        self, mutation: Mutation, order_id: str, command: OrderPayment, render: Render
    ) -> StoredResponse:
        if command.points:
            return render(
                refuse(
                    Rejection.reservation_required,
                    "Points pay for an order only through its cart's reservation: reserve them "
                    "on the cart, then pay the order with cart_id.",
                    field="points",
                )
            )
        if command.customer_id is None:
            return render(
                refuse(
                    Rejection.validation_error,
                    "An order with no reserved cart names its customer.",
                    field="customer_id",
                )
            )
        await self.attribute(mutation, command.customer_id, command.promoter_code)
        bought = PurchaseCommand(
            document=Document(id=order_id),
            lines=command.lines,
            promo_codes=command.promo_codes,
            certificates=command.certificates,
        )
        return await self.loyalty.purchase(mutation, command.customer_id, bought, as_commit(render))

    async def cancel_order(
        self, mutation: Mutation, order_id: str, render: Render
    ) -> StoredResponse:
        """The whole order is cancelled after payment: every line it still has is returned
        (the refund's document is the order id, so a second cancellation is refused)."""
        everything = LineReturnCommand(document=Document(id=order_id), lines=None)
        return await self.pos.return_lines(mutation, order_id, everything, render)
