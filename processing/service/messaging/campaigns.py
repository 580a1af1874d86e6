"""Campaigns (decision 0024): a bulk bonus accrual and/or a message over a segment's members
as they were when the campaign started.

At its start the worker snapshots the segment's members into ``campaign_members`` (one
statement over the segment's compiled filter), then goes through them a batch at a time, at
most ``members_per_second``. With points, each member is accrued through the ledger's own
accrual (``Ledger.accrue``) under the key that created the campaign, with an idempotency key and
a document id of its own, ``campaign:<campaign>:<customer>``. A member stays pending until the
ledger's answer is recorded against it: a worker killed between the accrual and that record
accrues the member again on its next pass, and the ledger answers with the stored reply of the
first, so no member is ever accrued twice; two workers at once race the same way and end the
same. A member the ledger refuses (a blocked account, an erased customer) is skipped with the
refusal's code; one whose accrual raised stays pending for the next pass until it has raised
``campaign_member_attempts_max`` times, then is failed with the error's name.

With templates, the statement that records a batch's outcomes also writes one message event
per member accrued to (or, without points, per member), keyed like the accrual; the message
relay makes its messages as it makes a trigger's (consent, quiet hours, the daily cap), once
per member and channel."""

import asyncio
import time
from datetime import datetime, timedelta
from uuid import UUID, uuid4

import msgspec
import structlog

from processing.core import limits
from processing.core.invariants import invariant
from processing.core.rejections import Rejection
from processing.service.ledger.decisions import AccrualCommand
from processing.service.ledger.use_cases import Ledger
from processing.service.loyalty.segments import audience_of
from processing.service.messaging.triggers import templates_refusal
from processing.service.mutations import (
    Change,
    Decision,
    Mutation,
    MutationRunner,
    Render,
    fingerprint,
)
from processing.service.paging import by_creation, paged
from processing.service.ports import Answer, Database, DatabaseUnavailable, Store
from processing.service.records import (
    Accepted,
    Actor,
    CampaignRecord,
    Document,
    Outcome,
    Position,
    Refused,
    SettledMember,
    StoredResponse,
    TemplateProgram,
    TriggerTemplate,
    refuse,
)

log = structlog.get_logger(__name__)
json_media_type = "application/json"
member_scopes = frozenset({"admin"})


class CampaignCommand(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    segment_id: UUID
    reason: str
    points: int | None = None
    templates: list[TriggerTemplate] = []
    expires_at: datetime | None = None
    expiry_days: int | None = None
    starts_at: datetime | None = None


class _Answer(msgspec.Struct, frozen=True, kw_only=True):
    """What the ledger's idempotency record keeps of a campaign accrual: the operation, or the
    refusal's code."""

    operation_id: UUID | None = None
    rejection: str | None = None


class _Existing(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID


def render_accrual(outcome: Outcome) -> StoredResponse:
    """The ledger's answer as the campaign reads it. The member's document already produced
    an accrual (its idempotency record purged since): that accrual is the member's."""
    if isinstance(outcome, Refused) and outcome.rejection is Rejection.duplicate_document:
        existing = (outcome.extra or {}).get("operation_id")
        if existing is not None:
            outcome = Accepted(value=_Existing(id=UUID(existing)))
    if isinstance(outcome, Refused):
        body = _Answer(rejection=outcome.rejection.value)
        return StoredResponse(
            status_code=409, media_type=json_media_type, body=msgspec.json.encode(body)
        )
    answer = _Answer(operation_id=outcome.value.id)
    return StoredResponse(
        status_code=201 if outcome.created else 200,
        media_type=json_media_type,
        body=msgspec.json.encode(answer),
    )


def document_id(campaign_id: UUID, customer_id: UUID) -> str:
    return f"campaign:{campaign_id}:{customer_id}"


def command_refusal(command: CampaignCommand, now: datetime) -> Refused | None:
    """The campaign's own fields, checked before anything is read."""
    if not command.name.strip() or len(command.name) > limits.name_length_max:
        return _invalid(f"1 to {limits.name_length_max} characters.", "name")
    if not command.reason.strip() or len(command.reason) > limits.reason_length_max:
        return _invalid(f"1 to {limits.reason_length_max} characters.", "reason")
    if command.points is None:
        if not command.templates:
            return _invalid("A campaign accrues points, sends a message, or both.", "points")
        if command.expires_at is not None or command.expiry_days is not None:
            field = "expires_at" if command.expires_at is not None else "expiry_days"
            return _invalid("An expiry is for the points a campaign accrues.", field)
        return None
    if not 0 < command.points <= limits.points_per_operation_max:
        return _invalid(f"From 1 to {limits.points_per_operation_max}.", "points")
    if command.expires_at is not None and command.expiry_days is not None:
        return _invalid("Either expires_at or expiry_days, not both.", "expiry_days")
    if command.expires_at is not None and command.expires_at <= now:
        return _invalid("The points would expire before they are accrued.", "expires_at")
    days = command.expiry_days
    if days is not None and not 0 < days <= limits.campaign_expiry_days_max:
        return _invalid(f"From 1 to {limits.campaign_expiry_days_max} days.", "expiry_days")
    return None


def _invalid(detail: str, field: str) -> Refused:
    return refuse(Rejection.validation_error, detail, field=field)


class _CreateFacts(msgspec.Struct, frozen=True, kw_only=True):
    program: TemplateProgram | None  # None: no such program, or not the caller's
    segment_found: bool


class _CancelFacts(msgspec.Struct, frozen=True, kw_only=True):
    now: datetime
    campaign: CampaignRecord | None


class Campaigns:
    def __init__(
        self,
        database: Database,
        runner: MutationRunner,
        ledger: Ledger,
        members_per_second: float = limits.campaign_members_per_second_default,
        batch_members: int = limits.campaign_batch_members_default,
        accruals_at_once: int = limits.campaign_accruals_at_once_default,
    ) -> None:
        self.database = database
        self.runner = runner
        self.ledger = ledger
        self.members_per_second = members_per_second
        self.batch_members = batch_members
        self.accruals_at_once = accruals_at_once
        invariant(
            members_per_second > 0 and batch_members >= 1 and accruals_at_once >= 1,
            "a campaign's throttle lets members through",
        )

    async def create(
        self, mutation: Mutation, program_id: UUID, command: CampaignCommand, render: Render
    ) -> StoredResponse:
        """A scheduled campaign over one of the program's segments, starting at
        ``starts_at`` (now when not given)."""
        actor = mutation.actor

        async def load(store: Store) -> _CreateFacts:
            program = await store.template_program(program_id, actor.program_id)
            segment = await store.get_segment(command.segment_id, program_id) if program else None
            return _CreateFacts(program=program, segment_found=segment is not None)

        def decide(facts: _CreateFacts) -> Change | Outcome:
            program = facts.program
            if program is None:
                return refuse(Rejection.not_found, "No such program.")
            refused = command_refusal(command, program.now) or templates_refusal(
                command.templates, program.program_name
            )
            if refused is not None:
                return refused
            if not facts.segment_found:
                return refuse(
                    Rejection.not_found, "No such segment in the program.", field="segment_id"
                )
            campaign = CampaignRecord(
                id=uuid4(),
                program_id=program_id,
                segment_id=command.segment_id,
                key_id=actor.key_id,
                name=command.name,
                points=command.points,
                templates=command.templates,
                expires_at=command.expires_at,
                expiry_days=command.expiry_days,
                reason=command.reason,
                starts_at=command.starts_at or program.now,
                state="scheduled",
                created_at=program.now,
            )

            async def write(store: Store, answer: Answer) -> bool:
                return await store.insert_campaign(campaign, answer)

            return Change(outcome=Accepted(value=campaign, created=True), write=write)

        return await self.runner.change(mutation, Decision(load, decide), render)

    async def get(self, actor: Actor, campaign_id: UUID) -> Outcome:
        async with self.database.reader() as store:
            found = await store.get_campaign(campaign_id, actor.program_id)
        if found is None:
            return refuse(Rejection.not_found, "No campaign with this id.")
        return Accepted(value=found)

    async def page(self, actor: Actor, program_id: UUID, limit: int, cursor: str | None) -> Outcome:
        """The program's campaigns, newest first, with their progress."""

        async def read(store: Store, after: Position, count: int) -> list[CampaignRecord] | Refused:
            if actor.program_id not in (None, program_id):
                return refuse(Rejection.not_found, "No such program.")
            return await store.list_campaigns(program_id, after, count)

        return await paged(self.database, cursor, limit, read, by_creation)

    async def cancel(self, mutation: Mutation, campaign_id: UUID, render: Render) -> StoredResponse:
        """Stops a scheduled or running campaign: members not yet accrued stay so."""
        actor = mutation.actor

        async def load(store: Store) -> _CancelFacts:
            found = await store.get_campaign(campaign_id, actor.program_id)
            return _CancelFacts(now=await store.clock_now(), campaign=found)

        def decide(facts: _CancelFacts) -> Change | Outcome:
            found = facts.campaign
            if found is None:
                return refuse(Rejection.not_found, "No campaign with this id.")
            if found.state not in ("scheduled", "running"):
                return refuse(
                    Rejection.campaign_not_cancellable,
                    f"The campaign is {found.state}: only a scheduled or running one stops.",
                )
            cancelled = msgspec.structs.replace(found, state="cancelled", finished_at=facts.now)

            async def write(store: Store, answer: Answer) -> bool:
                return await store.cancel_campaign(campaign_id, facts.now, answer)

            return Change(outcome=Accepted(value=cancelled), write=write)

        return await self.runner.change(mutation, Decision(load, decide), render)

    async def run_due(self) -> int:
        """One pass: every due campaign started (its snapshot taken) and run to its end or
        its cancellation. Returns how many campaigns it ran."""
        async with self.database.reader() as store:
            due = await store.due_campaigns(limits.campaign_due_max)
        for campaign_id in due:
            await self.run(campaign_id)
        return len(due)

    async def _start(self, campaign_id: UUID) -> CampaignRecord | None:
        """The campaign to run, its snapshot taken when it was still scheduled."""
        async with self.database.transaction() as store:
            campaign = await store.get_campaign(campaign_id, None)
            if campaign is None or campaign.state not in ("scheduled", "running"):
                return None
            if campaign.state == "scheduled":
                segment = await store.get_segment(campaign.segment_id, campaign.program_id)
                if segment is None:
                    raise AssertionError(f"campaign {campaign_id} lost its segment")
                await store.start_campaign(campaign_id, await audience_of(store, segment))
        return campaign

    async def run(self, campaign_id: UUID) -> None:
        """Accrues the campaign's pending members a batch at a time until none is left (then
        it is finished) or it is no longer running (cancelled, or finished by another). A
        batch's outcomes are recorded in one statement once its every accrual has ended."""
        campaign = await self._start(campaign_id)
        if campaign is None:
            return
        while True:
            started = time.monotonic()
            async with self.database.reader() as store:
                state, now = await store.campaign_state(campaign_id)
                members = await store.pending_members(campaign_id, self.batch_members)
            if state != "running":
                return  # cancelled (or finished by another worker)
            if not members:
                async with self.database.transaction() as store:
                    if await store.finish_campaign(campaign_id):
                        log.info("campaign_finished", campaign_id=str(campaign_id))
                return
            await self._batch(campaign, members, now)
            spare = len(members) / self.members_per_second - (time.monotonic() - started)
            if spare > 0:
                await asyncio.sleep(spare)

    async def _batch(self, campaign: CampaignRecord, members: list[UUID], now: datetime) -> None:
        """Accrues a batch of members, ``accruals_at_once`` at a time (each is an account of its
        own), and records the outcomes of those that ended in one statement."""
        if campaign.points is None:  # a message alone: its event is written with the record
            async with self.database.reader() as store:
                messaged = [
                    SettledMember(customer_id=member, state="messaged") for member in members
                ]
                await store.settle_members(campaign.id, messaged)
            return
        expires_at = campaign.expires_at
        if campaign.expiry_days is not None:
            expires_at = now + timedelta(days=campaign.expiry_days)
        at_once = asyncio.Semaphore(self.accruals_at_once)
        points = campaign.points

        async def accrued(member: UUID) -> SettledMember:
            async with at_once:
                return await self._accrue(campaign, points, member, expires_at)

        done = await asyncio.gather(*map(accrued, members), return_exceptions=True)
        settled = [result for result in done if isinstance(result, SettledMember)]
        if settled:
            async with self.database.reader() as store:
                await store.settle_members(campaign.id, settled)
        for result in done:
            if isinstance(result, BaseException):
                raise result  # the batch's every accrual ended first: none left running

    async def _accrue(
        self, campaign: CampaignRecord, points: int, customer_id: UUID, expires_at: datetime | None
    ) -> SettledMember:
        """The ledger's answer for one member, as the member's outcome to record."""
        actor = Actor(
            key_id=campaign.key_id,
            program_id=campaign.program_id,
            scopes=member_scopes,
            store_id=None,
        )
        key = document_id(campaign.id, customer_id)
        mutation = Mutation(
            actor=actor,
            idempotency_key=key,
            fingerprint=fingerprint("campaign_accrual", str(campaign.id), str(customer_id)),
        )
        command = AccrualCommand(
            points=points,
            document=Document(id=key, name=campaign.name, comment=campaign.reason),
            expires_at=expires_at,
        )
        try:
            stored = await self.ledger.accrue(mutation, customer_id, command, render_accrual)
        except (asyncio.CancelledError, DatabaseUnavailable):
            raise  # left pending: the next pass accrues it, or replays the stored answer
        except Exception as error:
            # Left pending for the next pass (it may have been written: the replay tells),
            # until it has raised ``campaign_member_attempts_max`` times: then failed.
            log.exception("campaign_accrual_failed", campaign_id=str(campaign.id))
            async with self.database.transaction() as store:
                await store.member_attempt_failed(
                    campaign.id,
                    customer_id,
                    type(error).__name__,
                    limits.campaign_member_attempts_max,
                )
            raise
        answer = msgspec.json.decode(stored.body, type=_Answer)
        if answer.operation_id is not None:
            return SettledMember(
                customer_id=customer_id, state="accrued", operation_id=answer.operation_id
            )
        return SettledMember(
            customer_id=customer_id, state="skipped", why=answer.rejection or "refused"
        )

    async def run_forever(self, idle_seconds: float) -> None:
        while True:
            try:
                ran = await self.run_due()
            except asyncio.CancelledError:
                raise
            except Exception:  # a failed pass is retried; the worker must not die
                log.exception("campaign_pass_failed")
                ran = 0
            if not ran:
                await asyncio.sleep(idle_seconds)


__all__ = ["CampaignCommand", "Campaigns", "render_accrual"]
