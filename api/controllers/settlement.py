"""Merchants of a coalition program, their stores, settlement statements between them and the
liability by merchant (decision 0026). Admin scope, as the other admin lists; a merchant's key
reads settlement and liability of its own merchant only."""

import re
from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID

from litestar import Controller, Request, Response, delete, get, post
from litestar.response import Stream

from api.auth import admin_scopes, program_scopes
from api.errors import ProblemError
from api.http import (
    Cursor,
    PageSize,
    actor_of,
    answer,
    attachment,
    mutation_for,
    renderer,
    respond,
)
from processing.core import limits
from processing.core.rejections import Rejection
from processing.service.ledger.merchants import MerchantCommand, Merchants
from processing.service.ledger.settlement import SettlementCommand, Settlements
from processing.service.records import Actor, Refused, refuse
from schemas.settlement import (
    Liability,
    Merchant,
    MerchantCreate,
    MerchantPage,
    MerchantStore,
    MerchantStorePage,
    Settlement,
    SettlementCreate,
    SettlementLinePage,
    SettlementPage,
    StoreAssign,
)

AnyRequest = Request[Any, Any, Any]
csv_media_type = "text/csv"
_store_pattern = re.compile(r"[0-9A-Za-z._-]{1,128}")
# Reads a merchant's key may make (its own side), whatever its scopes; others need admin.
merchant_reads = {"scopes": program_scopes}


def reading(actor: Actor) -> Actor:
    """The caller of a settlement read: a program-wide admin key, or a merchant's key (which
    the service confines to its merchant); any other key is refused."""
    if "admin" in actor.scopes or actor.merchant_id is not None:
        return actor
    raise ProblemError(
        refuse(
            Rejection.forbidden_scope,
            "Settlement is read with an admin key, or with a merchant's key for its side.",
        )
    )


def program_wide(request: AnyRequest) -> None:
    """Merchants, stores and statements are written by the program, never by a merchant."""
    if actor_of(request).merchant_id is not None:
        raise ProblemError(
            refuse(
                Rejection.forbidden_scope,
                "A merchant's key reads its own side; the program's keys write settlement.",
            )
        )


class SettlementController(Controller):
    path = "/v1"
    opt = {"scopes": admin_scopes}
    tags = ["settlement"]

    @post("/programs/{program_id:uuid}/merchants", name="create_merchant", status_code=201)
    async def create_merchant(
        self, request: AnyRequest, program_id: UUID, data: MerchantCreate, merchants: Merchants
    ) -> Response[Merchant]:
        """Adds a merchant (a legal entity with stores) to the program."""
        program_wide(request)
        command = MerchantCommand(name=data.name, legal_name=data.legal_name, tax_id=data.tax_id)
        stored = await merchants.create(
            mutation_for(request, data, program_id), program_id, command, renderer(Merchant)
        )
        return respond(request, stored)

    @get("/programs/{program_id:uuid}/merchants", name="list_merchants")
    async def list_merchants(
        self,
        request: AnyRequest,
        program_id: UUID,
        merchants: Merchants,
        actor: Actor,
        limit: PageSize = limits.page_size_default,
        cursor: Cursor = None,
    ) -> Response[MerchantPage]:
        """The program's merchants, newest first, a page at a time."""
        outcome = await merchants.page(actor, program_id, limit, cursor)
        return answer(request, outcome, MerchantPage)

    @get("/merchants/{merchant_id:uuid}", name="get_merchant", opt=merchant_reads)
    async def get_merchant(
        self, request: AnyRequest, merchant_id: UUID, merchants: Merchants, actor: Actor
    ) -> Response[Merchant]:
        """One merchant (a merchant's key: its own)."""
        return answer(request, await merchants.get(reading(actor), merchant_id), Merchant)

    @post("/merchants/{merchant_id:uuid}/stores", name="assign_store", status_code=201)
    async def assign_store(
        self, request: AnyRequest, merchant_id: UUID, data: StoreAssign, merchants: Merchants
    ) -> Response[MerchantStore]:
        """Assigns a store to the merchant from now (201); already its store: the assignment in
        force (200). A store of another merchant is refused (409 ``store_assigned_elsewhere``):
        end that assignment first. A store no key of the program names is 404."""
        program_wide(request)
        stored = await merchants.assign(
            mutation_for(request, data, merchant_id),
            merchant_id,
            data.store_id,
            renderer(MerchantStore),
        )
        return respond(request, stored)

    @get("/merchants/{merchant_id:uuid}/stores", name="list_merchant_stores")
    async def list_merchant_stores(
        self,
        request: AnyRequest,
        merchant_id: UUID,
        merchants: Merchants,
        actor: Actor,
        limit: PageSize = limits.page_size_default,
        cursor: Cursor = None,
    ) -> Response[MerchantStorePage]:
        """The stores that belong to the merchant now, newest assignment first."""
        outcome = await merchants.stores(actor, merchant_id, limit, cursor)
        return answer(request, outcome, MerchantStorePage)

    @delete(
        "/merchants/{merchant_id:uuid}/stores/{store_id:str}",
        name="unassign_store",
        status_code=200,
    )
    async def unassign_store(
        self, request: AnyRequest, merchant_id: UUID, store_id: str, merchants: Merchants
    ) -> Response[MerchantStore]:
        """Ends the store's assignment to the merchant now; from then on the store belongs to
        the program itself. Earlier periods keep reading it as the merchant's."""
        program_wide(request)
        if not _store_pattern.fullmatch(store_id):
            raise ProblemError(
                refuse(
                    Rejection.validation_error,
                    "store_id is 1 to 128 letters, digits, '.', '_' or '-'.",
                    field="store_id",
                )
            )
        stored = await merchants.unassign(
            mutation_for(request, None, merchant_id, store_id),
            merchant_id,
            store_id,
            renderer(MerchantStore),
        )
        return respond(request, stored)

    @get(
        "/programs/{program_id:uuid}/merchant-liability",
        name="merchant_liability",
        opt=merchant_reads,
    )
    async def merchant_liability(
        self, request: AnyRequest, program_id: UUID, settlements: Settlements, actor: Actor
    ) -> Response[Liability]:
        """Points outstanding by the merchant whose stores earned them (null: the program's own
        side), valued at the current point value; a merchant's key sees its own line."""
        outcome = await settlements.liability(reading(actor), program_id)
        return answer(request, outcome, Liability)

    @post("/programs/{program_id:uuid}/settlements", name="close_settlement", status_code=201)
    async def close_settlement(
        self,
        request: AnyRequest,
        program_id: UUID,
        data: SettlementCreate,
        settlements: Settlements,
    ) -> Response[Settlement]:
        """Closes the period [from, to) of the program's local days with a settlement statement:
        who owes whom for points earned at one merchant's stores and redeemed at another's. The
        statement never changes; a period overlapping a closed one is refused (409
        ``settlement_period_overlaps``), as is one not ended yet or longer than 92 days (400,
        naming ``to``)."""
        program_wide(request)
        command = SettlementCommand(start=data.period_from, end=data.period_to)
        stored = await settlements.close(
            mutation_for(request, data, program_id), program_id, command, renderer(Settlement)
        )
        return respond(request, stored)

    @get("/programs/{program_id:uuid}/settlements", name="list_settlements", opt=merchant_reads)
    async def list_settlements(
        self,
        request: AnyRequest,
        program_id: UUID,
        settlements: Settlements,
        actor: Actor,
        limit: PageSize = limits.page_size_default,
        cursor: Cursor = None,
    ) -> Response[SettlementPage]:
        """The program's statements, newest first, without their totals."""
        outcome = await settlements.page(reading(actor), program_id, limit, cursor)
        return answer(request, outcome, SettlementPage)

    @get("/settlements/{statement_id:uuid}", name="get_settlement", opt=merchant_reads)
    async def get_settlement(
        self, request: AnyRequest, statement_id: UUID, settlements: Settlements, actor: Actor
    ) -> Response[Settlement]:
        """The statement with each party's totals (a merchant's key: its own)."""
        outcome = await settlements.get(reading(actor), statement_id)
        return answer(request, outcome, Settlement)

    @get("/settlements/{statement_id:uuid}/lines", name="settlement_lines", opt=merchant_reads)
    async def settlement_lines(
        self,
        request: AnyRequest,
        statement_id: UUID,
        settlements: Settlements,
        actor: Actor,
        limit: PageSize = limits.page_size_default,
        cursor: Cursor = None,
    ) -> Response[SettlementLinePage]:
        """The statement's lines in order, a page at a time (a merchant's key: those where its
        merchant earned or redeemed)."""
        outcome = await settlements.lines(reading(actor), statement_id, limit, cursor)
        return answer(request, outcome, SettlementLinePage)

    @get(
        "/settlements/{statement_id:uuid}/export",
        name="export_settlement",
        opt=merchant_reads,
        media_type=csv_media_type,
        response_description="The statement's lines as CSV: UTF-8, ',', CRLF, a header row.",
    )
    async def export_settlement(
        self, statement_id: UUID, settlements: Settlements, actor: Actor
    ) -> Response[Any]:
        """The statement's lines as CSV: statement_id, position, operation_id, operation_type,
        refund_of, created_at, store_id, merchant_id, merchant_name, earning_store_id,
        earning_merchant_id, earning_merchant_name, points, point_value_minor, money_minor."""
        found = await settlements.export(reading(actor), statement_id)
        if isinstance(found, Refused):
            raise ProblemError(found)
        lines: AsyncIterator[bytes] = settlements.export_lines(
            found, actor.merchant_id, limits.export_batch_rows_default
        )
        return Stream(
            lines,
            media_type=csv_media_type,
            headers=attachment(f"settlement-{found.id}.csv"),
        )


__all__ = ["SettlementController"]
