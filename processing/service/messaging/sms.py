"""SMS confirmation codes at the till: before points pay for a purchase, the cashier may ask
for a code to be sent to the customer's phone and check the one the customer reads out.

A code is six random digits that live five minutes; only an HMAC of the check id and the code
(under a server-side key derived from the secrets key, named by its id) is stored, and the code
is never logged or put in an answer. A customer is sent a few codes per
window (counted on a version of the account's row that every send changes, so concurrent sends
cannot both slip under the limit); a check takes a few wrong tries, then it is spent. The text
is the program's own template for ``sms_code`` (``messages.py``), or the Russian default. The
message is handed to the provider after the check is stored, so a replay with the same
Idempotency-Key answers from the stored record and never sends again; when the provider does not
take it, the check is abandoned and the stored answer becomes ``sms_not_sent``, so a replay tells
the truth.
"""

import hashlib
import hmac
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta
from uuid import UUID, uuid4

import msgspec
import structlog

from processing import telemetry
from processing.core import limits
from processing.core.invariants import invariant
from processing.core.rejections import Rejection
from processing.service.loyalty.phones import masked_phone
from processing.service.messaging.messages import sms_code_text
from processing.service.mutations import Change, Decision, Mutation, MutationRunner, Render
from processing.service.ports import (
    Answer,
    CodeKeys,
    Database,
    MessageStore,
    SmsNotSent,
    SmsProvider,
)
from processing.service.records import (
    Accepted,
    NewSmsCheck,
    Outcome,
    Refused,
    SmsCheckRecord,
    SmsSendFacts,
    StoredResponse,
    refuse,
)

log = structlog.get_logger(__name__)


class SmsSent(msgspec.Struct, frozen=True, kw_only=True):
    check_id: UUID
    customer_id: UUID
    phone: str  # masked: the cashier can tell the customer where the code went
    expires_at: datetime


class SmsConfirmed(msgspec.Struct, frozen=True, kw_only=True):
    check_id: UUID
    customer_id: UUID
    confirmed_at: datetime


class _Fresh(msgspec.Struct, kw_only=True):
    """What a send's write leaves for the provider call after it: never stored."""

    check_id: UUID
    phone: str
    text: str  # holds the code: never logged


def random_code() -> str:
    return f"{secrets.randbelow(10**limits.sms_code_digits):0{limits.sms_code_digits}d}"


def code_digest(key: bytes, check_id: UUID, code: str) -> bytes:
    """HMAC-SHA256 under a server-side key: a leaked row does not give up its six digits by
    trying all million of them, as a bare hash does."""
    return hmac.new(key, check_id.bytes + code.encode(), hashlib.sha256).digest()


def code_matches(keys: CodeKeys, check: SmsCheckRecord, code: str) -> bool:
    if check.code_hmac is not None and check.code_key_id is not None:
        key = keys.sms_key(check.code_key_id)
        return key is not None and hmac.compare_digest(
            check.code_hmac, code_digest(key, check.id, code)
        )
    if check.code_sha256 is not None:  # sent before codes were keyed; gone within the TTL
        legacy = hashlib.sha256(check.id.bytes + code.encode()).digest()
        return hmac.compare_digest(check.code_sha256, legacy)
    return False


class Sms:
    def __init__(
        self,
        database: Database,
        runner: MutationRunner,
        provider: SmsProvider,
        keys: CodeKeys,
        codes: Callable[[], str] = random_code,
    ) -> None:
        self.database = database
        self.runner = runner
        self.provider = provider
        self.keys = keys
        self.codes = codes

    async def send(self, mutation: Mutation, customer_id: UUID, render: Render) -> StoredResponse:
        # Fixed before deciding, so that a decision made again writes the same check and code.
        check_id, code = uuid4(), self.codes()
        key_id = self.keys.current_id
        key = self.keys.sms_key(key_id)
        invariant(key is not None, "the current key is in the key ring")
        assert key is not None  # noqa: S101 - for the type checker; invariant() said it
        code_hmac = code_digest(key, check_id, code)
        fresh: list[_Fresh] = []

        async def load(store: MessageStore) -> SmsSendFacts | None:
            return await store.sms_send_facts(
                customer_id, mutation.actor.program_id, limits.sms_sends_window_seconds
            )

        def decide(facts: SmsSendFacts | None) -> Change | Outcome:
            if facts is None:
                return refuse(Rejection.not_found, "No customer with this id.")
            if facts.blocked:
                return refuse(Rejection.account_blocked, "The customer is blocked.")
            if facts.recent >= limits.sms_sends_per_customer_max:
                return refuse(
                    Rejection.sms_rate_limited,
                    f"At most {limits.sms_sends_per_customer_max} codes are sent to a customer "
                    f"in {limits.sms_sends_window_seconds // 60} minutes; confirm one already "
                    "sent or try later.",
                )
            check = NewSmsCheck(
                id=check_id,
                program_id=facts.program_id,
                code_hmac=code_hmac,
                code_key_id=key_id,
                created_at=facts.now,
                expires_at=facts.now + timedelta(seconds=limits.sms_code_seconds_ttl),
                store_id=mutation.actor.store_id,
            )
            handed = _Fresh(
                check_id=check_id,
                phone=facts.phone,
                text=sms_code_text(facts.template, facts.program_name, code),
            )

            async def write(store: MessageStore, answer: Answer) -> bool:
                written = await store.send_sms_check(customer_id, facts.version, check, answer)
                if written:
                    fresh[:] = [handed]
                return written

            sent = SmsSent(
                check_id=check_id,
                customer_id=customer_id,
                phone=masked_phone(facts.phone),
                expires_at=check.expires_at,
            )
            # The limit holds at the write: it is written only if the account row is still the
            # version counted on, and every send changes that version.
            return Change(outcome=Accepted(value=sent, created=True), write=write)

        # Under the account's turn, as before: concurrent sends to one customer rarely meet at
        # the write, and one that keeps losing there is decided under the account's row lock.
        stored = await self.runner.change(
            mutation, Decision(load, decide), render, account_id=customer_id
        )
        # A replay sends nothing, unless it replays this very call's check (its commit broke
        # on the way back and the retry found it stored); nor does a write that did not stand.
        if not fresh or str(check_id).encode() not in stored.body:
            return stored
        return await self._hand_over(mutation, fresh[0], stored, render)

    async def _hand_over(
        self, mutation: Mutation, fresh: _Fresh, stored: StoredResponse, render: Render
    ) -> StoredResponse:
        try:
            await self.provider.send(fresh.phone, fresh.text)
        except SmsNotSent as error:
            telemetry.sms_codes_total.labels(outcome="not_sent").inc()
            log.warning("sms_not_sent", check_id=str(fresh.check_id), reason=str(error))
            refused = render(
                refuse(
                    Rejection.sms_not_sent,
                    "The SMS provider did not take the message; no code was sent.",
                )
            )
            async with self.database.transaction() as store:
                await store.sms_check_abandoned(fresh.check_id)
                await store.replace_idempotency_answer(
                    mutation.actor.key_id,
                    mutation.idempotency_key,
                    refused.status_code,
                    refused.media_type,
                    refused.body,
                )
            return refused
        telemetry.sms_codes_total.labels(outcome="sent").inc()
        return stored

    async def confirm(
        self, mutation: Mutation, check_id: UUID, code: str, render: Render
    ) -> StoredResponse:
        """Checks the code the customer read out. Wrong tries are counted (the count is written
        with the refusal); the right code spends the check. Both write only if the check is
        still what the decision read, so parallel guesses never get more tries than allowed and
        two right codes at once spend it once."""
        program_id, store_id = mutation.actor.program_id, mutation.actor.store_id

        async def load(store: MessageStore) -> SmsCheckRecord | None:
            return await store.sms_check(check_id, program_id, store_id) if program_id else None

        def decide(check: SmsCheckRecord | None) -> Change | Outcome:
            if check is None:
                return refuse(Rejection.not_found, "No SMS check with this id.")
            if check.verified:
                return refuse(Rejection.sms_code_expired, "This code was already used.")
            if check.expired:
                return refuse(Rejection.sms_code_expired, "The code expired; send a new one.")
            allowed = limits.sms_confirm_attempts_max
            if check.attempts >= allowed:
                return refuse(
                    Rejection.sms_attempts_exceeded, "Too many wrong codes; send a new one."
                )
            if not code_matches(self.keys, check, code):
                # A refusal that writes: the try it counts.
                return Change(
                    outcome=wrong_try(check.attempts + 1),
                    write=lambda store, answer: store.sms_check_attempted(
                        check_id, check.version, answer
                    ),
                )
            confirmed = SmsConfirmed(
                check_id=check_id, customer_id=check.customer_id, confirmed_at=check.now
            )
            return Change(
                outcome=Accepted(value=confirmed),
                write=lambda store, answer: store.sms_check_verified(
                    check_id, check.version, check.now, answer
                ),
            )

        return await self.runner.change(mutation, Decision(load, decide), render)


def wrong_try(attempts: int) -> Refused:
    """The refusal of a wrong code, which counts as try number ``attempts``."""
    allowed = limits.sms_confirm_attempts_max
    if attempts >= allowed:
        return refuse(
            Rejection.sms_attempts_exceeded,
            "Wrong code, and that was the last try; send a new one.",
            field="code",
        )
    return refuse(
        Rejection.sms_code_invalid, f"Wrong code: {allowed - attempts} tries left.", field="code"
    )
