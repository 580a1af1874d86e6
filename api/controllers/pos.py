"""The cash-register protocol, ``/pos/v1``: the flow tills use everywhere, keyed by the till's
own cheque ids within its store (a terminal key belongs to a store). Each call is a thin
translation into the ``/v1`` use cases, so its answers and refusals are theirs."""

import re
from typing import Annotated, Any
from uuid import UUID

import msgspec
from litestar import Controller, Request, Response, post
from litestar.params import Parameter

from api.errors import ProblemError
from api.http import answer, mutation_for, renderer, respond
from processing.core.model import Line
from processing.core.rejections import Rejection
from processing.service.certificates.payments import CertificateRequest
from processing.service.checkout.pos import ChequeCommit as ChequeCommitCommand
from processing.service.checkout.pos import Pos
from processing.service.ledger.decisions import ReserveCommand
from processing.service.ledger.use_cases import Ledger
from processing.service.loyalty.use_cases import CalculationCommand, LineReturnCommand, Loyalty
from processing.service.messaging.sms import Sms
from processing.service.records import Actor, Document, refuse
from schemas.api import Commit, Hold, Refund
from schemas.loyalty import CheckoutCalculate, CheckoutQuote
from schemas.pos import (
    ChequeCommit,
    ChequeReserve,
    ChequeReturn,
    Identify,
    SmsConfirm,
    SmsConfirmed,
    SmsSend,
    SmsSent,
    TillCustomer,
)
from schemas.shop import CartReserve

AnyRequest = Request[Any, Any, Any]
pos_scopes = frozenset({"pos"})
_partner_id = re.compile(r"^[\x21-\x7e]{1,128}$")
# A cheque, cart or order id in the path, as the published contract states it.
PartnerId = Annotated[str, Parameter(pattern=_partner_id.pattern, min_length=1, max_length=128)]


def partner_id(value: str, field: str) -> str:
    """A till's cheque id, a shop's cart or order id, as it comes in the path."""
    if not _partner_id.match(value):
        raise ProblemError(
            refuse(
                Rejection.validation_error,
                f"A {field.replace('_', ' ')} is 1 to 128 visible ASCII characters.",
                field=field,
            )
        )
    return value


def cheque(cheque_id: str) -> str:
    return partner_id(cheque_id, "cheque_id")


def lines_of(data: Any) -> tuple[Line, ...]:
    return tuple(msgspec.convert(line, Line, from_attributes=True) for line in data.lines)


def certificates_of(data: Any) -> tuple[CertificateRequest, ...] | None:
    """The gift certificates a checkout call pays with (decision 0033), if any."""
    offered = getattr(data, "certificates", None)
    if offered is None:
        return None
    return tuple(
        msgspec.convert(item, CertificateRequest, from_attributes=True) for item in offered
    )


async def quote(
    request: AnyRequest, data: CheckoutCalculate, loyalty: Loyalty, actor: Actor
) -> Response[CheckoutQuote]:
    """A till's basket or a shop's cart priced: what points may pay, and what it earns."""
    command = CalculationCommand(
        customer_id=data.customer_id,
        lines=lines_of(data),
        redeem_points=data.redeem_points,
        promo_codes=tuple(data.promo_codes),
        certificates=certificates_of(data),
    )
    return answer(request, await loyalty.calculate(actor, command), CheckoutQuote)


async def reserve(
    request: AnyRequest, data: ChequeReserve | CartReserve, document_id: str, ledger: Ledger
) -> Response[Hold]:
    """Points held under a till's cheque id or a shop's cart id."""
    command = ReserveCommand(
        points=data.points,
        document=Document(id=document_id),
        ttl_seconds=data.ttl_seconds,
        card_number=getattr(data, "card_number", None),
        lines=lines_of(data),
    )
    stored = await ledger.reserve(
        mutation_for(request, data, document_id), data.customer_id, command, renderer(Hold)
    )
    return respond(request, stored)


async def release(request: AnyRequest, document_id: str, pos: Pos) -> Response[Hold]:
    """The points held under a till's cheque id or a shop's cart id, released."""
    stored = await pos.cancel(mutation_for(request, None, document_id), document_id, renderer(Hold))
    return respond(request, stored)


async def return_against(
    request: AnyRequest, data: ChequeReturn, document_id: str, pos: Pos
) -> Response[Refund]:
    """Lines returned against the purchase a cheque or an order made."""
    command = LineReturnCommand(
        document=Document(id=data.return_id),
        lines=tuple((line.line_id, line.quantity) for line in data.lines),
    )
    stored = await pos.return_lines(
        mutation_for(request, data, document_id), document_id, command, renderer(Refund)
    )
    return respond(request, stored)


class PosController(Controller):
    path = "/pos/v1"
    opt = {"scopes": pos_scopes}
    tags = ["cash registers"]

    @post("/identify", name="pos_identify", status_code=200)
    async def identify(
        self, request: AnyRequest, data: Identify, pos: Pos, actor: Actor
    ) -> Response[TillCustomer]:
        """Who is at the till, with the balance and tier to show the cashier. Reads only."""
        outcome = await pos.identify(actor, data.identifier.type, data.identifier.value)
        return answer(request, outcome, TillCustomer)

    @post("/sms-codes", name="pos_sms_send", status_code=201)
    async def send_code(self, request: AnyRequest, data: SmsSend, sms: Sms) -> Response[SmsSent]:
        """Sends a confirmation code to the customer's phone; its check lives five minutes. A
        replay with the same Idempotency-Key answers again and sends nothing."""
        stored = await sms.send(mutation_for(request, data), data.customer_id, renderer(SmsSent))
        return respond(request, stored)

    @post("/sms-codes/{check_id:uuid}/confirm", name="pos_sms_confirm", status_code=200)
    async def confirm_code(
        self, request: AnyRequest, check_id: UUID, data: SmsConfirm, sms: Sms
    ) -> Response[SmsConfirmed]:
        """Checks the code the customer read out; a few wrong tries spend the check."""
        stored = await sms.confirm(
            mutation_for(request, data, check_id), check_id, data.code, renderer(SmsConfirmed)
        )
        return respond(request, stored)

    @post("/calculate", name="pos_calculate", status_code=200)
    async def calculate(
        self, request: AnyRequest, data: CheckoutCalculate, loyalty: Loyalty, actor: Actor
    ) -> Response[CheckoutQuote]:
        """Prices the basket: the program's discount per line (``program_discount_minor``,
        what the till takes off), what points may pay, per line, and what it earns, with what
        each promo code gives or why it does not apply. Reads only."""
        return await quote(request, data, loyalty, actor)

    @post("/cheques/{cheque_id:str}/reserve", name="pos_reserve", status_code=201)
    async def reserve_cheque(
        self, request: AnyRequest, cheque_id: PartnerId, data: ChequeReserve, ledger: Ledger
    ) -> Response[Hold]:
        """The soft cheque: holds the points for this basket (capped by the rules)."""
        return await reserve(request, data, cheque(cheque_id), ledger)

    @post("/cheques/{cheque_id:str}/commit", name="pos_commit", status_code=200)
    async def commit(
        self, request: AnyRequest, cheque_id: PartnerId, data: ChequeCommit, pos: Pos
    ) -> Response[Commit]:
        """The fiscal cheque: one purchase operation that spends what the soft cheque held and
        earns on the money; with no soft cheque, a purchase that earns only. Its
        ``promo_codes`` must all apply (else 409 ``promo_code_refused``)."""
        command = ChequeCommitCommand(
            lines=lines_of(data),
            points=data.points,
            customer_id=data.customer_id,
            card_number=data.card_number,
            fiscal=None if data.fiscal is None else msgspec.to_builtins(data.fiscal),
            promo_codes=tuple(data.promo_codes),
            certificates=certificates_of(data),
        )
        stored = await pos.commit(
            mutation_for(request, data, cheque_id), cheque(cheque_id), command, renderer(Commit)
        )
        return respond(request, stored)

    @post("/cheques/{cheque_id:str}/cancel", name="pos_cancel", status_code=200)
    async def cancel(self, request: AnyRequest, cheque_id: PartnerId, pos: Pos) -> Response[Hold]:
        """The sale was abandoned: the soft cheque's points are released."""
        return await release(request, cheque(cheque_id), pos)

    @post("/cheques/{cheque_id:str}/returns", name="pos_return", status_code=201)
    async def return_lines(
        self, request: AnyRequest, cheque_id: PartnerId, data: ChequeReturn, pos: Pos
    ) -> Response[Refund]:
        """Lines returned against the original cheque."""
        return await return_against(request, data, cheque(cheque_id), pos)
