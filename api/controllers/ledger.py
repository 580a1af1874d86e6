"""Points: accruals, holds (reserve, commit, cancel), refunds and single operations."""

from typing import Any
from uuid import UUID

import msgspec
from litestar import Controller, Request, Response, get, post

from api.auth import program_scopes
from api.errors import ProblemError
from api.http import answer, mutation_for, renderer, respond
from processing.core.rejections import Rejection
from processing.service.ledger.decisions import AccrualCommand, RefundCommand, ReserveCommand
from processing.service.ledger.reads import Reads
from processing.service.ledger.use_cases import Ledger
from processing.service.loyalty.use_cases import CommitCommand, LineReturnCommand, Loyalty
from processing.service.records import Accepted, Actor, Document, refuse
from schemas.api import (
    AccrualCreate,
    ActiveHoldList,
    Commit,
    Hold,
    HoldCommit,
    HoldCreate,
    Operation,
    Refund,
    RefundCreate,
)

AnyRequest = Request[Any, Any, Any]


class LedgerController(Controller):
    path = "/v1"
    opt = {"scopes": program_scopes}
    tags = ["points"]

    @post("/customers/{customer_id:uuid}/accruals", name="accrue", status_code=201)
    async def accrue(
        self, request: AnyRequest, customer_id: UUID, data: AccrualCreate, ledger: Ledger
    ) -> Response[Operation]:
        """Accrues points in a new lot (pending until ``activates_at``, expiring at
        ``expires_at`` or by the program's policy)."""
        command = msgspec.convert(data, AccrualCommand, from_attributes=True)
        stored = await ledger.accrue(
            mutation_for(request, data, customer_id), customer_id, command, renderer(Operation)
        )
        return respond(request, stored)

    @post("/customers/{customer_id:uuid}/holds", name="reserve", status_code=201)
    async def reserve(
        self, request: AnyRequest, customer_id: UUID, data: HoldCreate, ledger: Ledger
    ) -> Response[Hold]:
        """Holds points for a pending purchase; available drops at once. The hold expires after
        ``ttl_seconds`` unless committed or cancelled."""
        command = msgspec.convert(data, ReserveCommand, from_attributes=True)
        stored = await ledger.reserve(
            mutation_for(request, data, customer_id), customer_id, command, renderer(Hold)
        )
        return respond(request, stored)

    @get("/customers/{customer_id:uuid}/holds", name="active_holds")
    async def active_holds(
        self, request: AnyRequest, customer_id: UUID, reads: Reads, actor: Actor
    ) -> Response[ActiveHoldList]:
        """The customer's active holds (not yet committed, cancelled or expired), newest first,
        at most 50; a store's key sees only its own store's."""
        outcome = await reads.active_holds(actor, customer_id)
        if isinstance(outcome, Accepted):
            outcome = Accepted(value=ActiveHoldList(items=outcome.value))
        return answer(request, outcome, ActiveHoldList)

    @get("/holds/{hold_id:uuid}", name="get_hold")
    async def get_hold(
        self, request: AnyRequest, hold_id: UUID, reads: Reads, actor: Actor
    ) -> Response[Hold]:
        """The hold and its status."""
        return answer(request, await reads.hold(actor, hold_id), Hold)

    @post("/holds/{hold_id:uuid}/commit", name="commit", status_code=200)
    async def commit(
        self, request: AnyRequest, hold_id: UUID, loyalty: Loyalty, data: HoldCommit | None = None
    ) -> Response[Commit]:
        """Spends the held points. With the final receipt (``lines``), or when the hold was
        reserved with one, the answer is one ``purchase`` operation that also earns on the
        money paid, with the priced ``receipt``."""
        command = (
            CommitCommand()
            if data is None
            else msgspec.convert(data, CommitCommand, from_attributes=True)
        )
        stored = await loyalty.commit(
            mutation_for(request, data, hold_id), hold_id, command, renderer(Commit)
        )
        return respond(request, stored)

    @post("/holds/{hold_id:uuid}/cancel", name="cancel", status_code=200)
    async def cancel(self, request: AnyRequest, hold_id: UUID, ledger: Ledger) -> Response[Hold]:
        """Releases a hold. Racing a commit of the same hold, exactly one wins; the other gets a
        definite refusal."""
        stored = await ledger.cancel(mutation_for(request, None, hold_id), hold_id, renderer(Hold))
        return respond(request, stored)

    @post("/operations/{operation_id:uuid}/refunds", name="refund", status_code=201)
    async def refund(
        self,
        request: AnyRequest,
        operation_id: UUID,
        data: RefundCreate,
        ledger: Ledger,
        loyalty: Loyalty,
    ) -> Response[Refund]:
        """Refunds a redemption (points return), an accrual or a purchase (points are clawed
        back) by ``points``; or returns ``lines`` of a purchase, settling points already spent
        by the program's return policy."""
        mutation = mutation_for(request, data, operation_id)
        if data.lines is not None:
            if data.points is not None:
                raise ProblemError(
                    refuse(
                        Rejection.validation_error,
                        "Give either points or lines, not both.",
                        field="points",
                    )
                )
            returned = LineReturnCommand(
                document=msgspec.convert(data.document, Document, from_attributes=True),
                lines=tuple((line.line_id, line.quantity) for line in data.lines),
            )
            stored = await loyalty.return_lines(mutation, operation_id, returned, renderer(Refund))
            return respond(request, stored)
        command = msgspec.convert(data, RefundCommand, from_attributes=True)
        stored = await ledger.refund(mutation, operation_id, command, renderer(Refund))
        return respond(request, stored)

    @get("/operations/{operation_id:uuid}", name="get_operation")
    async def get_operation(
        self, request: AnyRequest, operation_id: UUID, reads: Reads, actor: Actor
    ) -> Response[Operation]:
        """One operation with its document."""
        return answer(request, await reads.operation(actor, operation_id), Operation)
