"""The public enrollment page of a program, ``/join/{slug}`` (decision 0031): mobile-first,
Russian, server-rendered, nothing from another host.

Step one asks for a phone and sends a code; step two takes the code with the person's name,
birthday and a separate box per marketing consent (none ticked beforehand, and joining does not
depend on them), enrolls them through the API's own use case and opens their page: the card
with its QR code (SVG drawn here), the balance with what expires when, and the latest
operations. A customer who comes back confirms their phone the same way (``/sign-in``). A card
link sent by SMS or e-mail opens the card alone (``/card/{token}``).

The visitor's state lives in Redis (``api/console/visits.py``); every form carries its CSRF
token. The abuse limits are counted before anything is sent or written; a request over one is
answered 429 with the limit's words.
"""

import io
from datetime import date
from typing import Any, Final
from uuid import UUID

import msgspec
import segno
from litestar import Controller, Request, Response, get, post
from litestar.response import Redirect, Template

from api.auth import client_address
from api.console.join_words import operation_words, words
from api.console.pages import html, security_headers, unavailable
from api.console.sessions import ConsoleUnavailable, form_of, same_origin
from api.console.visits import (
    Visit,
    csrf_matches,
    drop,
    keep,
    new_visit,
    visit_cookie,
    visit_of,
)
from processing.core.rejections import Rejection
from processing.runtime import RedisError, Runtime
from processing.service.messaging.enrollment import (
    CardPage,
    CodeSent,
    Details,
    Enrollments,
    Joined,
    Limited,
    check_details,
    page_actor,
)
from processing.service.ports import AbuseWindowsUnavailable, EnrollmentPageRecord
from processing.service.records import Accepted, Refused

AnyRequest = Request[Any, Any, Any]
qr_scale: Final = 6
consent_channels: Final = ("sms", "email")


def card_svg(number: str) -> str:
    """The card's QR code as inline SVG, drawn on the server: what the till's scanner reads
    (``/pos/v1/identify`` with ``qr``). segno: a well-kept pure-Python encoder, no image
    library and nothing fetched."""
    buffer = io.BytesIO()
    segno.make(number, error="m", micro=False).save(
        buffer, kind="svg", scale=qr_scale, xmldecl=False, svgns=True, title=number
    )
    return buffer.getvalue().decode()


def join_page(
    name: str,
    page: EnrollmentPageRecord,
    current: Visit | None,
    status_code: int = 200,
    **context: Any,
) -> Template:
    return Template(
        template_name=f"join/{name}.html",
        context={"t": words, "page": page, "csrf": current.csrf if current else "", **context},
        media_type=html,
        status_code=status_code,
    )


def refusal_page(message: str, status_code: int, retry_after: int | None = None) -> Template:
    headers = {"Retry-After": str(retry_after)} if retry_after else {}
    return Template(
        template_name="join/refused.html",
        context={"t": words, "message": message},
        media_type=html,
        status_code=status_code,
        headers=headers,
    )


def refused_message(refused: Refused) -> str:
    """A use case's refusal in the page's words, by the field or code it names."""
    by_field = {"phone": "bad_phone", "name": "bad_name", "birthday": "bad_birthday"}
    if refused.field in by_field:
        return words[by_field[refused.field]]
    if refused.field == "email":
        return words["bad_email_shape" if "not an address" in refused.detail else "bad_email"]
    code = refused.rejection
    if code is Rejection.sms_code_invalid:
        left = refused.detail.split(": ")[-1].split(" ")[0]
        return words["bad_code"].format(left=left)
    if code is Rejection.sms_attempts_exceeded:
        return words["code_spent"]
    if code is Rejection.sms_code_expired:
        return words["code_expired"]
    if code is Rejection.not_found and refused.field == "code":
        return words["code_unknown"]
    if code is Rejection.sms_not_sent:
        return words["sms_not_sent"]
    return words["refused"].format(detail=refused.detail)


def refused_status(refused: Refused) -> int:
    return 502 if refused.rejection is Rejection.sms_not_sent else 422


def details_of(form: dict[str, str]) -> Details | Refused:
    birthday: date | None = None
    text = form.get("birthday", "").strip()
    if text:
        try:
            birthday = date.fromisoformat(text)
        except ValueError:
            return Refused(
                rejection=Rejection.validation_error, detail="birthday", field="birthday"
            )
    return Details(
        name=form.get("name", "").strip(),
        birthday=birthday,
        email=form.get("email", "").strip() or None,
        consents=tuple(channel for channel in consent_channels if form.get(f"consent_{channel}")),
    )


class JoinController(Controller):
    path = "/join/{slug:str}"
    opt = {"public": True}  # noqa: RUF012  (Litestar reads it as configuration)
    include_in_schema = False
    response_headers = security_headers
    exception_handlers = {  # noqa: RUF012
        ConsoleUnavailable: unavailable,
        RedisError: unavailable,
        AbuseWindowsUnavailable: unavailable,
    }

    @get("", name="join_page")
    async def start(self, request: AnyRequest, runtime: Runtime, slug: str) -> Response[Any]:
        """Step one: the phone. A signed-in customer of this program goes to their page."""
        return await self.phone_step(request, runtime, slug, "join")

    @get("/sign-in", name="join_sign_in")
    async def sign_in(self, request: AnyRequest, runtime: Runtime, slug: str) -> Response[Any]:
        return await self.phone_step(request, runtime, slug, "sign_in")

    async def phone_step(
        self, request: AnyRequest, runtime: Runtime, slug: str, purpose: str
    ) -> Response[Any]:
        page = await runtime.enrollments.page(slug)
        if page is None:
            return refusal_page(words["no_page"], 404)
        found = await visit_of(request, runtime)
        if (
            found is not None
            and found[1].customer_id
            and found[1].program_id == str(page.program_id)
        ):
            return Redirect(f"/join/{slug}/card", status_code=303)
        token, visit = found if found is not None else await new_visit(runtime)
        # A promoter's link or QR code (decision 0034): a code the program knows is kept with
        # the visit and enrolls the customer as the promoter's; an unknown one is ignored.
        typed = request.query_params.get("promoter")
        if typed and purpose == "join":
            known = await runtime.promoters.known_code(page.program_id, typed[:64])
            if known is not None and known != visit.promoter:
                visit = msgspec.structs.replace(visit, promoter=known)
                await keep(runtime, token, visit)
        response = join_page("phone", page, visit, purpose=purpose)
        response.cookies.append(visit_cookie(request, token))
        return response

    @post("/code", name="join_send_code", status_code=200)
    async def send_code(self, request: AnyRequest, runtime: Runtime, slug: str) -> Response[Any]:
        """Sends a code to the phone typed, within the limits; then the code's form."""
        checked = await self.checked_form(request, runtime, slug, "code")
        if not isinstance(checked, tuple):
            return checked
        page, token, visit, form = checked
        purpose = "sign_in" if form.get("purpose") == "sign_in" else "join"
        sent = await runtime.enrollments.send_code(page, form.get("phone", ""))
        if isinstance(sent, Limited):
            return limited_page(sent)
        if isinstance(sent, Refused):
            message = refused_message(sent)
            return join_page(
                "phone", page, visit, refused_status(sent), purpose=purpose, message=message
            )
        assert isinstance(sent, CodeSent)  # noqa: S101 - the three outcomes of send_code
        visit = Visit(
            csrf=visit.csrf,
            program_id=str(page.program_id),
            purpose=purpose,
            code_id=str(sent.code_id),
            phone=sent.phone,
            promoter=visit.promoter,
        )
        await keep(runtime, token, visit)
        return Redirect(f"/join/{slug}/confirm", status_code=303)

    @get("/confirm", name="join_confirm_page")
    async def confirm_page(self, request: AnyRequest, runtime: Runtime, slug: str) -> Response[Any]:
        page = await runtime.enrollments.page(slug)
        if page is None:
            return refusal_page(words["no_page"], 404)
        found = await visit_of(request, runtime)
        if found is None or found[1].code_id is None:
            return Redirect(f"/join/{slug}", status_code=303)
        return self.confirm_form(page, found[1])

    def confirm_form(
        self, page: EnrollmentPageRecord, visit: Visit, status_code: int = 200, **context: Any
    ) -> Template:
        masked = (visit.phone or "")[:5] + "***" + (visit.phone or "")[-2:]
        return join_page(
            "confirm",
            page,
            visit,
            status_code,
            visit=visit,
            sent=words["code_sent"].format(phone=masked),
            form=context.pop("form", {}),
            **context,
        )

    @post("/confirm", name="join_confirm", status_code=200)
    async def confirm(self, request: AnyRequest, runtime: Runtime, slug: str) -> Response[Any]:
        """Checks the details, then the code; enrolls (or finds) the customer and opens their
        page. Bad details try no code and write nothing."""
        checked = await self.checked_form(request, runtime, slug, "post")
        if not isinstance(checked, tuple):
            return checked
        page, token, visit, form = checked
        if visit.code_id is None or visit.phone is None or visit.program_id != str(page.program_id):
            return refusal_page(words["session_gone"], 409)
        enrollments: Enrollments = runtime.enrollments
        details = await self.details(runtime, visit, form)
        if isinstance(details, Refused):
            return self.confirm_form(page, visit, 422, message=refused_message(details), form=form)
        if not visit.confirmed:
            confirmed = await enrollments.confirm(page, UUID(visit.code_id), form.get("code", ""))
            if isinstance(confirmed, Refused):
                return self.confirm_form(
                    page, visit, 422, message=refused_message(confirmed), form=form
                )
            visit = msgspec.structs.replace(visit, confirmed=True)
            await keep(runtime, token, visit)
        return await self.finish(runtime, page, token, visit, details, form)

    async def details(
        self, runtime: Runtime, visit: Visit, form: dict[str, str]
    ) -> Details | Refused | None:
        """The join form's details, checked before any code is tried (None: signing in)."""
        if visit.purpose != "join":
            return None
        details = details_of(form)
        if isinstance(details, Refused):
            return details
        details = msgspec.structs.replace(details, promoter_code=visit.promoter)
        async with runtime.database.reader() as store:
            today = (await store.clock_now()).date()
        return check_details(details, today) or details

    async def finish(
        self,
        runtime: Runtime,
        page: EnrollmentPageRecord,
        token: str,
        visit: Visit,
        details: Details | None,
        form: dict[str, str],
    ) -> Response[Any]:
        """The confirmed phone: enrolled (or found enrolled) and signed in."""
        code_id, phone = UUID(visit.code_id or ""), visit.phone or ""
        enrollments: Enrollments = runtime.enrollments
        if details is None:
            customer_id = await enrollments.existing(page, phone)
            if customer_id is None:
                visit = msgspec.structs.replace(visit, purpose="join")
                await keep(runtime, token, visit)
                return self.confirm_form(page, visit, 200, message=words["not_member"])
            joined = Joined(customer_id=customer_id, created=False)
        else:
            outcome = await enrollments.join(page, code_id, phone, details)
            if isinstance(outcome, Refused):
                return self.confirm_form(
                    page, visit, 422, message=refused_message(outcome), form=form
                )
            assert isinstance(outcome, Accepted)  # noqa: S101 - join answers one or the other
            joined = outcome.value
        signed = msgspec.structs.replace(visit, customer_id=str(joined.customer_id))
        await keep(runtime, token, signed)
        note = "welcome" if joined.created else "already"
        return Redirect(f"/join/{page.slug}/card?note={note}", status_code=303)

    @get("/card", name="join_card")
    async def card(
        self, request: AnyRequest, runtime: Runtime, slug: str, note: str | None = None
    ) -> Response[Any]:
        """The signed-in customer's page: card, balance, what expires, latest operations."""
        page = await runtime.enrollments.page(slug)
        if page is None:
            return refusal_page(words["no_page"], 404)
        found = await visit_of(request, runtime)
        if (
            found is None
            or found[1].customer_id is None
            or found[1].program_id != str(page.program_id)
        ):
            return Redirect(f"/join/{slug}/sign-in", status_code=303)
        token, visit = found
        await keep(runtime, token, visit)  # a step: the session lives on from it
        outcome = await runtime.enrollments.card_page(page, UUID(visit.customer_id))
        if not isinstance(outcome, Accepted):
            await drop(runtime, token)
            return Redirect(f"/join/{slug}", status_code=303)
        wallets = await wallet_links(runtime, page, f"/join/{slug}")
        return self.card_template(page, visit, outcome.value, note, wallets)

    def card_template(
        self,
        page: EnrollmentPageRecord,
        visit: Visit | None,
        card: CardPage,
        note: str | None,
        wallets: dict[str, str],
    ) -> Template:
        return join_page(
            "card",
            page,
            visit,
            card=card,
            wallets=wallets if card.card_number else {},
            qr=card_svg(card.card_number) if card.card_number else None,
            note=words.get(note or "") if note in ("welcome", "already") else None,
            operation_words=operation_words,
            signed_in=visit is not None,
        )

    @get("/card/{token:str}", name="join_card_link")
    async def card_link(
        self, request: AnyRequest, runtime: Runtime, slug: str, token: str
    ) -> Response[Any]:
        """The card a link sent by SMS or e-mail opens: the card only; the balance after the
        phone is confirmed."""
        page = await runtime.enrollments.page(slug)
        if page is None:
            return refusal_page(words["no_page"], 404)
        customer_id = await runtime.enrollments.card_of_link(page, token[:200])
        if customer_id is None:
            return refusal_page(words["link_invalid"], 404)
        outcome = await runtime.enrollments.card_page(page, customer_id)
        if not isinstance(outcome, Accepted):
            return refusal_page(words["link_invalid"], 404)
        wallets = await wallet_links(runtime, page, f"/join/{slug}/card/{token}")
        return self.card_template(page, None, outcome.value, None, wallets)

    @post("/sign-out", name="join_sign_out", status_code=200)
    async def sign_out(self, request: AnyRequest, runtime: Runtime, slug: str) -> Response[Any]:
        checked = await self.checked_form(request, runtime, slug, "post")
        if not isinstance(checked, tuple):
            return checked
        _, token, _, _ = checked
        await drop(runtime, token)
        return Redirect(f"/join/{slug}", status_code=303, cookies=[visit_cookie(request, "")])

    async def checked_form(
        self, request: AnyRequest, runtime: Runtime, slug: str, kind: str
    ) -> tuple[EnrollmentPageRecord, str, Visit, dict[str, str]] | Response[Any]:
        """The steps every POST shares: the page, the address's limits, the visit and its
        CSRF token (403 and nothing changes)."""
        page = await runtime.enrollments.page(slug)
        if page is None:
            return refusal_page(words["no_page"], 404)
        address = client_address(request)
        limited = await runtime.enrollments.admit(address, "post")
        if limited is not None:
            return limited_page(limited)
        found = await visit_of(request, runtime)
        form = await form_of(request)
        if found is None or not same_origin(request) or not csrf_matches(found[1], form):
            return refusal_page(words["forbidden"], 403)
        assert form is not None  # noqa: S101 - csrf_matches found a token in it
        # A code asked for with a forged form costs the address no code: counted after CSRF.
        limited = await runtime.enrollments.admit(address, "code") if kind == "code" else None
        if limited is not None:
            return limited_page(limited)
        return page, found[0], found[1], form


def limited_page(limited: Limited) -> Template:
    return refusal_page(words[limited.limit], 429, retry_after=limited.retry_after_seconds)


async def wallet_links(runtime: Runtime, page: EnrollmentPageRecord, base: str) -> dict[str, str]:
    """The wallet buttons the program can serve, each once its wallet is set up: under
    ``base`` (the session's page, or a card link's)."""
    actor, links = page_actor(page), {}
    if isinstance(await runtime.apple_wallet.settings(actor, page.program_id), Accepted):
        links["apple"] = f"{base}/apple-wallet"
    if isinstance(await runtime.google_wallet.settings(actor, page.program_id), Accepted):
        links["google"] = f"{base}/google-wallet"
    return links
