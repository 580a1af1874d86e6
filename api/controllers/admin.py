"""Operator calls: programs, API keys, manual adjustments and the expiry sweep."""

from typing import Annotated, Any, Literal
from uuid import UUID

import msgspec
from litestar import Controller, Request, Response, delete, get, post
from litestar.params import Dependency, Parameter

from api.auth import admin_scopes
from api.http import (
    Cursor,
    PageSize,
    answer,
    mutation_for,
    renderer,
    renderer_hiding_secret,
    respond,
)
from processing.core import limits
from processing.service.admin import Admin, KeyCommand
from processing.service.certificates.expiry import expire_certificates
from processing.service.ledger.decisions import AdjustmentCommand
from processing.service.ledger.expiry import sweep
from processing.service.ledger.use_cases import Ledger
from processing.service.ports import Database
from processing.service.records import Accepted, Actor, ProgramSettings
from schemas.api import (
    AdjustmentCreate,
    ApiKey,
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyPage,
    ApiKeyRotate,
    ExpirationReport,
    Operation,
    Program,
    ProgramCreate,
    ProgramPage,
)

AnyRequest = Request[Any, Any, Any]


class AdminController(Controller):
    path = "/v1"
    opt = {"scopes": admin_scopes}
    tags = ["admin"]

    @post("/programs", name="create_program", status_code=201)
    async def create_program(
        self, request: AnyRequest, data: ProgramCreate, admin: Admin
    ) -> Response[Program]:
        """Creates a program (a tenant): its currency, country and hold lifetimes. Operator keys
        only."""
        command = msgspec.convert(data, ProgramSettings, from_attributes=True)
        stored = await admin.create_program(mutation_for(request, data), command, renderer(Program))
        return respond(request, stored)

    @get("/programs/{program_id:uuid}", name="get_program")
    async def get_program(
        self, request: AnyRequest, program_id: UUID, admin: Admin, actor: Actor
    ) -> Response[Program]:
        """The program's settings."""
        return answer(request, await admin.get_program(actor, program_id), Program)

    @get("/programs", name="list_programs")
    async def list_programs(
        self,
        request: AnyRequest,
        admin: Admin,
        actor: Actor,
        name_prefix: Annotated[str | None, Parameter(min_length=1, max_length=200)] = None,
        limit: PageSize = limits.page_size_default,
        cursor: Cursor = None,
    ) -> Response[ProgramPage]:
        """Programs, newest first, a page at a time; ``name_prefix`` narrows to the names that
        start with it. An operator key sees every program, a program's key its own only."""
        outcome = await admin.programs(actor, name_prefix, limit, cursor)
        return answer(request, outcome, ProgramPage)

    @get("/programs/{program_id:uuid}/api-keys", name="list_api_keys")
    async def list_api_keys(
        self,
        request: AnyRequest,
        program_id: UUID,
        admin: Admin,
        actor: Actor,
        status: Literal["live", "revoked", "expired"] | None = None,
        limit: PageSize = limits.page_size_default,
        cursor: Cursor = None,
    ) -> Response[ApiKeyPage]:
        """The program's API keys, newest first, a page at a time, without their secrets;
        ``status`` narrows to live, revoked, or expired (past ``expires_at``, not revoked)."""
        outcome = await admin.api_keys(actor, program_id, status, limit, cursor)
        return answer(request, outcome, ApiKeyPage)

    @post("/api-keys", name="create_api_key", status_code=201)
    async def create_api_key(
        self, request: AnyRequest, data: ApiKeyCreate, admin: Admin
    ) -> Response[ApiKeyCreated]:
        """Creates an API key for a program with its scopes (and a store for till keys); the
        secret is shown in this answer only."""
        command = msgspec.convert(data, KeyCommand, from_attributes=True)
        stored = await admin.create_key(
            mutation_for(request, data), command, renderer_hiding_secret(ApiKeyCreated)
        )
        return respond(request, stored)

    @post("/api-keys/{key_id:uuid}/rotate", name="rotate_api_key", status_code=201)
    async def rotate_api_key(
        self,
        request: AnyRequest,
        key_id: UUID,
        admin: Admin,
        data: ApiKeyRotate | None = None,
    ) -> Response[ApiKeyCreated]:
        """A new secret for the key, shown once; the old secret keeps working for
        ``grace_seconds`` (default an hour, at most a day)."""
        grace = (data or ApiKeyRotate()).grace_seconds
        stored = await admin.rotate_key(
            mutation_for(request, data, key_id),
            key_id,
            grace,
            renderer_hiding_secret(ApiKeyCreated),
        )
        return respond(request, stored)

    @delete("/api-keys/{key_id:uuid}", name="revoke_api_key", status_code=200)
    async def revoke_api_key(
        self, request: AnyRequest, key_id: UUID, admin: Admin
    ) -> Response[ApiKey]:
        """Revokes an API key: it stops authenticating at once on this instance."""
        stored = await admin.revoke_key(
            mutation_for(request, None, key_id), key_id, renderer(ApiKey)
        )
        return respond(request, stored)

    @post("/customers/{customer_id:uuid}/adjustments", name="adjust", status_code=201)
    async def adjust(
        self, request: AnyRequest, customer_id: UUID, data: AdjustmentCreate, ledger: Ledger
    ) -> Response[Operation]:
        """A manual credit or debit with its reason; the acting key is recorded."""
        command = msgspec.convert(data, AdjustmentCommand, from_attributes=True)
        stored = await ledger.adjust(
            mutation_for(request, data, customer_id), customer_id, command, renderer(Operation)
        )
        return respond(request, stored)

    @post("/expirations", name="expire", status_code=200)
    async def expire(
        self,
        request: AnyRequest,
        # A protocol, which the handler's signature cannot check an instance against.
        database: Annotated[Database, Dependency(skip_validation=True)],
        actor: Actor,
    ) -> Response[ExpirationReport]:
        """Burns what is left of lots past their expiry, releases holds past their lifetime, and
        burns the balance of gift certificates past their expiry to breakage, now. Idempotent
        by nature."""
        # The sweep is idempotent by nature: a repeat burns nothing twice. The key is still
        # required, as on every mutating call, but the answer is the sweep's own count.
        mutation_for(request, None)
        report = await sweep(database, actor.program_id)
        closed, burned = await expire_certificates(database, actor.program_id)
        report = msgspec.structs.replace(report, expired_certificates=closed, burned_minor=burned)
        return answer(request, Accepted(value=report), ExpirationReport)
