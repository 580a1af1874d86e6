"""A program's public enrollment page settings (operators), and card links sent to a customer
(managers): decision 0031."""

from typing import Any
from uuid import UUID

from litestar import Controller, Request, Response, get, post, put

from api.auth import admin_scopes, manager_scopes
from api.http import answer, mutation_for, renderer, respond
from processing.service.messaging.enrollment import Enrollments, PageSettings
from processing.service.records import Actor
from schemas.enrollment import CardLinkPost, CardLinkView, EnrollmentPagePut, EnrollmentPageView

AnyRequest = Request[Any, Any, Any]


class EnrollmentPageController(Controller):
    path = "/v1/programs/{program_id:uuid}/enrollment-page"
    opt = {"scopes": admin_scopes}
    tags = ["enrollment"]

    @put("", name="put_enrollment_page", status_code=200)
    async def replace(
        self,
        request: AnyRequest,
        program_id: UUID,
        data: EnrollmentPagePut,
        enrollments: Enrollments,
    ) -> Response[EnrollmentPageView]:
        """Opens, changes or closes the program's public enrollment page at ``/join/{slug}``.
        The first call also makes the page's own key, the actor of what the page writes."""
        settings = PageSettings(
            slug=data.slug,
            enabled=data.enabled,
            display_name=data.display_name,
            terms=data.terms,
            sms_wording=data.sms_wording,
            email_wording=data.email_wording,
        )
        stored = await enrollments.configure(
            mutation_for(request, data, program_id),
            program_id,
            settings,
            renderer(EnrollmentPageView),
        )
        return respond(request, stored)

    @get("", name="get_enrollment_page")
    async def get(
        self, request: AnyRequest, program_id: UUID, enrollments: Enrollments, actor: Actor
    ) -> Response[EnrollmentPageView]:
        """The page's settings; 404 when the program never had one."""
        outcome = await enrollments.settings(actor, program_id)
        return answer(request, outcome, EnrollmentPageView)


class CardLinksController(Controller):
    path = "/v1/customers/{customer_id:uuid}/card-links"
    opt = {"scopes": manager_scopes}
    tags = ["enrollment"]

    @post("", name="send_card_link", status_code=201)
    async def send(
        self, request: AnyRequest, customer_id: UUID, data: CardLinkPost, enrollments: Enrollments
    ) -> Response[CardLinkView]:
        """Sends the customer, by SMS or e-mail, a link to their card on the program's
        enrollment page (signed, for this customer's card only, expiring in 30 days). A replay
        with the same Idempotency-Key sends nothing; 502 when the provider did not take it."""
        stored = await enrollments.send_card_link(
            mutation_for(request, data, customer_id),
            customer_id,
            data.channel,
            renderer(CardLinkView),
        )
        return respond(request, stored)
