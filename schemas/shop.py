"""Wire structs of the web-shop checkout (``/shop/v1``): points held on the shop's cart, the
order paid (committing the cart's hold as one purchase under the order id), cancelled, or
returned by line, always by the shop's own cart and order ids. Pricing a basket is the tills'
``CheckoutCalculate``; returns are the tills' ``ChequeReturn``."""

from typing import Annotated
from uuid import UUID

import msgspec
from msgspec import Meta

from schemas.base import DocumentId, Points, Receipt, Request, TtlSeconds
from schemas.certificates import CertificatePayments
from schemas.promo import PromoCodes


class CartReserve(Request, frozen=True, kw_only=True):
    """Points held for this cart until its order is paid, the cart is abandoned, or the TTL."""

    customer_id: UUID
    points: Points
    lines: Receipt
    ttl_seconds: TtlSeconds | None = None


class OrderPay(Request, frozen=True, kw_only=True):
    """The order is paid, with its final basket. With ``cart_id``: the cart's reservation pays
    ``points`` (at most the held ones, all when omitted). Without one: ``customer_id`` names the
    customer and the order only earns."""

    lines: Receipt
    cart_id: DocumentId | None = None
    customer_id: UUID | None = None
    points: Points | None = None
    promo_codes: PromoCodes = msgspec.field(
        default_factory=list
    )  # every one must apply, else 409 promo_code_refused
    # Gift certificates paying part of the money (decision 0033).
    certificates: CertificatePayments | None = None
    # The promoter's code the visitor arrived with (the shop keeps the link's ``promoter``
    # parameter, decision 0034): a customer yet to buy becomes the promoter's, and this first
    # purchase rewards the promoter. An unknown code is ignored.
    promoter_code: Annotated[str, Meta(min_length=1, max_length=64)] | None = None
