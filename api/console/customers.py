"""The customer's card in the console: balance, open lots, active holds, tier, cards and
statement, and its actions (a manual adjustment, cancelling a hold, blocking or unblocking a
card, issuing a card, setting or clearing the manual tier, blocking or unblocking the account,
merging a duplicate record into the customer).

Each action is a form through ``console_action`` (``api/console/actions.py``) and the same use
case as its API call; a refusal is shown on the card, a success answers 303 back to it.
"""

from functools import partial
from typing import Any
from uuid import UUID

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.response import Redirect, Template

from api.console.actions import Form, Place, Where, Wrong, console_action
from api.console.pages import (
    Problem,
    console_exception_handlers,
    has_nul,
    page,
    refused_text,
    security_headers,
    session_or_sign_in,
    when,
)
from api.console.sessions import Signed, new_form_key
from api.console.words import words
from api.http import renderer
from processing.core import limits
from processing.runtime import Runtime
from processing.service.ledger.decisions import AdjustmentCommand
from processing.service.loyalty.customers import MergeCommand
from processing.service.loyalty.use_cases import TierCommand
from processing.service.records import Accepted, Actor, Refused, StoredResponse
from schemas.api import (
    AdjustmentCreate,
    CardCreate,
    CardJournal,
    Customer,
    Hold,
    Merge,
    MergeCreate,
    Operation,
    StatusChange,
)
from schemas.enrollment import CardLinkPost, CardLinkView
from schemas.loyalty import CustomerTier, TierSet

AnyRequest = Request[Any, Any, Any]
# What a success on the customer's card says (``?done=``).
customer_notices = frozenset(
    {
        "adjusted",
        "blocked",
        "unblocked",
        "account_blocked",
        "account_unblocked",
        "tier_set",
        "tier_cleared",
        "card_issued",
        "card_link_sent",
        "hold_cancelled",
        "merged",
    }
)


async def customer_page(
    runtime: Runtime,
    signed: Signed,
    customer_id: UUID,
    *,
    cursor: str | None = None,
    notice: str | None = None,
    message: str | None = None,
    status_code: int = 200,
) -> Template:
    """The customer's card; a customer the key cannot see goes back to the search."""
    actor, locale = signed.actor, signed.session.locale
    customer = await runtime.customers.get(actor, customer_id)
    if not isinstance(customer, Accepted):
        text = refused_text(locale, customer) if isinstance(customer, Refused) else None
        return page("console/search.html", locale, signed, 404, message=text)
    balance = await runtime.reads.balance(actor, customer_id)
    statement = await runtime.reads.statement(
        actor, customer_id, limits.console_statement_page_size, cursor
    )
    if isinstance(statement, Refused):
        message = message or refused_text(locale, statement)
    lots = await runtime.reads.lots(actor, customer_id)
    holds = await runtime.reads.active_holds(actor, customer_id)
    hold_list = holds.value if isinstance(holds, Accepted) else []
    tier = await runtime.loyalty.tier(actor, customer_id)
    rules = await runtime.loyalty.rules(actor, customer.value.program_id)
    tiers = [item.name for item in rules.value.rules.tiers] if isinstance(rules, Accepted) else []
    return page(
        "console/customer.html",
        locale,
        signed,
        status_code,
        customer=customer.value,
        balance=balance.value if isinstance(balance, Accepted) else None,
        statement=statement.value if isinstance(statement, Accepted) else None,
        first_page=cursor is not None,
        adjust_key=new_form_key(),
        block_keys={card.number: new_form_key() for card in customer.value.cards},
        account_key=new_form_key(),
        lots=lots.value if isinstance(lots, Accepted) else None,
        holds=hold_list,
        hold_keys={hold.id: new_form_key() for hold in hold_list},
        tier=tier.value if isinstance(tier, Accepted) else None,
        tiers=tiers,
        tier_key=new_form_key(),
        tier_clear_key=new_form_key(),
        card_key=new_form_key(),
        card_link_key=new_form_key(),
        merge_key=new_form_key(),
        notice=notice,
        message=message,
        when=when,
    )


def on_card(runtime: Runtime, customer_id: UUID) -> Where:
    """A form on the customer's card: shown again there, a success back to it."""

    async def where(signed: Signed, fields: dict[str, str]) -> Place:
        return Place(
            show=partial(customer_page, runtime, signed, customer_id),
            back=f"/console/customers/{customer_id}",
        )

    return where


async def duplicate_of(runtime: Runtime, actor: Actor, named: str) -> UUID:
    """The customer a merge form names: by id, else by phone, else by card (as an operator
    finds them at the desk); ``Wrong`` when none is found."""
    try:
        return UUID(named)
    except ValueError:
        pass
    if named and not has_nul(named) and len(named) <= limits.card_number_length_max:
        for phone, card in ((named, None), (None, named)):
            found = await runtime.customers.find(actor, phone, card)
            if isinstance(found, Accepted):
                return found.value.id  # type: ignore[no-any-return]
    raise Wrong("merge_not_found", status_code=404)


def reason_of(form: Form) -> StatusChange:
    """The reason a block or unblock gives, as the API reads it."""
    reason = form.text("reason")
    try:
        data = msgspec.convert({"reason": reason}, StatusChange)
    except msgspec.ValidationError as error:
        raise Wrong() from error
    if has_nul(reason):
        raise Wrong()
    return data


class ConsoleCustomerController(Controller):
    path = "/console/customers/{customer_id:uuid}"
    opt = {"public": True}  # noqa: RUF012  (Litestar reads it as configuration)
    include_in_schema = False
    response_headers = security_headers
    exception_handlers = console_exception_handlers

    @get("/", name="console_customer")
    async def customer(
        self,
        request: AnyRequest,
        runtime: Runtime,
        customer_id: UUID,
        lang: str | None = None,
        cursor: str | None = None,
        done: str | None = None,
    ) -> Response[Any]:
        signed = await session_or_sign_in(request, runtime, lang)
        if isinstance(signed, Redirect):
            return signed
        t = words(signed.session.locale)
        notice = t.get(f"done_{done}") if done in customer_notices else None
        return await customer_page(runtime, signed, customer_id, cursor=cursor, notice=notice)

    @post("/adjustments", name="console_adjust", status_code=303)
    async def adjust(
        self, request: AnyRequest, runtime: Runtime, customer_id: UUID
    ) -> Response[Any]:
        async def step(form: Form) -> StoredResponse:
            reason = form.text("reason")
            try:
                points = int(form.text("points"))
                data = msgspec.convert({"points": points, "reason": reason}, AdjustmentCreate)
            except (ValueError, msgspec.ValidationError) as error:
                raise Wrong("bad_text" if "reason" in str(error) else "bad_points") from error
            if has_nul(reason):
                raise Wrong()
            command = msgspec.convert(data, AdjustmentCommand, from_attributes=True)
            mutation = form.mutation("console_adjust", customer_id, data)
            return await runtime.ledger.adjust(mutation, customer_id, command, renderer(Operation))

        return await console_action(
            request, runtime, on_card(runtime, customer_id), step, "adjusted"
        )

    @post("/cards/block", name="console_block_card", status_code=303)
    async def block_card(
        self, request: AnyRequest, runtime: Runtime, customer_id: UUID
    ) -> Response[Any]:
        return await self.card_status(request, runtime, customer_id, blocked=True)

    @post("/cards/unblock", name="console_unblock_card", status_code=303)
    async def unblock_card(
        self, request: AnyRequest, runtime: Runtime, customer_id: UUID
    ) -> Response[Any]:
        return await self.card_status(request, runtime, customer_id, blocked=False)

    @post("/block", name="console_block_account", status_code=303)
    async def block_account(
        self, request: AnyRequest, runtime: Runtime, customer_id: UUID
    ) -> Response[Any]:
        return await self.account_block(request, runtime, customer_id, blocked=True)

    @post("/unblock", name="console_unblock_account", status_code=303)
    async def unblock_account(
        self, request: AnyRequest, runtime: Runtime, customer_id: UUID
    ) -> Response[Any]:
        return await self.account_block(request, runtime, customer_id, blocked=False)

    @staticmethod
    async def card_status(
        request: AnyRequest, runtime: Runtime, customer_id: UUID, *, blocked: bool
    ) -> Response[Any]:
        """Blocks or unblocks one of the customer's cards with a reason, as
        ``POST /v1/cards/{number}/block`` and ``/unblock`` do; the card must be this
        customer's."""

        async def step(form: Form) -> StoredResponse:
            number, data = form.fields.get("number", ""), reason_of(form)
            customer = await runtime.customers.get(form.signed.actor, customer_id)
            cards = customer.value.cards if isinstance(customer, Accepted) else []
            if number not in [card.number for card in cards]:
                raise Wrong()
            operation = "console_block_card" if blocked else "console_unblock_card"
            mutation = form.mutation(operation, customer_id, number, data.reason)
            return await runtime.customers.set_card_status(
                mutation, number, blocked, data.reason, renderer(CardJournal)
            )

        done = "blocked" if blocked else "unblocked"
        return await console_action(request, runtime, on_card(runtime, customer_id), step, done)

    @staticmethod
    async def account_block(
        request: AnyRequest, runtime: Runtime, customer_id: UUID, *, blocked: bool
    ) -> Response[Any]:
        """Blocks or unblocks the customer's account with a reason, as
        ``POST /v1/customers/{id}/block`` and ``/unblock`` do."""

        async def step(form: Form) -> StoredResponse:
            data = reason_of(form)
            operation = "console_block_account" if blocked else "console_unblock_account"
            mutation = form.mutation(operation, customer_id, data.reason)
            return await runtime.customers.set_account_block(
                mutation, customer_id, blocked, data.reason, renderer(Customer)
            )

        done = "account_blocked" if blocked else "account_unblocked"
        return await console_action(request, runtime, on_card(runtime, customer_id), step, done)

    @post("/tier", name="console_set_tier", status_code=303)
    async def set_tier(
        self, request: AnyRequest, runtime: Runtime, customer_id: UUID
    ) -> Response[Any]:
        return await self.manual_tier(request, runtime, customer_id, clear=False)

    @post("/tier/clear", name="console_clear_tier", status_code=303)
    async def clear_tier(
        self, request: AnyRequest, runtime: Runtime, customer_id: UUID
    ) -> Response[Any]:
        return await self.manual_tier(request, runtime, customer_id, clear=True)

    @staticmethod
    async def manual_tier(
        request: AnyRequest, runtime: Runtime, customer_id: UUID, *, clear: bool
    ) -> Response[Any]:
        """Sets or clears the manual tier with a reason, as ``PUT /v1/customers/{id}/tier``
        does (``Loyalty.set_tier``); a tier the rules do not name is refused on the page."""

        async def step(form: Form) -> StoredResponse:
            reason, tier = form.text("reason"), None if clear else form.text("tier")
            if tier == "":
                raise Wrong("bad_tier")
            try:
                data = msgspec.convert({"tier": tier, "reason": reason}, TierSet)
            except msgspec.ValidationError as error:
                raise Wrong("bad_tier" if "tier" in str(error) else "bad_text") from error
            if has_nul(reason, tier or ""):
                raise Wrong()
            command = msgspec.convert(msgspec.to_builtins(data), TierCommand)
            mutation = form.mutation("console_set_tier", customer_id, data)
            return await runtime.loyalty.set_tier(
                mutation, customer_id, command, renderer(CustomerTier)
            )

        done = "tier_cleared" if clear else "tier_set"
        return await console_action(request, runtime, on_card(runtime, customer_id), step, done)

    @post("/holds/{hold_id:uuid}/cancel", name="console_cancel_hold", status_code=303)
    async def cancel_hold(
        self, request: AnyRequest, runtime: Runtime, customer_id: UUID, hold_id: UUID
    ) -> Response[Any]:
        """Cancels one of the customer's active holds, as ``POST /v1/holds/{id}/cancel`` does
        (``Ledger.cancel``); a hold already committed, cancelled or expired is refused on the
        page."""

        async def step(form: Form) -> StoredResponse:
            # The hold must be this customer's: a form naming another's hold changes nothing.
            hold = await runtime.reads.hold(form.signed.actor, hold_id)
            if not isinstance(hold, Accepted) or hold.value.customer_id != customer_id:
                locale = form.signed.session.locale
                text = refused_text(locale, Problem(code="hold_not_found"))
                raise Wrong(message=text, status_code=404)
            mutation = form.mutation("console_cancel_hold", customer_id, hold_id)
            return await runtime.ledger.cancel(mutation, hold_id, renderer(Hold))

        return await console_action(
            request, runtime, on_card(runtime, customer_id), step, "hold_cancelled"
        )

    @post("/cards", name="console_issue_card", status_code=303)
    async def issue_card(
        self, request: AnyRequest, runtime: Runtime, customer_id: UUID
    ) -> Response[Any]:
        """Issues a new card number to the customer, as ``POST /v1/customers/{id}/cards``."""

        async def step(form: Form) -> StoredResponse:
            try:
                data = msgspec.convert({"number": form.text("number")}, CardCreate)
            except msgspec.ValidationError as error:
                raise Wrong("bad_card") from error
            mutation = form.mutation("console_issue_card", customer_id, data)
            return await runtime.customers.add_card(
                mutation, customer_id, data.number, renderer(Customer)
            )

        return await console_action(
            request, runtime, on_card(runtime, customer_id), step, "card_issued"
        )

    @post("/card-links", name="console_send_card_link", status_code=303)
    async def send_card_link(
        self, request: AnyRequest, runtime: Runtime, customer_id: UUID
    ) -> Response[Any]:
        """Sends the customer a link to their card by SMS or e-mail, as
        ``POST /v1/customers/{id}/card-links``."""

        async def step(form: Form) -> StoredResponse:
            try:
                data = msgspec.convert({"channel": form.text("channel")}, CardLinkPost)
            except msgspec.ValidationError as error:
                raise Wrong() from error
            mutation = form.mutation("console_send_card_link", customer_id, data)
            return await runtime.enrollments.send_card_link(
                mutation, customer_id, data.channel, renderer(CardLinkView)
            )

        return await console_action(
            request, runtime, on_card(runtime, customer_id), step, "card_link_sent"
        )

    @post("/merge", name="console_merge", status_code=303)
    async def merge(
        self, request: AnyRequest, runtime: Runtime, customer_id: UUID
    ) -> Response[Any]:
        """Merges a duplicate record (named by id, phone or card) into this customer, as
        ``POST /v1/customers/{id}/merge`` does."""

        async def step(form: Form) -> StoredResponse:
            reason = form.text("reason")
            duplicate = await duplicate_of(runtime, form.signed.actor, form.text("duplicate"))
            try:
                data = msgspec.convert(
                    {"from_customer_id": str(duplicate), "reason": reason}, MergeCreate
                )
            except msgspec.ValidationError as error:
                raise Wrong() from error
            if has_nul(reason):
                raise Wrong()
            command = msgspec.convert(data, MergeCommand, from_attributes=True)
            # The form as typed: once merged, the duplicate's phone finds this customer, and a
            # second press must still be the first's replay.
            typed = {"duplicate": form.text("duplicate"), "reason": reason}
            mutation = form.mutation("console_merge", customer_id, typed)
            return await runtime.customers.merge(mutation, customer_id, command, renderer(Merge))

        return await console_action(request, runtime, on_card(runtime, customer_id), step, "merged")
