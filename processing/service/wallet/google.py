"""Google Wallet loyalty cards (decision 0030): a program's issuer settings, the "Save to
Google Wallet" link for a card, and the worker that keeps each card's object current.

The link is made in the request: the class and the object are made sure of at Google first
(the link is a skinny JWT naming them, which Google refuses for an object it does not have).
Everything after that happens in the worker: a change of the card's customer's balance or tier
(the outbox relay's fan-out counts it) or of the card's status (its block or unblock counts
it) makes the object due, and the worker patches it once with the values it reads then, so a
burst of changes costs one call. A failed patch is tried again with backoff for as long as it
takes; nothing is dropped."""

import asyncio
import random
import time
from collections.abc import Callable
from uuid import UUID

import msgspec
import structlog

from processing import telemetry
from processing.core import limits
from processing.core.balances import balance_of
from processing.core.google_wallet import (
    CardFace,
    GoogleWalletSettings,
    class_id,
    loyalty_class,
    loyalty_object,
    object_id,
    object_values,
    save_claims,
    save_url_prefix,
    settings_problem,
)
from processing.core.rejections import Rejection
from processing.core.webhooks import retry_delay
from processing.service.loyalty.customers import program_of
from processing.service.mutations import Change, Decision, Mutation, MutationRunner, Render
from processing.service.ports import (
    Database,
    GoogleWalletApi,
    GoogleWalletCredentials,
    GoogleWalletFacts,
    GoogleWalletFailed,
    LeasedGoogleWalletObject,
    Store,
)
from processing.service.records import Accepted, Actor, Outcome, Refused, StoredResponse, refuse
from processing.service.rules import standing_now

log = structlog.get_logger(__name__)
observe_every_seconds = 15.0


class WalletCommand(msgspec.Struct, frozen=True, kw_only=True):
    issuer_id: str
    service_account_email: str
    private_key: str
    program_name: str
    logo_url: str
    background_color: str | None = None
    origins: list[str] = []


class SaveLink(msgspec.Struct, frozen=True, kw_only=True):
    card_number: str
    object_id: str
    class_id: str
    jwt: str
    url: str


_no_program = refuse(Rejection.not_found, "No program with this id.")
_not_configured = refuse(
    Rejection.wallet_not_configured,
    "The program has no Google Wallet settings: PUT /v1/programs/{id}/google-wallet first.",
)


async def card_face(store: Store, program_id: UUID, number: str) -> CardFace | None:
    """The card as its object shows it, read now; None for a card the program does not have."""
    card = await store.find_card(program_id, number)
    if card is None:
        return None
    read = await store.read_account(card["customer_id"], program_id)
    customer = await store.get_customer(card["customer_id"], program_id)
    if read is None or customer is None:
        return None
    record, standing = await standing_now(store, read)
    tier = standing.tier(record.rules)
    return CardFace(
        number=number,
        status=card["status"],
        name=customer.name,
        balance=balance_of(read.account, read.now).available,
        tier=tier.name if tier else None,
    )


class GoogleWallet:
    def __init__(
        self,
        database: Database,
        runner: MutationRunner,
        api: GoogleWalletApi,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.database = database
        self.runner = runner
        self.api = api
        self.clock = clock

    async def configure(
        self, mutation: Mutation, program_id: UUID, command: WalletCommand, render: Render
    ) -> StoredResponse:
        """Stores (or replaces) the program's settings; the key is sealed and never shown."""
        actor = mutation.actor
        settings = GoogleWalletSettings(
            program_id=program_id,
            issuer_id=command.issuer_id,
            service_account_email=command.service_account_email,
            program_name=command.program_name,
            logo_url=command.logo_url,
            background_color=command.background_color,
            origins=command.origins,
        )
        problem = settings_problem(settings)
        if (
            problem is None
            and len(command.private_key) > limits.google_wallet_private_key_characters_max
        ):
            problem = (
                "private_key",
                (
                    f"private_key is at most {limits.google_wallet_private_key_characters_max} "
                    "characters."
                ),
            )
        if problem is None:
            key_problem = self.api.key_problem(command.private_key)
            problem = None if key_problem is None else ("private_key", key_problem)

        async def load(store: Store) -> GoogleWalletFacts | None:
            return await store.google_wallet_facts(program_id, actor.program_id)

        def decide(facts: GoogleWalletFacts | None) -> Change | Outcome:
            if facts is None:
                return _no_program
            if problem is not None:
                field, detail = problem
                return refuse(Rejection.validation_error, detail, field=field)
            return Change(
                outcome=Accepted(value=settings),
                write=lambda store, answer: store.put_google_wallet_settings(
                    settings, command.private_key, actor.key_id, facts.now, answer
                ),
            )

        return await self.runner.change(mutation, Decision(load, decide), render)

    async def settings(self, actor: Actor, program_id: UUID) -> Outcome:
        async with self.database.reader() as store:
            if await store.google_wallet_facts(program_id, actor.program_id) is None:
                return _no_program
            settings = await store.google_wallet_settings(program_id, actor.program_id)
        return _not_configured if settings is None else Accepted(value=settings)

    async def save_link(self, actor: Actor, number: str) -> Outcome:
        """The card's "Save to Google Wallet" link: its class and object made sure of at Google
        (inserted when missing), then a skinny JWT naming them, signed with the account's key."""
        program_id = program_of(actor)
        if isinstance(program_id, Refused):
            return program_id
        async with self.database.reader() as store:
            credentials = await store.google_wallet_credentials(program_id)
            if credentials is None:
                return _not_configured
            if await store.find_card(program_id, number) is None:
                return refuse(Rejection.card_not_found, "No card with this number.")
        settings = credentials.settings
        failed = await self.insert(credentials, number)
        if failed is not None:
            return failed
        jwt = self.api.sign(
            credentials.private_key, save_claims(settings, number, int(self.clock()))
        )
        return Accepted(
            value=SaveLink(
                card_number=number,
                object_id=object_id(settings.issuer_id, program_id, number),
                class_id=class_id(settings.issuer_id, program_id),
                jwt=jwt,
                url=save_url_prefix + jwt,
            )
        )

    async def insert(self, credentials: GoogleWalletCredentials, number: str) -> Refused | None:
        """Records the card's object, then makes sure Google has the class and the object. The
        record comes first: a change made while the object is inserted makes it due, so the
        worker patches what the insert may have missed."""
        settings = credentials.settings
        program_id = settings.program_id
        async with self.database.transaction() as store:
            inserted = await store.claim_wallet_object(
                program_id,
                number,
                object_id(settings.issuer_id, program_id, number),
                class_id(settings.issuer_id, program_id),
            )
        if inserted:
            return None
        async with self.database.reader() as store:
            face = await card_face(store, program_id, number)
        if face is None:
            return refuse(Rejection.card_not_found, "No card with this number.")
        try:
            await self.api.ensure_class(credentials, loyalty_class(settings))
            await self.api.ensure_object(credentials, loyalty_object(settings, face))
        except GoogleWalletFailed as failure:
            log.warning("google_wallet_insert_failed", error=failure.kind, status=failure.status)
            return refuse(
                Rejection.partner_unavailable,
                f"Google Wallet did not take the card's object ({failure.kind}"
                + ("" if failure.status is None else f", {failure.status}")
                + "): try again later.",
            )
        async with self.database.transaction() as store:
            await store.wallet_object_inserted(program_id, number)
        return None


class GoogleWalletSync:
    """Patches the objects of cards that changed: leased a batch at a time (several workers
    share them through SKIP LOCKED), each with the values read when it is sent."""

    def __init__(
        self,
        database: Database,
        api: GoogleWalletApi,
        jitter: Callable[[], float] = random.random,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.database = database
        self.api = api
        self.jitter = jitter
        self.clock = clock
        self.observed_at = float("-inf")

    async def run_once(self) -> int:
        async with self.database.transaction() as store:
            leased = await store.lease_wallet_objects(
                limits.google_wallet_update_batch_objects, limits.google_wallet_lease_seconds
            )
        for item in leased:
            await self.patch(item)
        return len(leased)

    async def run_forever(self, idle_seconds: float) -> None:
        while True:
            try:
                done = await self.run_once()
                if not done:
                    await self.observe()
            except asyncio.CancelledError:
                raise
            except Exception:  # the worker outlives a database restart; it tries again
                log.exception("google_wallet_sync_failed")
                done = 0
            if not done:
                await asyncio.sleep(idle_seconds)

    async def observe(self) -> None:
        """The backlog gauges, counted when the worker has nothing to do, at most every
        ``observe_every_seconds``."""
        if self.clock() - self.observed_at < observe_every_seconds:
            return
        self.observed_at = self.clock()
        async with self.database.reader() as store:
            backlog = await store.google_wallet_backlog_counts()
        for state, count in backlog.items():
            telemetry.google_wallet_backlog.labels(state=state).set(count)

    async def patch(self, item: LeasedGoogleWalletObject) -> None:
        async with self.database.reader() as store:
            credentials = await store.google_wallet_credentials(item.program_id)
            face = await card_face(store, item.program_id, item.card_number)
        try:
            if credentials is None or face is None:
                raise GoogleWalletFailed("settings", None, "not_configured")
            status = await self.api.patch_object(
                credentials, loyalty_object(credentials.settings, face), object_values(face)
            )
        except GoogleWalletFailed as failure:
            await self.failed(item, failure)
            return
        async with self.database.transaction() as store:
            await store.wallet_object_patched(
                item.program_id, item.card_number, item.changes, status
            )
        telemetry.google_wallet_updates_total.labels(outcome="patched").inc()

    async def failed(self, item: LeasedGoogleWalletObject, failure: GoogleWalletFailed) -> None:
        delay = retry_delay(
            item.attempts,
            limits.google_wallet_backoff_base_seconds,
            limits.google_wallet_backoff_cap_seconds,
            self.jitter(),
        )
        async with self.database.transaction() as store:
            await store.wallet_object_failed(
                item.program_id, item.card_number, delay, failure.status, failure.kind
            )
        telemetry.google_wallet_updates_total.labels(outcome="retried").inc()
        log.warning(
            "google_wallet_patch_failed",
            program_id=str(item.program_id),
            attempts=item.attempts,
            error=failure.kind,
            status_code=failure.status,
            retry_in_seconds=round(delay, 1),
        )
