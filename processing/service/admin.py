"""Programs, API keys and authentication.

Secrets are 32 random bytes shown once; only their SHA-256 is stored. A key belongs to one
program, except operator keys (admin scope only), which span programs.
"""

import hashlib
import math
import secrets
import time
from collections.abc import Callable
from datetime import datetime
from uuid import UUID, uuid4

import msgspec

from processing import telemetry
from processing.core import limits
from processing.core.keys import Minter, decide_mint
from processing.core.model import Rejected
from processing.core.rejections import Rejection
from processing.service.mutations import Change, Decision, Mutation, MutationRunner, Render
from processing.service.paging import Position, by_creation, paged
from processing.service.ports import (
    ChannelStore,
    Database,
    KeyStore,
    KeyTree,
    KeyVersion,
    MintFacts,
    Store,
)
from processing.service.records import (
    Accepted,
    Actor,
    ApiKeyRecord,
    Outcome,
    ProgramRecord,
    ProgramSettings,
    Refused,
    StoredResponse,
    refuse,
)
from processing.service.throttles import FailureThrottle

key_prefix = "bk_"


class KeyCommand(msgspec.Struct, frozen=True, kw_only=True):
    program_id: UUID
    name: str
    scopes: list[str]
    store_id: str | None = None
    expires_at: datetime | None = None
    merchant_id: UUID | None = None


def new_secret() -> str:
    return key_prefix + secrets.token_urlsafe(32)


def secret_hash(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


async def create_key(
    store: KeyStore,
    program_id: UUID | None,
    name: str,
    scopes: list[str],
    store_id: str | None,
    secret: str | None = None,
    created_by: UUID | None = None,
    expires_at: datetime | None = None,
) -> ApiKeyRecord:
    secret = secret or new_secret()
    saved = await store.insert_api_key(
        uuid4(),
        program_id,
        name,
        sorted(set(scopes)),
        store_id,
        secret_hash(secret),
        created_by,
        expires_at,
    )
    return msgspec.structs.replace(saved, key=secret)


class KeyCache:
    """Live keys by secret hash for a few seconds, so that most requests authenticate without a
    database round trip. A key revoked through this process stops working at once; revoked
    through another instance, within ``limits.api_key_cache_seconds``. Unknown secrets are never
    cached, so a new key works at once."""

    def __init__(
        self,
        seconds: float = limits.api_key_cache_seconds,
        size_max: int = limits.api_key_cache_size_max,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.seconds = seconds
        self.size_max = size_max
        self.clock = clock
        self.entries: dict[bytes, tuple[Actor, float]] = {}

    def get(self, digest: bytes) -> Actor | None:
        found = self.entries.get(digest)
        if found is None:
            return None
        actor, expires = found
        if self.clock() >= expires:
            del self.entries[digest]
            return None
        return actor

    def put(self, digest: bytes, actor: Actor) -> None:
        if len(self.entries) >= self.size_max:
            self.entries.clear()
        self.entries[digest] = (actor, self.clock() + self.seconds)

    def forget(self, key_id: UUID | None = None) -> None:
        """Drops one key (by id), or every key."""
        if key_id is None:
            self.entries.clear()
            return
        for digest in [d for d, (actor, _) in self.entries.items() if actor.key_id == key_id]:
            del self.entries[digest]


class UnknownKeys:
    """Secret hashes that were looked up and found no live key, for about a second, so that
    the same bad key sent again and again costs one database query a second, not one per
    request. Short, because a key created through another instance must work at once (its
    secret is new, so it was never looked up, unless it came from an operator's setting).
    Bounded: when full, it starts over."""

    def __init__(
        self,
        seconds: float = limits.unknown_key_cache_seconds,
        size_max: int = limits.unknown_key_cache_size_max,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.seconds = seconds
        self.size_max = size_max
        self.clock = clock
        self.entries: dict[bytes, float] = {}

    def __contains__(self, digest: bytes) -> bool:
        expires = self.entries.get(digest)
        if expires is None:
            return False
        if self.clock() >= expires:
            del self.entries[digest]
            return False
        return True

    def add(self, digest: bytes) -> None:
        if len(self.entries) >= self.size_max:
            self.entries.clear()
        self.entries[digest] = self.clock() + self.seconds

    def clear(self) -> None:
        self.entries.clear()


class Admin:
    def __init__(self, database: Database, runner: MutationRunner) -> None:
        self.database = database
        self.runner = runner
        self.keys = KeyCache()
        self.unknown = UnknownKeys()
        self.failures = FailureThrottle()

    def forget_keys(self) -> None:
        """Drops every cached answer, live and unknown: after an operator's key changed."""
        self.keys.forget()
        self.unknown.clear()

    async def admit(self, secret: str | None, address: str) -> Actor | Refused:
        """The caller's key, or why not. A key this process knows to be live passes at once;
        otherwise an address that failed too often is refused before any lookup, and every
        unknown or revoked key takes from that address's allowance. A request with no key at
        all costs no lookup, so it is refused without touching the allowance."""
        if secret is None:
            telemetry.auth_failures_total.labels(reason="missing_key").inc()
            return refuse(Rejection.unauthorized, "The request names no API key.")
        digest = secret_hash(secret)
        cached = self.keys.get(digest)
        if cached is not None:
            return cached
        wait = self.failures.wait_seconds(address)
        if wait > 0:
            telemetry.auth_failures_total.labels(reason="throttled").inc()
            return refuse(
                Rejection.authentication_throttled,
                "Too many failed authentications from this address; retry later.",
                retry_after=str(math.ceil(wait)),
            )
        actor = await self.look_up(digest)
        if actor is None:
            self.failures.failed(address)
            telemetry.auth_failures_total.labels(reason="unknown_key").inc()
            return refuse(Rejection.unauthorized, "The API key is unknown or revoked.")
        return actor

    async def authenticate(self, secret: str) -> Actor | None:
        digest = secret_hash(secret)
        return self.keys.get(digest) or await self.look_up(digest)

    async def look_up(self, digest: bytes) -> Actor | None:
        """A key not in the live cache: from Postgres, unless it was just found unknown."""
        if digest in self.unknown:
            return None
        async with self.database.reader() as store:
            row = await store.authenticate(digest)
        telemetry.api_key_lookups_total.labels(result="unknown" if row is None else "found").inc()
        if row is None:
            self.unknown.add(digest)
            return None
        actor = Actor(
            key_id=row["id"],
            program_id=row["program_id"],
            scopes=frozenset(row["scopes"]),
            store_id=row["store_id"],
            expires_at=row["expires_at"],
            merchant_id=row["merchant_id"],
        )
        self.keys.put(digest, actor)
        return actor

    async def create_program(
        self, mutation: Mutation, command: ProgramSettings, render: Render
    ) -> StoredResponse:
        program_id, operator = uuid4(), mutation.actor.program_id is None

        async def load(store: ChannelStore) -> datetime:
            return await store.clock_now()

        def decide(now: datetime) -> Change | Outcome:
            refused = refuse_program(command, operator)
            if refused is not None:
                return refused
            program = ProgramRecord(
                **msgspec.structs.asdict(command), id=program_id, created_at=now
            )
            return Change(
                outcome=Accepted(value=program, created=True),
                write=lambda store, answer: store.create_program(program, answer),
            )

        return await self.runner.change(mutation, Decision(load, decide), render)

    async def get_program(self, actor: Actor, program_id: UUID) -> Outcome:
        async with self.database.reader() as store:
            program = await store.get_program(program_id, actor.program_id)
        if program is None:
            return refuse(Rejection.not_found, "No program with this id.")
        return Accepted(value=program)

    async def programs(
        self, actor: Actor, name_prefix: str | None, limit: int, cursor: str | None
    ) -> Outcome:
        """Programs newest first, a page at a time. An operator key sees every program; a
        program key, like ``get_program``, sees its own only (a list of one, or none)."""

        async def read(store: Store, after: Position, count: int) -> list[ProgramRecord]:
            return await store.list_programs(actor.program_id, name_prefix, after, count)

        return await paged(self.database, cursor, limit, read, by_creation)

    async def api_keys(
        self, actor: Actor, program_id: UUID, status: str | None, limit: int, cursor: str | None
    ) -> Outcome:
        """A program's keys newest first, a page at a time, never their secrets; another
        program's are not found, as the program itself is not."""

        async def read(store: Store, after: Position, count: int) -> list[ApiKeyRecord] | Refused:
            if await store.get_program(program_id, actor.program_id) is None:
                return refuse(Rejection.not_found, "No program with this id.")
            return await store.list_api_keys(program_id, status, after, count)

        return await paged(self.database, cursor, limit, read, by_creation)

    async def create_key(
        self, mutation: Mutation, command: KeyCommand, render: Render
    ) -> StoredResponse:
        """Mints a key under the caller's key, never broader than it (``decide_mint``); the
        secret is shown in this answer only."""
        actor, key_id, secret = mutation.actor, uuid4(), new_secret()
        minter = Minter(
            operator=actor.program_id is None,
            scopes=actor.scopes,
            store_id=actor.store_id,
            expires_at=actor.expires_at,
            merchant_id=actor.merchant_id,
        )

        async def load(store: KeyStore) -> MintFacts:
            return await store.mint_facts(
                command.program_id,
                actor.program_id,
                actor.key_id,
                command.merchant_id,
                command.store_id,
            )

        def decide(facts: MintFacts) -> Change | Outcome:
            if not facts.minter_live:
                return refuse(Rejection.unauthorized, "The API key is unknown or revoked.")
            if not facts.program_found:
                return refuse(Rejection.not_found, "No program with this id.", field="program_id")
            if not facts.merchant_found:
                return refuse(
                    Rejection.not_found, "No merchant of this program.", field="merchant_id"
                )
            plan = decide_mint(
                minter,
                frozenset(command.scopes),
                command.store_id,
                command.expires_at,
                facts.now,
                command.merchant_id,
                facts.store_merchant_id,
            )
            if isinstance(plan, Rejected):
                return refuse(plan.rejection, plan.detail, field=plan.field)
            key = ApiKeyRecord(
                id=key_id,
                program_id=command.program_id,
                name=command.name,
                scopes=sorted(set(command.scopes)),
                store_id=command.store_id,
                created_at=facts.now,
                created_by=actor.key_id,
                expires_at=plan.expires_at,
                merchant_id=command.merchant_id,
            )
            return Change(
                outcome=Accepted(value=msgspec.structs.replace(key, key=secret), created=True),
                write=lambda store, answer: store.mint_api_key(key, secret_hash(secret), answer),
            )

        return await self.runner.change(mutation, Decision(load, decide), render)

    async def rotate_key(
        self, mutation: Mutation, key_id: UUID, grace_seconds: int, render: Render
    ) -> StoredResponse:
        """A new secret for the key, shown once; the old one works ``grace_seconds`` more so
        the till can switch without a gap. The key keeps its id, scopes and minted keys."""
        secret = new_secret()

        async def load(store: KeyStore) -> KeyVersion | None:
            return await store.live_api_key(key_id, mutation.actor.program_id)

        def decide(live: KeyVersion | None) -> Change | Outcome:
            if live is None:
                return refuse(Rejection.not_found, "No live API key with this id.")
            return Change(
                outcome=Accepted(
                    value=msgspec.structs.replace(live.record, key=secret), created=True
                ),
                write=lambda store, answer: store.rotate_api_key(
                    live, secret_hash(secret), grace_seconds, answer
                ),
            )

        try:
            return await self.runner.change(mutation, Decision(load, decide), render)
        finally:
            self.keys.forget(key_id)

    async def revoke_key(self, mutation: Mutation, key_id: UUID, render: Render) -> StoredResponse:
        """Revokes the key and, in the same statement, every key it minted, all the way down;
        this process forgets them all at once, the others within the cache's seconds. Every
        key any load found under it is forgotten: one minted between a load and the write
        makes the write fail and the next load find it (``revoke_api_keys``)."""
        seen: set[UUID] = {key_id}

        async def load(store: KeyStore) -> KeyTree | None:
            tree = await store.key_tree(key_id, mutation.actor.program_id)
            if tree is not None:
                seen.update(key.record.id for key in tree.keys)
            return tree

        def decide(tree: KeyTree | None) -> Change | Outcome:
            if tree is None:
                return refuse(Rejection.not_found, "No live API key with this id.")
            revoked = msgspec.structs.replace(tree.keys[0].record, revoked_at=tree.now)
            return Change(
                outcome=Accepted(value=revoked),
                write=lambda store, answer: store.revoke_api_keys(tree, answer),
            )

        try:
            return await self.runner.change(mutation, Decision(load, decide), render)
        finally:
            for revoked_id in seen:
                self.keys.forget(revoked_id)


def refuse_program(command: ProgramSettings, operator: bool) -> Refused | None:
    """Why a program may not be created with these settings, if it may not."""
    if not operator:
        return refuse(Rejection.forbidden_scope, "Only an operator key may create programs.")
    if command.hold_ttl_seconds_default > command.hold_ttl_seconds_max:
        return refuse(
            Rejection.validation_error,
            "hold_ttl_seconds_default may not exceed hold_ttl_seconds_max.",
            field="hold_ttl_seconds_default",
        )
    if command.key_points_per_call_max > command.key_points_per_day_max:
        return refuse(
            Rejection.validation_error,
            "key_points_per_call_max may not exceed key_points_per_day_max.",
            field="key_points_per_call_max",
        )
    return None
