"""The enrollment page's wallet buttons (decision 0031): the customer's card as an Apple Wallet
pass or saved to Google Wallet, through those wallets' own use cases acting as the page's key,
for the signed-in customer (``/join/{slug}/…``) or the holder of a live card link
(``/join/{slug}/card/{token}/…``); without either, nothing."""

from typing import Any
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


class JoinWalletsController(Controller):
    path = "/join/{slug:str}"
    opt = {"public": True}  # noqa: RUF012  (Litestar reads it as configuration)
    include_in_schema = False
    response_headers = security_headers
    exception_handlers = {ConsoleUnavailable: unavailable, RedisError: unavailable}  # noqa: RUF012

    @get("/apple-wallet", name="join_apple_wallet")
    async def apple_wallet(self, request: AnyRequest, runtime: Runtime, slug: str) -> Response[Any]:
        """The signed-in customer's card as an Apple Wallet pass."""
        page = await runtime.enrollments.page(slug)
        if page is None:
            return refusal_page(words["no_page"], 404)
        found = await visit_of(request, runtime)
        if found is None or found[1].customer_id is None:
            return Redirect(f"/join/{slug}/sign-in", status_code=303)
        if found[1].program_id != str(page.program_id):
            return Redirect(f"/join/{slug}/sign-in", status_code=303)
        return await pass_of(runtime, page, UUID(found[1].customer_id))

    @get("/google-wallet", name="join_google_wallet")
    async def google_wallet(
        self, request: AnyRequest, runtime: Runtime, slug: str
    ) -> Response[Any]:
        """The signed-in customer's card saved to Google Wallet: to Google's save page."""
        page = await runtime.enrollments.page(slug)
        if page is None:
            return refusal_page(words["no_page"], 404)
        found = await visit_of(request, runtime)
        if found is None or found[1].customer_id is None:
            return Redirect(f"/join/{slug}/sign-in", status_code=303)
        if found[1].program_id != str(page.program_id):
            return Redirect(f"/join/{slug}/sign-in", status_code=303)
        return await google_save(runtime, page, UUID(found[1].customer_id))

    @get("/card/{token:str}/google-wallet", name="join_card_link_google_wallet")
    async def link_google_wallet(self, runtime: Runtime, slug: str, token: str) -> Response[Any]:
        """The card a link opens, saved to Google Wallet."""
        page = await runtime.enrollments.page(slug)
        if page is None:
            return refusal_page(words["no_page"], 404)
        customer_id = await runtime.enrollments.card_of_link(page, token[:200])
        if customer_id is None:
            return refusal_page(words["link_invalid"], 404)
        return await google_save(runtime, page, customer_id)

    @get("/card/{token:str}/apple-wallet", name="join_card_link_apple_wallet")
    async def link_apple_wallet(self, runtime: Runtime, slug: str, token: str) -> Response[Any]:
        """The card a link opens, as an Apple Wallet pass."""
        page = await runtime.enrollments.page(slug)
        if page is None:
            return refusal_page(words["no_page"], 404)
        customer_id = await runtime.enrollments.card_of_link(page, token[:200])
        if customer_id is None:
            return refusal_page(words["link_invalid"], 404)
        return await pass_of(runtime, page, customer_id)


async def pass_of(runtime: Runtime, page: EnrollmentPageRecord, customer_id: UUID) -> Response[Any]:
    """The customer's live card as a signed pass, through the Apple Wallet use case."""
    outcome = await runtime.enrollments.card_page(page, customer_id)
    if not isinstance(outcome, Accepted) or outcome.value.card_number is None:
        return refusal_page(words["link_invalid"], 404)
    made = await runtime.apple_wallet.card_pass(page_actor(page), outcome.value.card_number)
    if isinstance(made, Refused):
        return refusal_page(words["refused"].format(detail=made.detail), 409)
    return pass_response(made.value)


async def google_save(
    runtime: Runtime, page: EnrollmentPageRecord, customer_id: UUID
) -> Response[Any]:
    """The customer's live card's "Save to Google Wallet" link, through the Google Wallet use
    case (its object made sure of at Google first): a redirect to Google's save page."""
    outcome = await runtime.enrollments.card_page(page, customer_id)
    if not isinstance(outcome, Accepted) or outcome.value.card_number is None:
        return refusal_page(words["link_invalid"], 404)
    made = await runtime.google_wallet.save_link(page_actor(page), outcome.value.card_number)
    if isinstance(made, Refused):
        return refusal_page(words["refused"].format(detail=made.detail), 409)
    return Redirect(made.value.url, status_code=303)
