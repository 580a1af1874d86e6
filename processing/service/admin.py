"""Programs, API keys and authentication.

Secrets are 32 random bytes shown once; only their SHA-256 is stored. A key belongs to one
program, except operator keys (admin scope only), which span programs.
"""

import hashlib
import secrets
from uuid import UUID, uuid4

import msgspec

from processing.core.rejections import Rejection
from processing.service.mutations import Mutation, MutationRunner, Render
from processing.service.ports import Database, Store
from processing.service.records import (
    Accepted,
    Actor,
    ApiKeyRecord,
    Outcome,
    ProgramSettings,
    StoredResponse,
    refuse,
)

key_prefix = "bk_"


class KeyCommand(msgspec.Struct, frozen=True, kw_only=True):
    program_id: UUID
    name: str
    scopes: list[str]
    store_id: str | None = None


def new_secret() -> str:
    return key_prefix + secrets.token_urlsafe(32)


def secret_hash(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


async def create_key(
    store: Store,
    program_id: UUID | None,
    name: str,
    scopes: list[str],
    store_id: str | None,
    secret: str | None = None,
) -> ApiKeyRecord:
    secret = secret or new_secret()
    saved = await store.insert_api_key(
        uuid4(), program_id, name, sorted(set(scopes)), store_id, secret_hash(secret)
    )
    return msgspec.structs.replace(saved, key=secret)


class Admin:
    def __init__(self, database: Database, runner: MutationRunner) -> None:
        self.database = database
        self.runner = runner

    async def authenticate(self, secret: str) -> Actor | None:
        async with self.database.reader() as store:
            row = await store.authenticate(secret_hash(secret))
        if row is None:
            return None
        return Actor(
            key_id=row["id"],
            program_id=row["program_id"],
            scopes=frozenset(row["scopes"]),
            store_id=row["store_id"],
        )

    async def create_program(
        self, mutation: Mutation, command: ProgramSettings, render: Render
    ) -> StoredResponse:
        async def work(store: Store) -> Outcome:
            if mutation.actor.program_id is not None:
                return refuse(
                    Rejection.forbidden_scope, "Only an operator key may create programs."
                )
            if command.hold_ttl_seconds_default > command.hold_ttl_seconds_max:
                return refuse(
                    Rejection.validation_error,
                    "hold_ttl_seconds_default may not exceed hold_ttl_seconds_max.",
                    field="hold_ttl_seconds_default",
                )
            return Accepted(value=await store.insert_program(uuid4(), command), created=True)

        return await self.runner.run(mutation, None, work, render)

    async def get_program(self, actor: Actor, program_id: UUID) -> Outcome:
        async with self.database.reader() as store:
            program = await store.get_program(program_id, actor.program_id)
        if program is None:
            return refuse(Rejection.not_found, "No program with this id.")
        return Accepted(value=program)

    async def create_key(
        self, mutation: Mutation, command: KeyCommand, render: Render
    ) -> StoredResponse:
        async def work(store: Store) -> Outcome:
            program = await store.get_program(command.program_id, mutation.actor.program_id)
            if program is None:
                return refuse(Rejection.not_found, "No program with this id.", field="program_id")
            key = await create_key(
                store, program.id, command.name, command.scopes, command.store_id
            )
            return Accepted(value=key, created=True)

        return await self.runner.run(mutation, None, work, render)

    async def revoke_key(self, mutation: Mutation, key_id: UUID, render: Render) -> StoredResponse:
        async def work(store: Store) -> Outcome:
            revoked = await store.revoke_api_key(key_id, mutation.actor.program_id)
            if revoked is None:
                return refuse(Rejection.not_found, "No live API key with this id.")
            return Accepted(value=revoked)

        return await self.runner.run(mutation, None, work, render)
