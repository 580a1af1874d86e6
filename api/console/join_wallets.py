"""The enrollment page's wallet buttons (decision 0031): the customer's card as an Apple Wallet
pass or saved to Google Wallet, through those wallets' own use cases acting as the page's key,
for the signed-in customer (``/join/{slug}/…``) or the holder of a live card link
(``/join/{slug}/card/{token}/…``); without either, nothing."""

from typing import Any, Literal, NamedTuple
from uuid import UUID

from litestar import Controller, Request, Response, get
from litestar.response import Redirect

from api.console.enrollment import refusal_page
from api.console.join_words import words
from api.console.pages import security_headers, unavailable
from api.console.sessions import ConsoleUnavailable
from api.console.visits import visit_of
from api.controllers.wallet import pass_response
from processing.runtime import RedisError, Runtime
from processing.service.messaging.enrollment import page_actor
from processing.service.ports import EnrollmentPageRecord
from processing.service.records import Accepted, Refused

AnyRequest = Request[Any, Any, Any]


Wallet = Literal["apple", "google"]


class Holder(NamedTuple):
    """Whose card a wallet button is for: the page's customer, signed in or sent a link."""

    page: EnrollmentPageRecord
    customer_id: UUID


class JoinWalletsController(Controller):
    path = "/join/{slug:str}"
    opt = {"public": True}  # noqa: RUF012  (Litestar reads it as configuration)
    include_in_schema = False
    response_headers = security_headers
    exception_handlers = {ConsoleUnavailable: unavailable, RedisError: unavailable}  # noqa: RUF012

    @get("/apple-wallet", name="join_apple_wallet")
    async def apple_wallet(self, request: AnyRequest, runtime: Runtime, slug: str) -> Response[Any]:
        """The signed-in customer's card as an Apple Wallet pass."""
        return await in_wallet(runtime, await signed_in(request, runtime, slug), "apple")

    @get("/google-wallet", name="join_google_wallet")
    async def google_wallet(
        self, request: AnyRequest, runtime: Runtime, slug: str
    ) -> Response[Any]:
        """The signed-in customer's card saved to Google Wallet: to Google's save page."""
        return await in_wallet(runtime, await signed_in(request, runtime, slug), "google")

    @get("/card/{token:str}/google-wallet", name="join_card_link_google_wallet")
    async def link_google_wallet(self, runtime: Runtime, slug: str, token: str) -> Response[Any]:
        """The card a link opens, saved to Google Wallet."""
        return await in_wallet(runtime, await linked(runtime, slug, token), "google")

    @get("/card/{token:str}/apple-wallet", name="join_card_link_apple_wallet")
    async def link_apple_wallet(self, runtime: Runtime, slug: str, token: str) -> Response[Any]:
        """The card a link opens, as an Apple Wallet pass."""
        return await in_wallet(runtime, await linked(runtime, slug, token), "apple")


async def signed_in(request: AnyRequest, runtime: Runtime, slug: str) -> Holder | Response[Any]:
    """The customer signed in on this page; otherwise the answer: no page, or to the sign-in."""
    page = await runtime.enrollments.page(slug)
    if page is None:
        return refusal_page(words["no_page"], 404)
    found = await visit_of(request, runtime)
    visit = None if found is None else found[1]
    if visit is None or visit.customer_id is None or visit.program_id != str(page.program_id):
        return Redirect(f"/join/{slug}/sign-in", status_code=303)
    return Holder(page, UUID(visit.customer_id))


async def linked(runtime: Runtime, slug: str, token: str) -> Holder | Response[Any]:
    """The customer a live card link names; otherwise the answer: no page, or no such link."""
    page = await runtime.enrollments.page(slug)
    if page is None:
        return refusal_page(words["no_page"], 404)
    customer_id = await runtime.enrollments.card_of_link(page, token[:200])
    if customer_id is None:
        return refusal_page(words["link_invalid"], 404)
    return Holder(page, customer_id)


async def in_wallet(
    runtime: Runtime, holder: Holder | Response[Any], wallet: Wallet
) -> Response[Any]:
    """The holder's live card in a wallet, through that wallet's use case acting as the page's
    key: a signed Apple pass, or a redirect to Google's save page (its object made sure of at
    Google first)."""
    if not isinstance(holder, Holder):
        return holder
    outcome = await runtime.enrollments.card_page(holder.page, holder.customer_id)
    if not isinstance(outcome, Accepted) or outcome.value.card_number is None:
        return refusal_page(words["link_invalid"], 404)
    actor, number = page_actor(holder.page), outcome.value.card_number
    if wallet == "apple":
        made = await runtime.apple_wallet.card_pass(actor, number)
    else:
        made = await runtime.google_wallet.save_link(actor, number)
    if isinstance(made, Refused):
        return refusal_page(words["refused"].format(detail=made.detail), 409)
    if wallet == "apple":
        return pass_response(made.value)
    return Redirect(made.value.url, status_code=303)
