"""The customer's messages in the console: every trigger message made for the customer, newest
first, a page at a time (channel, trigger, state and why, the recipient as stored, when it was
made and sent), read through the same use case as ``GET /v1/customers/{id}/messages``
(``Triggers.messages``, decision 0023). The card links it; nothing here changes anything."""

from typing import Any
from uuid import UUID

from litestar import Controller, Request, Response, get
from litestar.response import Redirect

from api.console.operations import cursor_in, refusal, size
from api.console.pages import (
    console_exception_handlers,
    page,
    refused_text,
    security_headers,
    session_or_sign_in,
    when,
)
from processing.runtime import Runtime
from processing.service.records import Accepted, Refused

AnyRequest = Request[Any, Any, Any]


class ConsoleMessagesController(Controller):
    path = "/console/customers/{customer_id:uuid}/messages"
    opt = {"public": True}  # noqa: RUF012  (Litestar reads it as configuration)
    include_in_schema = False
    response_headers = security_headers
    exception_handlers = console_exception_handlers

    @get("/", name="console_customer_messages")
    async def messages(
        self,
        request: AnyRequest,
        runtime: Runtime,
        customer_id: UUID,
        lang: str | None = None,
        cursor: str | None = None,
    ) -> Response[Any]:
        signed = await session_or_sign_in(request, runtime, lang)
        if isinstance(signed, Redirect):
            return signed
        actor, locale = signed.actor, signed.session.locale
        customer = await runtime.customers.get(actor, customer_id)
        if not isinstance(customer, Accepted):  # not the key's to see: back to the search
            text = refused_text(locale, customer) if isinstance(customer, Refused) else None
            return page("console/search.html", locale, signed, 404, message=text)
        cursor = cursor_in(cursor)
        listed = await runtime.triggers.messages(actor, customer_id, size, cursor)
        return page(
            "console/customer_messages.html",
            locale,
            signed,
            404 if isinstance(listed, Refused) else 200,
            customer=customer.value,
            listed=listed.value if isinstance(listed, Accepted) else None,
            message=refusal(locale, listed) if isinstance(listed, Refused) else None,
            first_page=cursor is not None,
            when=when,
        )
