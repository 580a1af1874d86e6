"""Gift certificates (decision 0033): operators issue, sell, list, read and unblock them, and
see the program's certificate liability; tills (``/pos/v1``) and web shops (``/shop/v1``) look
one up by number and PIN. Paying with them is part of the checkout calls."""

from typing import Annotated, Any, Literal
from uuid import UUID

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.params import Parameter

from api.auth import admin_scopes
from api.http import Cursor, PageSize, answer, mutation_for, renderer, respond
from processing.core import limits
from processing.service.certificates.records import IssueCommand
from processing.service.certificates.use_cases import Certificates
from processing.service.records import Actor
from schemas.certificates import (
    Certificate,
    CertificateBalance,
    CertificateBatch,
    CertificateIssue,
    CertificateLiability,
    CertificateLookup,
    CertificatePage,
    CertificateSell,
    CertificateStatement,
)

AnyRequest = Request[Any, Any, Any]
State = Literal["issued", "active", "spent", "blocked", "expired"]


class CertificatesController(Controller):
    path = "/v1"
    opt = {"scopes": admin_scopes}
    tags = ["gift certificates"]

    @post("/programs/{program_id:uuid}/certificates", name="issue_certificates", status_code=201)
    async def issue(
        self,
        request: AnyRequest,
        program_id: UUID,
        data: CertificateIssue,
        certificates: Certificates,
    ) -> Response[CertificateBatch]:
        """Issues ``count`` certificates of one nominal and expiry (sold at once with
        ``sell``). Each number's PIN is in this answer only: a replay answers it null."""
        command = msgspec.convert(data, IssueCommand, from_attributes=True)
        stored = await certificates.issue(
            mutation_for(request, data, program_id), program_id, command, renderer(CertificateBatch)
        )
        return respond(request, stored)

    @get("/programs/{program_id:uuid}/certificates", name="list_certificates")
    async def list_certificates(
        self,
        request: AnyRequest,
        program_id: UUID,
        certificates: Certificates,
        actor: Actor,
        state_name: Annotated[State | None, Parameter(query="state")] = None,
        limit: PageSize = limits.page_size_default,
        cursor: Cursor = None,
    ) -> Response[CertificatePage]:
        """The program's certificates, newest first, a page at a time; ``state`` narrows to
        issued (not sold), active, spent (sold, nothing left), blocked or expired."""
        outcome = await certificates.list(actor, program_id, state_name, limit, cursor)
        return answer(request, outcome, CertificatePage)

    @get("/programs/{program_id:uuid}/certificates/liability", name="certificates_liability")
    async def liability(
        self, request: AnyRequest, program_id: UUID, certificates: Certificates, actor: Actor
    ) -> Response[CertificateLiability]:
        """The program's certificates as money: sold, redeemed (net of returns), burned at
        expiry (breakage), and outstanding, the liability sold certificates still hold."""
        return answer(
            request, await certificates.liability(actor, program_id), CertificateLiability
        )

    @get("/certificates/{certificate_id:uuid}", name="get_certificate")
    async def get_certificate(
        self, request: AnyRequest, certificate_id: UUID, certificates: Certificates, actor: Actor
    ) -> Response[Certificate]:
        """One certificate with its balance and state; never its PIN."""
        return answer(request, await certificates.get(actor, certificate_id), Certificate)

    @get("/certificates/{certificate_id:uuid}/operations", name="certificate_statement")
    async def statement(
        self,
        request: AnyRequest,
        certificate_id: UUID,
        certificates: Certificates,
        actor: Actor,
        limit: PageSize = limits.page_size_default,
        cursor: Cursor = None,
    ) -> Response[CertificateStatement]:
        """The certificate's money operations, newest first: its sale, what it paid for each
        purchase, what returns gave back, and its expiry."""
        outcome = await certificates.statement(actor, certificate_id, limit, cursor)
        return answer(request, outcome, CertificateStatement)

    @post("/certificates/{certificate_id:uuid}/sell", name="sell_certificate", status_code=200)
    async def sell(
        self,
        request: AnyRequest,
        certificate_id: UUID,
        certificates: Certificates,
        data: CertificateSell | None = None,
    ) -> Response[Certificate]:
        """Sells (activates) an issued certificate: its nominal becomes its balance."""
        store_id = None if data is None else data.store_id
        stored = await certificates.sell(
            mutation_for(request, data, certificate_id),
            certificate_id,
            store_id,
            renderer(Certificate),
        )
        return respond(request, stored)

    @post(
        "/certificates/{certificate_id:uuid}/unblock", name="unblock_certificate", status_code=200
    )
    async def unblock(
        self, request: AnyRequest, certificate_id: UUID, certificates: Certificates
    ) -> Response[Certificate]:
        """Unblocks a certificate blocked by wrong PINs; its count of wrong PINs starts again."""
        stored = await certificates.unblock(
            mutation_for(request, None, certificate_id), certificate_id, renderer(Certificate)
        )
        return respond(request, stored)


async def look_up(
    request: AnyRequest, data: CertificateLookup, certificates: Certificates, actor: Actor
) -> Response[CertificateBalance]:
    outcome = await certificates.lookup(actor, data.number, data.pin)
    return answer(request, outcome, CertificateBalance)


class PosCertificatesController(Controller):
    path = "/pos/v1"
    opt = {"scopes": frozenset({"pos"})}
    tags = ["cash registers"]

    @post("/certificates/lookup", name="pos_certificate_lookup", status_code=200)
    async def lookup(
        self, request: AnyRequest, data: CertificateLookup, certificates: Certificates, actor: Actor
    ) -> Response[CertificateBalance]:
        """A gift certificate by number and PIN: its balance, expiry and state. A wrong PIN
        counts; five in a row block the certificate until an operator unblocks it."""
        return await look_up(request, data, certificates, actor)


class ShopCertificatesController(Controller):
    path = "/shop/v1"
    opt = {"scopes": frozenset({"shop"})}
    tags = ["web shops"]

    @post("/certificates/lookup", name="shop_certificate_lookup", status_code=200)
    async def lookup(
        self, request: AnyRequest, data: CertificateLookup, certificates: Certificates, actor: Actor
    ) -> Response[CertificateBalance]:
        """A gift certificate by number and PIN: its balance, expiry and state. A wrong PIN
        counts; five in a row block the certificate until an operator unblocks it."""
        return await look_up(request, data, certificates, actor)
