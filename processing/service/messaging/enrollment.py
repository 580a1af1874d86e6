"""Self-enrollment (decision 0031): a program's public page where a person confirms their phone
with an SMS code and joins, or, already a customer, opens their card; and card links sent to a
customer by SMS or e-mail.

A code is six random digits that live ``enrollment_code_seconds_ttl``; only its HMAC (under the
key SMS codes at the till use, named by its id) is stored. Codes to one phone are counted in
Postgres under a lock on the phone, across every program's page; requests from one client
address in Redis windows (``AbuseWindows``), which fail closed. A try at a code is counted
before the code is compared, so no burst of guesses gets more than its tries.

Joining goes through ``Customers.enroll``, the API's own use case (the welcome bonus as the
rules grant it), acting as the page's own key, with an idempotency key drawn from the code: a
form sent again after a failure finishes the same enrollment, never a second one. The consents
ticked are recorded after it, each under its own key from the code, with the page's exact
wording and the source ``enrollment_page``.
"""

import hashlib
import hmac
import re
import secrets
from collections.abc import Callable
from datetime import date, datetime, timedelta
from enum import StrEnum
from uuid import UUID, uuid4

import msgspec
import structlog

from processing import telemetry
from processing.core import limits
from processing.core.balances import Balance, balance_of
from processing.core.card_numbers import card_number_from
from processing.core.rejections import Rejection
from processing.service.ledger.reads import Reads
from processing.service.loyalty.customers import ConsentCommand, Customers, EnrollCommand
from processing.service.loyalty.phones import masked_phone, normalize_phone
from processing.service.messaging.card_links import card_link_token, read_card_link
from processing.service.messaging.sms import code_digest, random_code
from processing.service.mutations import Change, Decision, Mutation, MutationRunner, Render
from processing.service.mutations import fingerprint as fingerprint_of
from processing.service.ports import (
    AbuseWindows,
    Answer,
    CodeKeys,
    Database,
    EnrollmentCodeState,
    EnrollmentPageFacts,
    EnrollmentPageRecord,
    EnrollmentStore,
    LinkKeys,
    MessageChannel,
    MessageNotSent,
    OutgoingMessage,
    SmsNotSent,
    SmsProvider,
    Store,
)
from processing.service.records import (
    Accepted,
    Actor,
    CustomerRecord,
    OperationRecord,
    Outcome,
    Refused,
    StoredResponse,
    refuse,
)

log = structlog.get_logger(__name__)
json_media_type = "application/json"
consent_source = "enrollment_page"
page_scopes = frozenset({"crm"})
name_characters_max = 100
birthday_earliest = date(1900, 1, 1)
# An address's shape only, as the API's schema and the customers table check it.
email_shape = re.compile(r"[^@\s]{1,64}@[^@\s]{1,189}")


class PageSettings(msgspec.Struct, frozen=True, kw_only=True):
    slug: str
    enabled: bool
    display_name: str
    terms: str
    sms_wording: str
    email_wording: str


class Limit(StrEnum):
    """The abuse limits, by name: what a refusal says was exceeded."""

    codes_per_phone_hour = "codes_per_phone_hour"
    codes_per_phone_day = "codes_per_phone_day"
    codes_per_address_minute = "codes_per_address_minute"
    codes_per_address_hour = "codes_per_address_hour"
    posts_per_address_minute = "posts_per_address_minute"
    posts_per_address_hour = "posts_per_address_hour"


# (limit, bound, window seconds) per kind of request from one address.
address_limits: dict[str, tuple[tuple[Limit, int, int], ...]] = {
    "post": (
        (Limit.posts_per_address_minute, limits.enrollment_posts_per_address_minute_max, 60),
        (Limit.posts_per_address_hour, limits.enrollment_posts_per_address_hour_max, 3600),
    ),
    "code": (
        (Limit.codes_per_address_minute, limits.enrollment_codes_per_address_minute_max, 60),
        (Limit.codes_per_address_hour, limits.enrollment_codes_per_address_hour_max, 3600),
    ),
}


class Limited(msgspec.Struct, frozen=True, kw_only=True):
    """A request refused by an abuse limit: nothing was sent or written."""

    limit: Limit
    retry_after_seconds: int


class CodeSent(msgspec.Struct, frozen=True, kw_only=True):
    code_id: UUID
    phone: str
    masked: str
    expires_at: datetime


class Details(msgspec.Struct, frozen=True, kw_only=True):
    """What the join form asks besides the code: checked before the code is tried."""

    name: str
    birthday: date | None
    email: str | None
    consents: tuple[str, ...]  # the channels ticked: sms, email
    promoter_code: str | None = None  # the promoter's link the page was opened by (0034)


class Joined(msgspec.Struct, frozen=True, kw_only=True):
    customer_id: UUID
    created: bool  # False: the phone was a customer already, taken to their page


class CardPage(msgspec.Struct, frozen=True, kw_only=True):
    customer: CustomerRecord
    card_number: str | None
    balance: Balance
    statement: list[OperationRecord]


class CardLinkSent(msgspec.Struct, frozen=True, kw_only=True):
    customer_id: UUID
    channel: str
    recipient: str  # masked
    expires_at: datetime


class LinkFacts(msgspec.Struct, frozen=True, kw_only=True):
    found: CustomerRecord | None
    page: EnrollmentPageRecord | None
    now: datetime


class _Joining(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID | None = None
    rejection: str | None = None
    detail: str | None = None
    field: str | None = None
    customer_id: str | None = None


def render_joining(outcome: Outcome) -> StoredResponse:
    """An enrollment's answer as the page reads it (kept under the page's key)."""
    if isinstance(outcome, Refused):
        extra = outcome.extra or {}
        body = _Joining(
            rejection=outcome.rejection.value,
            detail=outcome.detail,
            field=outcome.field,
            customer_id=extra.get("customer_id"),
        )
        return StoredResponse(
            status_code=409, media_type=json_media_type, body=msgspec.json.encode(body)
        )
    return StoredResponse(
        status_code=201,
        media_type=json_media_type,
        body=msgspec.json.encode(_Joining(id=getattr(outcome.value, "id", None))),
    )


def check_settings(settings: PageSettings) -> Refused | None:
    slug = settings.slug
    if not (3 <= len(slug) <= 64) or not all(
        c.isascii() and (c.isalnum() or c == "-") for c in slug
    ):
        return refuse(
            Rejection.validation_error,
            "slug is 3 to 64 lowercase Latin letters, digits and hyphens.",
            field="slug",
        )
    if slug != slug.lower() or slug.startswith("-") or slug.endswith("-"):
        return refuse(
            Rejection.validation_error,
            "slug is lowercase and neither starts nor ends with a hyphen.",
            field="slug",
        )
    return None


def check_details(details: Details, today: date) -> Refused | None:
    """The join form's fields, before anything is tried or written."""
    if not details.name.strip() or len(details.name) > name_characters_max:
        return refuse(
            Rejection.validation_error,
            f"name is 1 to {name_characters_max} characters.",
            field="name",
        )
    if details.birthday is not None and not birthday_earliest <= details.birthday <= today:
        return refuse(
            Rejection.validation_error, "birthday is a date in the past.", field="birthday"
        )
    if details.email is not None and not email_shape.fullmatch(details.email):
        return refuse(
            Rejection.validation_error,
            "email is not an address (someone@somewhere).",
            field="email",
        )
    if "email" in details.consents and not details.email:
        return refuse(
            Rejection.validation_error,
            "email is needed to agree to e-mails.",
            field="email",
        )
    return None


class Enrollments:
    def __init__(
        self,
        database: Database,
        runner: MutationRunner,
        customers: Customers,
        reads: Reads,
        provider: SmsProvider,
        email: MessageChannel,
        code_keys: CodeKeys,
        link_keys: LinkKeys,
        windows: AbuseWindows,
        public_url: str,
        codes: Callable[[], str] = random_code,
    ) -> None:
        self.database = database
        self.runner = runner
        self.customers = customers
        self.reads = reads
        self.provider = provider
        self.email = email
        self.code_keys = code_keys
        self.link_keys = link_keys
        self.windows = windows
        self.public_url = public_url.rstrip("/")
        self.codes = codes

    # The operator's side: the page's settings.

    async def configure(
        self, mutation: Mutation, program_id: UUID, settings: PageSettings, render: Render
    ) -> StoredResponse:
        """Opens, changes or closes the program's page; the first setting makes its key."""
        scope, key_id = mutation.actor.program_id, uuid4()
        key_secret = hashlib.sha256(secrets.token_bytes(32)).digest()

        async def load(store: EnrollmentStore) -> EnrollmentPageFacts | None:
            return await store.enrollment_page_facts(program_id, scope, settings.slug)

        def decide(facts: EnrollmentPageFacts | None) -> Change | Outcome:
            if facts is None:
                return refuse(Rejection.not_found, "No program with this id.")
            wrong = check_settings(settings)
            if wrong is not None:
                return wrong
            if facts.slug_holder is not None:
                return refuse(
                    Rejection.validation_error,
                    "slug is taken by another program's page.",
                    field="slug",
                )
            page = EnrollmentPageRecord(
                **msgspec.structs.asdict(settings),
                program_id=program_id,
                key_id=key_id,
                updated_at=facts.now,
                country="",
            )
            return Change(
                outcome=Accepted(value=page),
                write=lambda store, answer: store.put_enrollment_page(page, key_secret, answer),
            )

        return await self.runner.change(mutation, Decision(load, decide), render)

    async def settings(self, actor: Actor, program_id: UUID) -> Outcome:
        async with self.database.reader() as store:
            page = await store.enrollment_page_of_program(program_id, actor.program_id)
        if page is None:
            return refuse(Rejection.not_found, "The program has no enrollment page.")
        return Accepted(value=page)

    # The visitor's side.

    async def page(self, slug: str) -> EnrollmentPageRecord | None:
        """An open page, or None (no such page, or its program closed it)."""
        if len(slug) > 64:
            return None
        async with self.database.reader() as store:
            page = await store.enrollment_page_by_slug(slug)
        return page if page is not None and page.enabled else None

    async def admit(self, address: str, kind: str) -> Limited | None:
        """Counts a request from ``address`` (``post``: any form; ``code``: asking for a code)
        against its limits; the first exceeded, or None. Raises ``AbuseWindowsUnavailable``."""
        for limit, bound, window in address_limits[kind]:
            if await self.windows.count(f"{kind}:{address}", window) > bound:
                telemetry.enrollment_refusals_total.labels(limit=limit.value).inc()
                return Limited(limit=limit, retry_after_seconds=window)
        return None

    async def send_code(
        self, page: EnrollmentPageRecord, typed: str
    ) -> CodeSent | Limited | Refused:
        """A code to the phone typed, unless the phone had its codes: written, then sent; a code
        the gateway refused is abandoned (and does not count)."""
        phone = normalize_phone(typed.strip(), page.country)
        if phone is None:
            return refuse(Rejection.validation_error, "phone is not a valid number.", field="phone")
        code_id, code = uuid4(), self.codes()
        key_id = self.code_keys.current_id
        key = self.code_keys.sms_key(key_id)
        if key is None:  # the current key is always in the ring
            raise LookupError("the current secrets key is not in the key ring")
        async with self.database.transaction() as store:
            sends = await store.enrollment_phone_sends(phone)
            limited = phone_limit(sends.last_hour, sends.last_day)
            if limited is not None:
                telemetry.enrollment_refusals_total.labels(limit=limited.limit.value).inc()
                return limited
            expires_at = sends.now + timedelta(seconds=limits.enrollment_code_seconds_ttl)
            await store.insert_enrollment_code(
                code_id,
                page.program_id,
                phone,
                code_digest(key, code_id, code),
                key_id,
                sends.now,
                expires_at,
            )
        text = f"{code} — код для {page.display_name}. Никому его не сообщайте."
        try:
            await self.provider.send(phone, text)
        except SmsNotSent as error:
            telemetry.sms_codes_total.labels(outcome="not_sent").inc()
            log.warning("enrollment_sms_not_sent", code_id=str(code_id), reason=str(error))
            async with self.database.reader() as store:
                await store.enrollment_code_abandoned(code_id)
            return refuse(Rejection.sms_not_sent, "The SMS was not sent; try again later.")
        telemetry.sms_codes_total.labels(outcome="sent").inc()
        return CodeSent(
            code_id=code_id, phone=phone, masked=masked_phone(phone), expires_at=expires_at
        )

    async def confirm(self, page: EnrollmentPageRecord, code_id: UUID, code: str) -> Outcome:
        """The phone a right code confirms (the code spent); a try is counted first."""
        attempts_max = limits.enrollment_code_attempts_max
        async with self.database.reader() as store:
            tried = await store.enrollment_code_try(code_id, page.program_id, attempts_max)
            if tried is None:
                return why_not_tried(await store.enrollment_code_state(code_id, page.program_id))
            key = self.code_keys.sms_key(tried.code_key_id)
            right = key is not None and hmac.compare_digest(
                tried.code_hmac, code_digest(key, code_id, code.strip())
            )
            if not right:
                left = attempts_max - tried.attempts
                if left <= 0:
                    return refuse(
                        Rejection.sms_attempts_exceeded,
                        "Wrong code, and that was the last try.",
                        field="code",
                    )
                return refuse(
                    Rejection.sms_code_invalid, f"Wrong code: {left} tries left.", field="code"
                )
            if not await store.enrollment_code_verified(code_id):
                return refuse(Rejection.sms_code_expired, "This code was already used.")
        return Accepted(value=tried.phone)

    async def existing(self, page: EnrollmentPageRecord, phone: str) -> UUID | None:
        actor = page_actor(page)
        outcome = await self.customers.find(actor, phone, None)
        return outcome.value.id if isinstance(outcome, Accepted) else None

    async def join(
        self, page: EnrollmentPageRecord, code_id: UUID, phone: str, details: Details
    ) -> Outcome:
        """Enrolls the confirmed phone (or finds them enrolled already), with a card of ours
        and the consents ticked. Sent again after a failure, it finishes the same enrollment."""
        found = await self.existing(page, phone)
        if found is not None:
            return Accepted(value=Joined(customer_id=found, created=False))
        actor = page_actor(page)
        card = card_number_from(code_id.bytes)
        command = EnrollCommand(
            phone=phone,
            card_number=card,
            name=details.name.strip(),
            email=details.email or None,
            birthday=details.birthday,
            promoter_code=details.promoter_code,
        )
        key = f"enrollment-page-{code_id}"
        mutation = Mutation(
            actor=actor,
            idempotency_key=key,
            fingerprint=fingerprint_of("enrollment_page", msgspec.json.encode(command)),
        )
        stored = await self.customers.enroll(mutation, command, render_joining)
        joined = msgspec.json.decode(stored.body, type=_Joining)
        if joined.rejection == Rejection.customer_exists.value and joined.customer_id:
            return Accepted(value=Joined(customer_id=UUID(joined.customer_id), created=False))
        if joined.id is None:
            return refuse(
                Rejection(joined.rejection or Rejection.validation_error.value),
                joined.detail or "The enrollment was refused.",
                field=joined.field,
            )
        for channel in details.consents:
            wording = page.sms_wording if channel == "sms" else page.email_wording
            consent = ConsentCommand(
                channel=channel, granted=True, source=consent_source, wording=wording
            )
            await self.customers.record_consent(
                Mutation(
                    actor=actor,
                    idempotency_key=f"{key}-consent-{channel}",
                    fingerprint=fingerprint_of("enrollment_consent", channel, wording),
                ),
                joined.id,
                consent,
                render_joining,
            )
        telemetry.enrollments_total.inc()
        return Accepted(value=Joined(customer_id=joined.id, created=True))

    async def card_page(self, page: EnrollmentPageRecord, customer_id: UUID) -> Outcome:
        """What the customer's page shows: their live card, balance with what expires, and
        their latest operations."""
        actor = page_actor(page)
        found = await self.customers.get(actor, customer_id)
        if isinstance(found, Refused):
            return found
        customer: CustomerRecord = found.value
        async with self.database.reader() as store:
            read = await store.read_account(customer_id, page.program_id)
        if read is None:
            return refuse(Rejection.not_found, "No customer with this id.")
        statement = await self.reads.statement(
            actor, customer_id, limits.enrollment_statement_items_max, None
        )
        items = statement.value.items if isinstance(statement, Accepted) else []
        live = [card.number for card in customer.cards if card.status == "active"]
        return Accepted(
            value=CardPage(
                customer=customer,
                card_number=live[-1] if live else None,
                balance=balance_of(read.account, read.now),
                statement=items,
            )
        )

    async def card_of_link(self, page: EnrollmentPageRecord, token: str) -> UUID | None:
        """The customer a card link names, if it is live and theirs is this page's program."""
        async with self.database.reader() as store:
            now = await store.clock_now()
        customer_id = read_card_link(self.link_keys, token, now)
        if customer_id is None:
            return None
        found = await self.customers.get(page_actor(page), customer_id)
        return customer_id if isinstance(found, Accepted) else None

    # Issuing a card to a customer who has none on their phone: a link by SMS or e-mail.

    async def send_card_link(
        self, mutation: Mutation, customer_id: UUID, channel: str, render: Render
    ) -> StoredResponse:
        """Sends the customer a link to their card page on the program's enrollment page; the
        answer is stored first, so a replay sends nothing, and replaced by a refusal when the
        provider did not take the message."""
        actor = mutation.actor
        fresh: list[tuple[str, OutgoingMessage]] = []

        async def load(store: Store) -> LinkFacts:
            found = await store.get_customer(customer_id, actor.program_id)
            page = None
            if found is not None:  # an operator's key reaches the customer's own program's page
                page = await store.enrollment_page_of_program(found.program_id, None)
            return LinkFacts(found=found, page=page, now=await store.clock_now())

        def decide(facts: LinkFacts) -> Change | Outcome:
            customer, page = facts.found, facts.page
            if customer is None:
                return refuse(Rejection.not_found, "No customer with this id.")
            if page is None or not page.enabled:
                return refuse(
                    Rejection.enrollment_page_closed,
                    "The program has no open enrollment page to link the card to.",
                )
            if channel == "email" and not customer.email:
                return refuse(
                    Rejection.no_address_on_channel, "The customer has no e-mail.", field="channel"
                )
            expires_at = facts.now + timedelta(seconds=limits.card_link_seconds)
            message, sent = self._card_link(page, customer, channel, expires_at)

            async def write(store: Store, answer: Answer) -> bool:
                written = await store.store_answer(
                    answer.key_id, answer.key, answer.fingerprint, answer.response
                )
                if written:
                    fresh[:] = [(channel, message)]
                return written

            return Change(outcome=Accepted(value=sent, created=True), write=write)

        stored = await self.runner.change(mutation, Decision(load, decide), render)
        if not fresh or stored.replayed or stored.status_code >= 300:
            return stored
        return await self._deliver(mutation, fresh[0], stored, render)

    def _card_link(
        self,
        page: EnrollmentPageRecord,
        customer: CustomerRecord,
        channel: str,
        expires_at: datetime,
    ) -> tuple[OutgoingMessage, CardLinkSent]:
        token = card_link_token(self.link_keys, customer.id, expires_at)
        url = f"{self.public_url}/join/{page.slug}/card/{token}"
        body = f"Ваша карта {page.display_name}: {url}"
        if channel == "sms":
            recipient, shown = customer.phone, masked_phone(customer.phone)
            message = OutgoingMessage(recipient=recipient, subject=None, body=body)
        else:
            recipient = customer.email or ""
            shown = recipient[:1] + "***" + recipient[recipient.find("@") :]
            message = OutgoingMessage(
                recipient=recipient, subject=f"Ваша карта {page.display_name}", body=body
            )
        sent = CardLinkSent(
            customer_id=customer.id, channel=channel, recipient=shown, expires_at=expires_at
        )
        return message, sent

    async def _deliver(
        self,
        mutation: Mutation,
        fresh: tuple[str, OutgoingMessage],
        stored: StoredResponse,
        render: Render,
    ) -> StoredResponse:
        channel, message = fresh
        try:
            if channel == "sms":
                await self.provider.send(message.recipient, message.body)
            else:
                await self.email.send(message)
        except (SmsNotSent, MessageNotSent):
            log.warning("card_link_not_sent", channel=channel)
            refused = render(
                refuse(
                    Rejection.sms_not_sent,
                    f"The {channel} provider did not take the message; no link was sent.",
                )
            )
            async with self.database.reader() as store:
                await store.replace_idempotency_answer(
                    mutation.actor.key_id,
                    mutation.idempotency_key,
                    refused.status_code,
                    refused.media_type,
                    refused.body,
                )
            return refused
        return stored


def page_actor(page: EnrollmentPageRecord) -> Actor:
    """The page as the caller of the API's use cases: its own key, in its program."""
    return Actor(key_id=page.key_id, program_id=page.program_id, scopes=page_scopes, store_id=None)


def phone_limit(last_hour: int, last_day: int) -> Limited | None:
    if last_hour >= limits.enrollment_codes_per_phone_hour_max:
        return Limited(limit=Limit.codes_per_phone_hour, retry_after_seconds=3600)
    if last_day >= limits.enrollment_codes_per_phone_day_max:
        return Limited(limit=Limit.codes_per_phone_day, retry_after_seconds=86400)
    return None


def why_not_tried(state: EnrollmentCodeState | None) -> Refused:
    """Why a try was not counted: no such code, spent, expired, or out of tries."""
    if state is None:
        return refuse(Rejection.not_found, "No such code; ask for a new one.", field="code")
    if state.verified:
        return refuse(Rejection.sms_code_expired, "This code was already used.", field="code")
    if state.expired:
        return refuse(
            Rejection.sms_code_expired, "The code expired; ask for a new one.", field="code"
        )
    return refuse(
        Rejection.sms_attempts_exceeded, "Too many wrong codes; ask for a new one.", field="code"
    )
