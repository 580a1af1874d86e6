"""Promo campaigns and their codes (decision 0032): the admin's side. A campaign says when,
where and on what its codes work, what they give and how often they may be used; its codes are
one shared code, a batch of unique generated ones (``core.promo.generated_code``: random, with
a check character) or personal ones bound to a customer. Uses are written by the purchases that
apply the codes (``use_cases``), which is what a campaign's usage counts."""

from datetime import datetime
from uuid import UUID, uuid4

import msgspec

from processing.core import limits
from processing.core.promo import Effect, Stacking, generated_code, normalized
from processing.core.rejections import Rejection
from processing.core.rules import basis_points_whole
from processing.service.mutations import Change, Decision, Mutation, MutationRunner, Render
from processing.service.paging import by_creation, paged
from processing.service.ports import Answer, Database, Store
from processing.service.records import (
    Accepted,
    Actor,
    Outcome,
    Position,
    PromoCampaignRecord,
    PromoCodeRecord,
    PromoCodesMade,
    Refused,
    StoredResponse,
    refuse,
)

channels = frozenset({"pos", "shop", "crm", "admin"})


class PromoCampaignCommand(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    effect: str
    value: int
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    channels: list[str] = msgspec.field(default_factory=list)
    stores: list[str] = msgspec.field(default_factory=list)
    min_amount_minor: int = 0
    skus: list[str] = msgspec.field(default_factory=list)
    categories: list[str] = msgspec.field(default_factory=list)
    uses_max: int | None = None
    uses_per_customer_max: int | None = None
    stacking: str = Stacking.stackable.value


class PromoCodesCommand(msgspec.Struct, frozen=True, kw_only=True):
    kind: str  # shared, batch, personal
    code: str | None = None  # a shared code's text; a personal one's (generated when none)
    count: int | None = None  # a batch's size
    customer_id: UUID | None = None  # a personal code's customer
    uses_max: int | None = None  # each code's own cap (a batch's: 1 unless told)


def _invalid(detail: str, field: str) -> Refused:
    return refuse(Rejection.validation_error, detail, field=field)


def _value_bounds(effect: Effect) -> tuple[int, int]:
    if effect is Effect.bonus_points:
        return 1, limits.promo_bonus_points_max
    if effect is Effect.earn_multiplier_bp:
        return basis_points_whole + 1, limits.promo_multiplier_bp_max
    if effect is Effect.extra_bp:
        return 1, limits.promo_multiplier_bp_max
    return 1, basis_points_whole


def campaign_refusal(command: PromoCampaignCommand, now: datetime) -> Refused | None:
    """The campaign's own fields, checked before anything is written."""
    if not command.name.strip():
        return _invalid("A name is 1 to 200 characters.", "name")
    effect = Effect(command.effect)
    low, high = _value_bounds(effect)
    if not low <= command.value <= high:
        return _invalid(f"A {effect} campaign's value is from {low} to {high}.", "value")
    starts_at = command.starts_at or now
    if command.ends_at is not None and command.ends_at <= starts_at:
        return _invalid("The campaign ends after it starts.", "ends_at")
    unknown = sorted(set(command.channels) - channels)
    if unknown:
        return _invalid(f"Channels are {sorted(channels)}; not {unknown}.", "channels")
    return None


def campaign_record(
    command: PromoCampaignCommand, program_id: UUID, actor: Actor, now: datetime
) -> PromoCampaignRecord:
    return PromoCampaignRecord(
        id=uuid4(),
        program_id=program_id,
        key_id=actor.key_id,
        name=command.name,
        starts_at=command.starts_at or now,
        ends_at=command.ends_at,
        channels=sorted(set(command.channels)),
        stores=sorted(set(command.stores)),
        min_amount_minor=command.min_amount_minor,
        skus=sorted(set(command.skus)),
        categories=sorted(set(command.categories)),
        effect=command.effect,
        value=command.value,
        uses_max=command.uses_max,
        uses_per_customer_max=command.uses_per_customer_max,
        stacking=command.stacking,
        created_at=now,
    )


class _CampaignFacts(msgspec.Struct, frozen=True, kw_only=True):
    now: datetime
    campaign: PromoCampaignRecord | None
    customer_found: bool = False
    taken: bool = False  # the code asked for is already one of the program's


def typed_code_refusal(command: PromoCodesCommand) -> Refused | None:
    """A shared or personal code's own text: letters and digits (with spaces or dashes that are
    dropped), within the stored lengths."""
    if command.code is None:
        return None
    code = normalized(command.code)
    low, high = limits.promo_code_length_min, limits.promo_code_length_max
    if not (low <= len(code) <= high and code.isascii() and code.isalnum()):
        return _invalid(f"A code is {low} to {high} Latin letters and digits.", "code")
    return None


def codes_refusal(command: PromoCodesCommand) -> Refused | None:
    if command.kind == "shared":
        if command.code is None:
            return _invalid("A shared code names its text.", "code")
        if command.count is not None or command.customer_id is not None:
            field = "count" if command.count is not None else "customer_id"
            return _invalid("A shared code is one code for everyone.", field)
    elif command.kind == "batch":
        if command.count is None:
            return _invalid("A batch says how many codes to make.", "count")
        if command.code is not None or command.customer_id is not None:
            field = "code" if command.code is not None else "customer_id"
            return _invalid("A batch's codes are generated, for anyone.", field)
    else:
        if command.customer_id is None:
            return _invalid("A personal code names its customer.", "customer_id")
        if command.count is not None:
            return _invalid("A personal code is one code.", "count")
    return typed_code_refusal(command)


def made_refusal(facts: "_CampaignFacts", command: PromoCodesCommand) -> Refused | None:
    """Codes are made for a campaign that is there, from a request whose fields fit its kind,
    for a customer of the program, within the campaign's bound, with a text not taken."""
    if facts.campaign is None:
        return refuse(Rejection.not_found, "No promo campaign with this id.")
    refused = codes_refusal(command)
    if refused is not None:
        return refused
    if command.customer_id is not None and not facts.customer_found:
        return refuse(Rejection.not_found, "No such customer in the program.", field="customer_id")
    refused = room_refusal(facts.campaign.codes, command)
    if refused is not None:
        return refused
    if facts.taken:
        return refuse(
            Rejection.promo_code_exists, "The program has this code already.", field="code"
        )
    return None


def room_refusal(made_before: int, command: PromoCodesCommand) -> Refused | None:
    """A campaign's codes stay within ``promo_codes_per_campaign_max``, so its export is one
    bounded read (checked on the count read before; two requests at once may pass it by one
    batch)."""
    bound = limits.promo_codes_per_campaign_max
    if made_before + (command.count or 1) <= bound:
        return None
    room = max(0, bound - made_before)
    field = "count" if command.count is not None else "kind"
    return _invalid(
        f"A campaign has at most {bound} codes; {made_before} made, room for {room}.", field
    )


def codes_made(
    command: PromoCodesCommand, campaign_id: UUID, now: datetime
) -> list[PromoCodeRecord]:
    """The codes a request makes: its own text, or generated ones."""
    uses_max: int | None = command.uses_max
    if command.kind == "batch":
        count = command.count or 0
        texts = list({generated_code() for _ in range(count)})
        while len(texts) < count:  # two draws alike: draw again
            texts = list(set(texts) | {generated_code()})
        uses_max = uses_max or 1
    else:
        texts = [normalized(command.code) if command.code else generated_code()]
    return [
        PromoCodeRecord(
            id=uuid4(),
            campaign_id=campaign_id,
            code=text,
            kind=command.kind,
            customer_id=command.customer_id,
            uses_max=uses_max,
            used=0,
            created_at=now,
        )
        for text in texts
    ]


class PromoCampaigns:
    def __init__(self, database: Database, runner: MutationRunner) -> None:
        self.database = database
        self.runner = runner

    async def _program_refusal(self, store: Store, actor: Actor, program_id: UUID) -> bool:
        return await store.get_program(program_id, actor.program_id) is None

    async def create(
        self,
        mutation: Mutation,
        program_id: UUID,
        command: PromoCampaignCommand,
        render: Render,
    ) -> StoredResponse:
        actor = mutation.actor

        async def load(store: Store) -> _CampaignFacts | None:
            if await self._program_refusal(store, actor, program_id):
                return None
            return _CampaignFacts(now=await store.clock_now(), campaign=None)

        def decide(facts: _CampaignFacts | None) -> Change | Outcome:
            if facts is None:
                return refuse(Rejection.not_found, "No such program.")
            refused = campaign_refusal(command, facts.now)
            if refused is not None:
                return refused
            campaign = campaign_record(command, program_id, actor, facts.now)

            async def write(store: Store, answer: Answer) -> bool:
                return await store.insert_promo_campaign(campaign, answer)

            return Change(outcome=Accepted(value=campaign, created=True), write=write)

        return await self.runner.change(mutation, Decision(load, decide), render)

    async def end(
        self, mutation: Mutation, program_id: UUID, campaign_id: UUID, render: Render
    ) -> StoredResponse:
        """Ends a running campaign now: its codes are refused as ``expired`` from then on. One
        that has ended already (early or at its ``ends_at``) is refused (409
        ``promo_campaign_ended``)."""
        actor = mutation.actor

        async def load(store: Store) -> _CampaignFacts | None:
            if await self._program_refusal(store, actor, program_id):
                return None
            campaign = await store.get_promo_campaign(campaign_id, program_id)
            return _CampaignFacts(now=await store.clock_now(), campaign=campaign)

        def decide(facts: _CampaignFacts | None) -> Change | Outcome:
            if facts is None:
                return refuse(Rejection.not_found, "No such program.")
            found, now = facts.campaign, facts.now
            if found is None:
                return refuse(Rejection.not_found, "No promo campaign with this id.")
            over = found.ended_at or (
                found.ends_at if found.ends_at and found.ends_at <= now else None
            )
            if over is not None:
                return refuse(
                    Rejection.promo_campaign_ended, f"The campaign ended at {over.isoformat()}."
                )
            ended = msgspec.structs.replace(found, ended_at=now)

            async def write(store: Store, answer: Answer) -> bool:
                return await store.end_promo_campaign(campaign_id, program_id, now, answer)

            return Change(outcome=Accepted(value=ended), write=write)

        return await self.runner.change(mutation, Decision(load, decide), render)

    async def get(self, actor: Actor, program_id: UUID, campaign_id: UUID) -> Outcome:
        """The campaign with its usage: uses, the points and discount given, customers, codes."""
        async with self.database.reader() as store:
            if await self._program_refusal(store, actor, program_id):
                return refuse(Rejection.not_found, "No such program.")
            found = await store.get_promo_campaign(campaign_id, program_id)
        if found is None:
            return refuse(Rejection.not_found, "No promo campaign with this id.")
        return Accepted(value=found)

    async def page(self, actor: Actor, program_id: UUID, limit: int, cursor: str | None) -> Outcome:
        async def read(
            store: Store, after: Position, count: int
        ) -> list[PromoCampaignRecord] | Refused:
            if await self._program_refusal(store, actor, program_id):
                return refuse(Rejection.not_found, "No such program.")
            return await store.list_promo_campaigns(program_id, after, count)

        return await paged(self.database, cursor, limit, read, by_creation)

    async def make_codes(
        self,
        mutation: Mutation,
        program_id: UUID,
        campaign_id: UUID,
        command: PromoCodesCommand,
        render: Render,
    ) -> StoredResponse:
        """Codes of the campaign: one shared code, a batch of generated ones, or one personal
        code. A code the program already has is refused (409 ``promo_code_exists``)."""
        actor = mutation.actor
        wanted = None if command.code is None else normalized(command.code)

        async def load(store: Store) -> _CampaignFacts | None:
            if await self._program_refusal(store, actor, program_id):
                return None
            campaign = await store.get_promo_campaign(campaign_id, program_id)
            customer = command.customer_id
            return _CampaignFacts(
                now=await store.clock_now(),
                campaign=campaign,
                customer_found=customer is not None
                and await store.customer_in_program(customer, program_id),
                taken=wanted is not None and await store.promo_code_taken(program_id, wanted),
            )

        def decide(facts: _CampaignFacts | None) -> Change | Outcome:
            if facts is None:
                return refuse(Rejection.not_found, "No such program.")
            refused = made_refusal(facts, command)
            if refused is not None:
                return refused
            codes = codes_made(command, campaign_id, facts.now)
            made = PromoCodesMade(campaign_id=campaign_id, created=len(codes), codes=codes)

            async def write(store: Store, answer: Answer) -> bool:
                return await store.insert_promo_codes(codes, program_id, answer)

            return Change(outcome=Accepted(value=made, created=True), write=write)

        return await self.runner.change(mutation, Decision(load, decide), render)

    async def codes(self, actor: Actor, program_id: UUID, campaign_id: UUID) -> Outcome:
        """Every code of the campaign with its state, for the CSV export."""
        async with self.database.reader() as store:
            if await self._program_refusal(store, actor, program_id):
                return refuse(Rejection.not_found, "No such program.")
            if await store.get_promo_campaign(campaign_id, program_id) is None:
                return refuse(Rejection.not_found, "No promo campaign with this id.")
            return Accepted(value=await store.promo_codes_of(campaign_id))


codes_columns = ("code", "kind", "customer_id", "uses_max", "used", "state", "created_at")


def codes_rows(codes: list[PromoCodeRecord]) -> list[list[object]]:
    return [
        [
            code.code,
            code.kind,
            code.customer_id,
            code.uses_max,
            code.used,
            code.state,
            code.created_at.isoformat(),
        ]
        for code in codes
    ]
